// Exactly-once execution (issue 6 "Done when"): many approvals and scheduler passes on two "nodes" race
// over the same requests and every request is executed exactly once (counted by the keystore's use
// counter); time-locks survive a restart; dead claims are recovered without a second execution.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { SoftwareKeyStore } from '../src/keystore/software/keystore.ts';
import { Workflow } from '../src/workflow/engine.ts';
import { defaultExecutors } from '../src/workflow/executors.ts';
import { startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import {
  approvalBody, approve, createEcKey, fakeClock, keyLabel, listTasks, makeApprover, policy, quorumRule, requestStatus, signRequest,
} from './helpers/workflow.ts';

const ENV = { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' };

/** A second Warden node on the same database: its own keystore object and workflow engine. */
async function secondNode(w: TestWarden): Promise<Workflow> {
  const keystore = new SoftwareKeyStore(w.runtime.store, w.runtime.master);
  await keystore.setTimestampKey(w.config.hsm.timestampKeyName);
  const node = new Workflow({ db: w.runtime.store.db, keystore, logger: pino({ level: 'silent' }), executors: defaultExecutors() });
  return node;
}

async function useCount(w: TestWarden, label: string): Promise<number> {
  return (await w.call('POST', '/v1/key/attributes', { label })).json().json.keyUsageCount as number;
}

describe('workflow exactly once', () => {
  const open: TestWarden[] = [];
  let sharedWarden: TestWarden | null = null;
  /** One Warden for the tests that need no special start (starting one costs seconds); real clock again. */
  const shared = async () => {
    sharedWarden ??= await startTestWarden({ env: ENV });
    sharedWarden.runtime.services.workflow.useClock(Date.now);
    return sharedWarden;
  };
  after(async () => {
    for (const w of open) await w.close();
    await sharedWarden?.close();
  });

  it('race: approvals by two approvers, concurrent passes and direct executions on two nodes → each request executed once', async () => {
    const w = await shared();
    const [a, b] = [makeApprover('ec'), makeApprover('ec')];
    const label = keyLabel('race');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a, b]) }))).statusCode, 201);
    const N = 30;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(await signRequest(w, label, Buffer.from(`payload ${i}`)));
    const tasksA = await listTasks(w, a, { paging: { pageNumber: 0, pageSize: 1000 } });
    const tasksB = await listTasks(w, b, { paging: { pageNumber: 0, pageSize: 1000 } });
    assert.equal(tasksA.length, N);
    assert.equal(tasksB.length, N);
    const node2 = await secondNode(w);
    const node1 = w.runtime.services.workflow;

    const statuses: number[] = [];
    const jobs: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      for (const [who, t] of [[a, tasksA[i]], [b, tasksB[i]]] as const) {
        jobs.push(w.call('POST', '/v1/approval', approvalBody(who, t), 'approverToken').then((r) => statuses.push(r.statusCode)));
      }
      if (i % 3 === 0) jobs.push(node1.tick(), node2.tick());
      jobs.push(node2.execute(ids[(i * 7) % N]), node1.execute(ids[(i * 11) % N]));
    }
    await Promise.all(jobs);
    await Promise.all([node1.tick(), node2.tick()]);

    assert.ok(statuses.every((s) => s === 200 || s === 404), `approval answers: ${[...new Set(statuses)].join(', ')}`);
    const views = await Promise.all(ids.map((id) => requestStatus(w, id)));
    const byStatus = views.reduce<Record<string, number>>((m, v) => ({ ...m, [v.status]: (m[v.status] ?? 0) + 1 }), {});
    assert.deepEqual(byStatus, { EXECUTED: N });
    assert.ok(views.every((v) => v.result && v.result.length > 0));
    assert.equal(await useCount(w, label), N, `the keystore signed exactly ${N} times`);
  });

  it('race on time-locked requests: many scheduler passes on two nodes after the lock → each executed once', async () => {
    const w = await shared();
    const clock = fakeClock(w);
    const a = makeApprover('ec');
    const label = keyLabel('lock');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 60 }) }))).statusCode, 201);
    const N = 20;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(await signRequest(w, label, Buffer.from(`locked ${i}`)));
    for (const id of ids) await approve(w, a, id);
    assert.ok((await Promise.all(ids.map((id) => requestStatus(w, id)))).every((v) => v.status === 'APPROVED'));
    const node2 = await secondNode(w);
    node2.useClock(clock.now);
    clock.advance(60);
    const node1 = w.runtime.services.workflow;
    const passes = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? node1 : node2).tick()));
    assert.equal(passes.reduce((n, p) => n + p.executed, 0), N, 'the passes together executed each request once');
    assert.ok((await Promise.all(ids.map((id) => requestStatus(w, id)))).every((v) => v.status === 'EXECUTED'));
    assert.equal(await useCount(w, label), N);
  });

  it('a time-lock survives a restart: the new process executes the request once the lock has passed', async () => {
    const dataDir = tempDataDir();
    const a = makeApprover('ec');
    const label = keyLabel('restart');
    let w = await startTestWarden({ dataDir, env: ENV });
    const start = Date.now();
    fakeClock(w, start);
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 300, timeout: 600 }) }))).statusCode, 201);
    const id = await signRequest(w, label);
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    await w.close(false);

    w = await startTestWarden({ dataDir, env: ENV });
    open.push(w);
    const clock = fakeClock(w, start + 200_000);
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    clock.set(start + 301_000);
    assert.equal((await w.runtime.services.workflow.tick()).executed, 1);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
    assert.equal((await w.runtime.services.workflow.tick()).executed, 0);
    assert.equal(await useCount(w, label), 1);
  });

  it('the scheduler runs by itself (general.hsmRequestsTimerServiceInterval)', async () => {
    const w = await startTestWarden({ env: { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '50' } });
    open.push(w);
    const a = makeApprover('ec');
    const label = keyLabel('auto');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 60 }) }))).statusCode, 201);
    const id = await signRequest(w, label);
    await approve(w, a, id);
    // Move the stored timestamp back instead of the clock: the real scheduler then finds the request due.
    const past = new Date(Date.now() - 61_000).toISOString();
    await w.runtime.store.db.updateTable('requests').set({ execute_after: past }).where('id', '=', id).execute();
    // The keystore checks the time-lock against its own signed timestamp, so let its clock run ahead too.
    w.runtime.services.keystore.setClock(() => Date.now() + 61_000);
    const deadline = Date.now() + 5000;
    while ((await requestStatus(w, id)).status !== 'EXECUTED' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
  });

  it('a decision recorded just before a crash is not lost: the retry or the next pass decides the request', async () => {
    const w = await shared();
    const a = makeApprover('ec');
    const label = keyLabel('crash');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a]) }))).statusCode, 201);
    const db = w.runtime.store.db;
    const record = async (id: string, closeTask: boolean) => {
      const [task] = await listTasks(w, a, { requestId: id });
      const body = approvalBody(a, task);
      await db.insertInto('approvals').values({ request_id: id, approver: a.spkiB64, signature: Buffer.from(body.signature, 'base64'), digest: 'SHA-256', approved_at: new Date().toISOString() }).execute();
      if (closeTask) await db.updateTable('approval_tasks').set({ state: 'approved' }).where('id', '=', task.id).execute();
      return body;
    };
    // Crash after the approval row, before the evaluation: the approver's retry completes it.
    const retried = await signRequest(w, label);
    const body = await record(retried, false);
    assert.equal((await requestStatus(w, retried)).status, 'PENDING');
    assert.equal((await w.call('POST', '/v1/approval', body, 'approverToken')).statusCode, 200);
    assert.equal((await requestStatus(w, retried)).status, 'EXECUTED');
    // Crash with the task already closed: nobody can act any more, the scheduler pass decides.
    const stuck = await signRequest(w, label);
    await record(stuck, true);
    assert.equal((await requestStatus(w, stuck)).status, 'PENDING');
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, stuck)).status, 'EXECUTED');
    assert.equal(await useCount(w, label), 2);
  });

  it('dead claims: never reached the keystore → retried; reached it → FAILED, never executed twice', async () => {
    const w = await shared();
    const clock = fakeClock(w);
    const a = makeApprover('ec');
    const label = keyLabel('claim');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 60 }) }))).statusCode, 201);
    const retried = await signRequest(w, label);
    const lost = await signRequest(w, label);
    await approve(w, a, retried);
    await approve(w, a, lost);
    clock.advance(60);
    const db = w.runtime.store.db;
    const old = new Date(clock.now() - 3_600_000).toISOString();
    // "lost": an executor claimed it, reached the keystore (its marker is written) and died.
    assert.equal(await w.runtime.services.workflow.execute(lost), true);
    assert.equal((await requestStatus(w, lost)).status, 'EXECUTED');
    const count = await useCount(w, label);
    await db.updateTable('requests').set({ status: 'EXECUTING', claimed_at: old, result: null }).where('id', '=', lost).execute();
    // "retried": claimed, then the executor died before reaching the keystore.
    await db.updateTable('requests').set({ status: 'EXECUTING', claimed_at: old }).where('id', '=', retried).execute();
    const t = await w.runtime.services.workflow.tick();
    assert.equal(t.recovered, 2);
    assert.equal((await requestStatus(w, lost)).status, 'FAILED');
    assert.equal((await requestStatus(w, retried)).status, 'APPROVED');
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, retried)).status, 'EXECUTED');
    assert.equal(await useCount(w, label), count + 1);
  });
});
