// Multi-authorization refusals and tampering (issue 6 "Done when"): approvals by non-approvers, over
// another challenge, replayed onto another request; stale and future proofs; timestamp signers that try
// to approve; a request row set to APPROVED or an edited policy in the database → no signature (the
// keystore refuses); re-running an executed request; time-locks re-checked by the keystore.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import {
  approvalBody, approve, createEcKey, fakeClock, keyLabel, listTasks, makeApprover, policy, proof, quorumRule, requestStatus, signBytes, signRequest,
} from './helpers/workflow.ts';

function assertError(r: { statusCode: number; body: string; json(): { errorCode: number } }, status: number, code: number): void {
  assert.equal(r.statusCode, status, r.body);
  assert.equal(r.json().errorCode, code, r.body);
}

describe('workflow security', () => {
  let w: TestWarden;
  const [a, b, outsider] = [makeApprover('ec'), makeApprover('ec'), makeApprover('ec')];
  const signer = makeApprover('ec', 'notification-service');

  before(async () => {
    const dir = (await import('./helpers/runtime.ts')).tempDataDir();
    const pem = `-----BEGIN CERTIFICATE-----\n${signer.certificate().toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`;
    writeFileSync(path.join(dir, 'ts-signer.pem'), pem);
    w = await startTestWarden({
      dataDir: dir,
      env: {
        WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0',
        WARDEN_GENERAL_ALLOWED_TIMESTAMP_SIGNING_CERTIFICATES: `file:${path.join(dir, 'ts-signer.pem')}`,
      },
    });
  });
  after(async () => w.close());

  const db = () => w.runtime.store.db;
  const useCount = async (label: string) => (await w.call('POST', '/v1/key/attributes', { label })).json().json.keyUsageCount as number;

  async function pendingRequest(approvers = [a]): Promise<{ label: string; id: string }> {
    const label = keyLabel();
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, approvers) }))).statusCode, 201);
    return { label, id: await signRequest(w, label) };
  }

  it('an approval signed by a non-approver is refused (403), the request stays PENDING', async () => {
    const { id } = await pendingRequest();
    const [task] = await listTasks(w, a, { requestId: id });
    assertError(await w.call('POST', '/v1/approval', approvalBody(outsider, task), 'approverToken'), 400, 403);
    // The outsider's signature presented with the approver's key: the signature does not verify.
    const forged = { ...approvalBody(a, task), signature: signBytes(outsider, Buffer.from(task.approvalToBeSigned, 'base64')).toString('base64') };
    assertError(await w.call('POST', '/v1/approval', forged, 'approverToken'), 400, 403);
    assert.equal((await requestStatus(w, id)).status, 'PENDING');
    assert.deepEqual(await listTasks(w, outsider), [], 'an outsider sees no tasks');
  });

  it('the right approver over another challenge is refused (403)', async () => {
    const one = await pendingRequest();
    const two = await pendingRequest();
    const [t1] = await listTasks(w, a, { requestId: one.id });
    const [t2] = await listTasks(w, a, { requestId: two.id });
    assertError(await w.call('POST', '/v1/approval', approvalBody(a, t1, { challenge: t2.approvalToBeSigned }), 'approverToken'), 400, 403);
    // A signature over the other challenge, presented with this task's challenge.
    const swapped = { ...approvalBody(a, t1), signature: signBytes(a, Buffer.from(t2.approvalToBeSigned, 'base64')).toString('base64') };
    assertError(await w.call('POST', '/v1/approval', swapped, 'approverToken'), 400, 403);
    assert.equal((await requestStatus(w, one.id)).status, 'PENDING');
  });

  it('a replayed approval for another request is refused, also when copied into the database', async () => {
    const { label, id } = await pendingRequest();
    const other = await signRequest(w, label);
    const [task] = await listTasks(w, a, { requestId: id });
    const [otherTask] = await listTasks(w, a, { requestId: other });
    const body = approvalBody(a, task);
    assert.equal((await w.call('POST', '/v1/approval', body, 'approverToken')).statusCode, 200);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
    assertError(await w.call('POST', '/v1/approval', { ...body, id: otherTask.id }, 'approverToken'), 400, 403);
    assertError(await w.call('POST', '/v1/approval', body, 'approverToken'), 404, 652);
    // Copy the recorded approval row onto the other request and force it to APPROVED.
    const before = await useCount(label);
    const row = await db().selectFrom('approvals').selectAll().where('request_id', '=', id).executeTakeFirstOrThrow();
    await db().insertInto('approvals').values({ ...row, request_id: other }).execute();
    await db().updateTable('requests').set({ status: 'APPROVED', execute_after: new Date(0).toISOString() }).where('id', '=', other).execute();
    await w.runtime.services.workflow.tick();
    const s = await requestStatus(w, other);
    assert.equal(s.status, 'FAILED');
    assert.equal(s.result, null);
    assert.equal(await useCount(label), before, 'the keystore produced no signature');
  });

  it('stale and future timestamp proofs are refused (400/404); a bad proof signature 400/403', async () => {
    const now = w.runtime.services.workflow.clock();
    const list = (p: object) => w.call('POST', '/v1/filteredAllApprovalTask', { ...p, detailLevel: 'level1' }, 'approverToken');
    assertError(await list(proof(a, now - 601_000)), 400, 404);
    assertError(await list(proof(a, now + 5_000)), 400, 404);
    assert.equal((await list(proof(a, now - 590_000))).statusCode, 200);
    const bad = { ...proof(a, now), timestampSignature: signBytes(b, Buffer.from(new Date(now).toISOString())).toString('base64') };
    assertError(await list(bad), 400, 403);
    assertError(await w.call('DELETE', '/v1/task', { ...proof(a, now - 601_000), id: '00000000-0000-4000-8000-000000000000' }, 'approverToken'), 400, 404);
    assertError(await w.call('POST', '/v1/filteredAllApprovalTask', proof(a, now), 'keyOperationToken'), 401, 631);
  });

  it('a whitelisted timestamp signer lists and rejects tasks of any approver but cannot approve', async () => {
    const { id } = await pendingRequest([a, b]);
    const now = w.runtime.services.workflow.clock();
    const ts = new Date(now).toISOString();
    const signerProof = {
      timestamp: ts, timestampSignature: signBytes(signer, Buffer.from(ts)).toString('base64'), timestampDigestAlgorithm: 'SHA-256',
      timestampSigningCertificate: signer.certificate().toString('base64'),
    };
    const all = await w.call('POST', '/v1/filteredAllApprovalTask', { ...signerProof, requestId: id }, 'approverToken');
    assert.equal(all.statusCode, 200, all.body);
    assert.equal(all.json().tasks.length, 2, 'tasks of every approver');
    const onlyA = await w.call('POST', '/v1/filteredAllApprovalTask', { ...signerProof, requestId: id, approverPublicKey: a.spkiB64 }, 'approverToken');
    assert.equal(onlyA.json().tasks.length, 1);
    const task = onlyA.json().tasks[0];
    assertError(await w.call('POST', '/v1/approval', { ...approvalBody(signer, task), timestampSigningCertificate: signer.certificate().toString('base64') }, 'approverToken'), 400, 405);
    assertError(await w.call('POST', '/v1/approval', approvalBody(signer, task, { asCertificate: true }), 'approverToken'), 400, 403);
    // An unlisted signer certificate: 405.
    const other = makeApprover('ec', 'rogue');
    assertError(await w.call('POST', '/v1/filteredAllApprovalTask', {
      timestamp: ts, timestampSignature: signBytes(other, Buffer.from(ts)).toString('base64'), timestampDigestAlgorithm: 'SHA-256', timestampSigningCertificate: other.certificate().toString('base64'),
    }, 'approverToken'), 400, 405);
    const del = await w.call('DELETE', '/v1/task', { ...signerProof, id: task.id }, 'approverToken');
    assert.equal(del.statusCode, 200, del.body);
    const s = await requestStatus(w, id);
    assert.deepEqual(s.rejectedBy, [a.spkiB64]);
  });

  it('tampering: a request row set to APPROVED in the database produces no signature', async () => {
    const { label, id } = await pendingRequest();
    const before = await useCount(label);
    await db().updateTable('requests').set({ status: 'APPROVED', execute_after: new Date(0).toISOString() }).where('id', '=', id).execute();
    const t = await w.runtime.services.workflow.tick();
    assert.equal(t.executed, 1);
    const s = await requestStatus(w, id);
    assert.equal(s.status, 'FAILED');
    assert.equal(s.result, null);
    assert.equal(await useCount(label), before, 'no signature was made');
    const row = await db().selectFrom('requests').select('error').where('id', '=', id).executeTakeFirstOrThrow();
    assert.match(row.error ?? '', /^401 res\.error\.missing\.approval/);
  });

  it('tampering: a forged approval row (bad signature) does not help', async () => {
    const { label, id } = await pendingRequest();
    await db().insertInto('approvals').values({ request_id: id, approver: a.spkiB64, signature: Buffer.alloc(64, 1), digest: 'SHA-256', approved_at: new Date().toISOString() }).execute();
    await db().updateTable('requests').set({ status: 'APPROVED', execute_after: new Date(0).toISOString() }).where('id', '=', id).execute();
    const before = await useCount(label);
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, id)).status, 'FAILED');
    assert.equal(await useCount(label), before);
  });

  it('tampering: an edited policy in the database makes the key refuse (701), and no signature is made', async () => {
    const { label, id } = await pendingRequest();
    const second = await signRequest(w, label);
    const before = (await db().selectFrom('keys').select('use_count').where('label', '=', label).executeTakeFirstOrThrow()).use_count;
    const empty = JSON.stringify(policy({}));
    await db().updateTable('keys').set({ policy: empty }).where('label', '=', label).execute();
    // Level-5 listings still answer; the tampered key shows no attributes.
    const [shown] = await listTasks(w, a, { requestId: second, detailLevel: 'level5' });
    assert.equal(shown.keyAttributes, null);
    // The engine now reads an empty rule and approves, but the keystore's seal no longer opens.
    await w.runtime.services.workflow.reevaluate(id);
    const s = await requestStatus(w, id);
    assert.equal(s.status, 'FAILED');
    const err = (await db().selectFrom('requests').select('error').where('id', '=', id).executeTakeFirstOrThrow()).error;
    assert.match(err ?? '', /^701 /);
    assertError(await w.call('POST', '/v1/sign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken'), 500, 701);
    assertError(await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken'), 500, 701);
    const afterCount = (await db().selectFrom('keys').select('use_count').where('label', '=', label).executeTakeFirstOrThrow()).use_count;
    assert.equal(Number(afterCount), Number(before));
  });

  it('an executed request set back to APPROVED is not executed again', async () => {
    const { label, id } = await pendingRequest();
    await approve(w, a, id);
    const first = await requestStatus(w, id);
    assert.equal(first.status, 'EXECUTED');
    const count = await useCount(label);
    await db().updateTable('requests').set({ status: 'APPROVED', result: null }).where('id', '=', id).execute();
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, id)).status, 'FAILED');
    assert.equal(await useCount(label), count, 'exactly one signature');
    // Even with the workflow's own execution marker deleted, the keystore refuses the consumed challenge.
    const { challenge } = await db().selectFrom('requests').select('challenge').where('id', '=', id).executeTakeFirstOrThrow();
    const marker = createHash('sha256').update('warden/workflow/execution\0').update(Buffer.from(challenge)).digest('hex');
    assert.equal(Number((await db().deleteFrom('consumed_challenges').where('hash', '=', marker).executeTakeFirst()).numDeletedRows), 1);
    await db().updateTable('requests').set({ status: 'APPROVED', result: null }).where('id', '=', id).execute();
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, id)).status, 'FAILED');
    const err = (await db().selectFrom('requests').select('error').where('id', '=', id).executeTakeFirstOrThrow()).error;
    assert.match(err ?? '', /already used/);
    assert.equal(await useCount(label), count, 'still exactly one signature');
  });

  it('the keystore re-checks the time-lock: an APPROVED row with execute_after moved forward still gets no signature', async () => {
    fakeClock(w);
    const label = keyLabel();
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 3600 }) }))).statusCode, 201);
    const id = await signRequest(w, label);
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    await db().updateTable('requests').set({ execute_after: new Date(0).toISOString() }).where('id', '=', id).execute();
    const before = await useCount(label);
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, id)).status, 'FAILED');
    const err = (await db().selectFrom('requests').select('error').where('id', '=', id).executeTakeFirstOrThrow()).error;
    assert.match(err ?? '', /time-lock/);
    assert.equal(await useCount(label), before);
  });
});
