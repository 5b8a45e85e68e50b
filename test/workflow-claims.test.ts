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

  it('an executor whose claim was taken over does not record its outcome over the new claim', async () => {
    const { id } = await dueRequest('taken-over');
    const db = w.runtime.store.db;
    const wf = w.runtime.services.workflow;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    let paused = false;
    wf.decorateExecutor('sign', (inner) => ({
      ...inner,
      async execute(ctx) {
        if (!paused && ctx.requestId === id) {
          paused = true;
          entered();
          await gate;
        }
        return inner.execute(ctx);
      },
    }));
    const running = wf.execute(id);
    await inside;
    // Meanwhile its claim was declared dead and another executor claimed the request.
    const other = new Date(Date.now() + 1).toISOString();
    await db.updateTable('requests').set({ claimed_at: other }).where('id', '=', id).execute();
    release();
    assert.equal(await running, true);
    const row = await db.selectFrom('requests').select(['status', 'claimed_at', 'result']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'EXECUTING', 'the outcome belongs to the claim that now holds the request');
    assert.equal(row.claimed_at, other);
    assert.equal(row.result, null);
    // The keystore was reached once (its marker): that claim's owner would find it and fail, never sign again.
    const challenge = (await db.selectFrom('requests').select('challenge').where('id', '=', id).executeTakeFirstOrThrow()).challenge;
    const marker = createHash('sha256').update('warden/workflow/execution\0').update(Buffer.from(challenge)).digest('hex');
    assert.ok(await db.selectFrom('consumed_challenges').select('hash').where('hash', '=', marker).executeTakeFirst());
  });
});
