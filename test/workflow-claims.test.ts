// Execution claims across nodes (issue 8, found while writing test/postgres-multinode.test.ts): every
// execution outcome is in the audit log (`executeRequest`, also for scheduler executions outside any API
// call), a stale claim is recovered only if it is still the same claim, and an executor whose claim was
// taken over cannot record its outcome over the new claim's. general.executionClaimTimeout is read.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { approve, createEcKey, fakeClock, keyLabel, makeApprover, policy, quorumRule, requestStatus, signRequest } from './helpers/workflow.ts';

const ENV = { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0', WARDEN_GENERAL_EXECUTION_CLAIM_TIMEOUT: '60000' };

async function executionEntries(w: TestWarden, id: string): Promise<{ outcome: string; keyLabel: string | null; details: string | null }[]> {
  const rows = await w.runtime.services.audit.query({ limit: 100000 });
  return rows.filter((r) => r.action === 'executeRequest' && r.request_id === id).map((r) => ({ outcome: r.outcome, keyLabel: r.key_label, details: r.details }));
}

describe('workflow execution claims and their audit', () => {
  let w: TestWarden;
  after(async () => w?.close());

  /** A key whose ruleUse needs one approval and a 60 s time-lock, and an APPROVED request on it, due. */
  async function dueRequest(payload = 'claims'): Promise<{ id: string; label: string; clock: ReturnType<typeof fakeClock> }> {
    w ??= await startTestWarden({ env: ENV });
    const clock = fakeClock(w);
    const a = makeApprover('ec');
    const label = keyLabel('claims');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 60 }) }))).statusCode, 201);
    const id = await signRequest(w, label, Buffer.from(payload));
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    clock.advance(61);
    return { id, label, clock };
  }

  it('reads general.executionClaimTimeout', async () => {
    w ??= await startTestWarden({ env: ENV });
    assert.equal(w.config.general.executionClaimTimeout, 60000);
  });

  it('a scheduler execution is audited once (executeRequest success); a failed one as an error; a second pass adds nothing', async () => {
    const { id, label } = await dueRequest();
    assert.deepEqual(await executionEntries(w, id), [], 'nothing before the execution');
    assert.equal((await w.runtime.services.workflow.tick()).executed, 1);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
    const entries = await executionEntries(w, id);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.outcome, 'success');
    assert.equal(entries[0]?.keyLabel, label);
    assert.deepEqual(JSON.parse(entries[0]?.details ?? 'null'), { type: 'sign' });
    await w.runtime.services.workflow.tick();
    assert.equal((await executionEntries(w, id)).length, 1);

    // Forced back to APPROVED (a tampered row): the execution marker stops it, FAILED and audited as such.
    await w.runtime.store.db.updateTable('requests').set({ status: 'APPROVED' }).where('id', '=', id).execute();
    assert.equal(await w.runtime.services.workflow.execute(id), true);
    assert.equal((await requestStatus(w, id)).status, 'FAILED');
    const after = await executionEntries(w, id);
    assert.deepEqual(after.map((e) => e.outcome), ['success', 'error 500']);
    assert.equal(JSON.parse(after[1]?.details ?? '{}').errorCode, 701);
  });

  it('a stale claim that another node recovered and claimed again meanwhile is left alone', async () => {
    const { id, clock } = await dueRequest('stale');
    const db = w.runtime.store.db;
    const wf = w.runtime.services.workflow;
    const old = new Date(clock.now() - 3_600_000).toISOString();
    await db.updateTable('requests').set({ status: 'EXECUTING', claimed_at: old }).where('id', '=', id).execute();
    // This pass read the stale row; before it acts, another node recovers it and a fresh executor claims it.
    const snapshot = await wf.requests.staleClaims(new Date(clock.now()).toISOString(), 100);
    assert.equal(snapshot.length, 1);
    const fresh = new Date(clock.now()).toISOString();
    await db.updateTable('requests').set({ claimed_at: fresh }).where('id', '=', id).execute();
    const original = wf.requests.staleClaims.bind(wf.requests);
    wf.requests.staleClaims = async () => snapshot;
    try {
      await wf.recoverStaleClaims();
    } finally {
      wf.requests.staleClaims = original;
    }
    const row = await db.selectFrom('requests').select(['status', 'claimed_at']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual(row, { status: 'EXECUTING', claimed_at: fresh }, 'the live claim was not knocked back');
    // Once that claim is stale too, the normal recovery applies (no marker: back to APPROVED, then executed).
    clock.advance(3600);
    assert.equal((await wf.tick()).recovered, 1);
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    await wf.tick();
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
    assert.equal((await executionEntries(w, id)).filter((e) => e.outcome === 'success').length, 1);
  });

  const hashOf = (challenge: Uint8Array, prefix = '') => createHash('sha256').update(prefix).update(Buffer.from(challenge)).digest('hex');
  async function consumed(id: string): Promise<{ marker: boolean; keystore: boolean; challenge: Uint8Array }> {
    const db = w.runtime.store.db;
    const { challenge } = await db.selectFrom('requests').select('challenge').where('id', '=', id).executeTakeFirstOrThrow();
    const has = async (h: string) => (await db.selectFrom('consumed_challenges').select('hash').where('hash', '=', h).executeTakeFirst()) !== undefined;
    return { marker: await has(hashOf(challenge, 'warden/workflow/execution\0')), keystore: await has(hashOf(challenge)), challenge };
  }
  const useCount = async (label: string) => (await w.call('POST', '/v1/key/attributes', { label })).json().json.keyUsageCount as number;

  /** Pauses (or, with `hang`, stops for good, like a killed process) the sign executor of request `id` once. */
  function interceptOnce(id: string, where: 'before' | 'after', hang = false) {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let done = false;
    w.runtime.services.workflow.decorateExecutor('sign', (inner) => ({
      ...inner,
      async execute(ctx) {
        if (done || ctx.requestId !== id) return inner.execute(ctx);
        done = true;
        if (where === 'before') {
          entered();
          await gate;
          return inner.execute(ctx);
        }
        const out = await inner.execute(ctx);
        entered();
        await (hang ? new Promise<never>(() => undefined) : gate);
        return out;
      },
    }));
    return { inside, release };
  }

  it('an executor whose claim was taken over does not record its outcome over the new claim, and releases nothing', async () => {
    const { id, label, clock } = await dueRequest('taken-over');
    const db = w.runtime.store.db;
    const wf = w.runtime.services.workflow;
    const uses = await useCount(label);
    const gate = interceptOnce(id, 'before');
    const running = wf.execute(id);
    await gate.inside;
    // Meanwhile its claim was declared dead and another executor claimed the request.
    const other = new Date(clock.now() + 1).toISOString();
    await db.updateTable('requests').set({ claimed_at: other }).where('id', '=', id).execute();
    gate.release();
    assert.equal(await running, true);
    const row = await db.selectFrom('requests').select(['status', 'claimed_at', 'result']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'EXECUTING', 'the outcome belongs to the claim that now holds the request');
    assert.equal(row.claimed_at, other);
    assert.equal(row.result, null);
    // Its signature was computed but never released: nothing consumed, counted or audited.
    const c = await consumed(id);
    assert.deepEqual([c.marker, c.keystore], [false, false]);
    assert.equal(await useCount(label), uses);
    assert.deepEqual(await executionEntries(w, id), []);
    // The claim that holds it is stale in its turn: recovered, executed once.
    await db.updateTable('requests').set({ claimed_at: new Date(clock.now() - 3_600_000).toISOString() }).where('id', '=', id).execute();
    assert.equal((await wf.tick()).recovered, 1);
    await wf.tick();
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
    assert.equal(await useCount(label), uses + 1);
    assert.deepEqual((await executionEntries(w, id)).map((e) => e.outcome), ['success']);
  });

  it('an executor that dies after the keystore signed, before the result is recorded: recovered and executed once (not FAILED)', async () => {
    const { id, label, clock } = await dueRequest('killed-after-sign');
    const wf = w.runtime.services.workflow;
    const uses = await useCount(label);
    const gate = interceptOnce(id, 'after', true);
    void wf.execute(id);
    await gate.inside;
    // The "dead" executor signed in memory: the challenge is not consumed, nothing is recorded.
    const c = await consumed(id);
    assert.deepEqual([c.marker, c.keystore], [false, false]);
    assert.equal((await requestStatus(w, id)).status, 'APPROVED', 'EXECUTING shows as APPROVED');
    assert.equal((await wf.tick()).recovered, 0, 'a live-looking claim is not recovered before the timeout');
    clock.advance(61);
    assert.equal((await wf.tick()).recovered, 1);
    await wf.tick();
    const v = await requestStatus(w, id);
    assert.equal(v.status, 'EXECUTED');
    assert.ok(v.result && v.result.length > 0);
    const after = await consumed(id);
    assert.deepEqual([after.marker, after.keystore], [true, true]);
    assert.equal(await useCount(label), uses + 1, 'one counted use');
    assert.deepEqual((await executionEntries(w, id)).map((e) => e.outcome), ['success']);
    // A second execution is refused by the marker and by the keystore.
    await w.runtime.store.db.updateTable('requests').set({ status: 'APPROVED' }).where('id', '=', id).execute();
    await wf.execute(id);
    assert.equal((await requestStatus(w, id)).status, 'FAILED');
    assert.equal(await useCount(label), uses + 1);
  });
});
