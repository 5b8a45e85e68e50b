// Multi-authorization workflow, the main scenarios of issue 6: 1-of-1, 2-of-3, two groups (AND), two
// tokens (OR), empty policies, time-locks and time-outs on an injected clock, rejection, cancel,
// modify through ruleModify, block → refused → unblock, every approver key type and certificates.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import {
  approvalBody, approve, certApproval, createEcKey, fakeClock, keyLabel, listTasks, makeApprover, opensslVerify, pk, policy, quorumRule,
  reject, requestStatus, rule, signRequest, type Approver,
} from './helpers/workflow.ts';

// One Warden for the whole file: starting one costs seconds (system keys are generated).
let w: TestWarden;
before(async () => {
  w = await startTestWarden({ env: { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' } });
});
after(async () => w.close());

function assertError(r: { statusCode: number; body: string; json(): { errorCode: number } }, status: number, code: number): void {
  assert.equal(r.statusCode, status, r.body);
  assert.equal(r.json().errorCode, code, r.body);
}

describe('workflow: sign requests and quorum', () => {
  const [a, b, c] = [makeApprover('ec'), makeApprover('ec'), makeApprover('ec')];

  async function keyWith(ruleUse: unknown, extra: Record<string, unknown> = {}): Promise<{ label: string; spki: Buffer }> {
    const label = keyLabel();
    const r = await createEcKey(w, label, policy({ ruleUse, ...extra }));
    assert.equal(r.statusCode, 201, r.body);
    return { label, spki: Buffer.from(r.json().json.publicKey, 'base64') };
  }

  it('1-of-1: PENDING with one task, approved → EXECUTED; the signature verifies with openssl', async () => {
    const { label, spki } = await keyWith(quorumRule(1, [a]));
    const payload = Buffer.from('ApproveSignTaskPayload');
    const id = await signRequest(w, label, payload);
    const pending = await requestStatus(w, id);
    assert.equal(pending.status, 'PENDING');
    assert.deepEqual(pending.notYetApprovedBy, [a.spkiB64]);
    assert.equal(pending.executionTime, null);
    assert.equal(pending.result, null);
    const tasks = await listTasks(w, a, { list: 'Sign', requestId: id });
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0].detailLevel, 'level1');
    assert.equal(tasks[0].approverPublicKey, a.spkiB64);
    const r = await w.call('POST', '/v1/approval', approvalBody(a, tasks[0]), 'approverToken');
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.body, '');
    const done = await requestStatus(w, id);
    assert.equal(done.status, 'EXECUTED');
    assert.deepEqual(done.approvedBy, [a.spkiB64]);
    assert.deepEqual(done.notYetApprovedBy, []);
    assert.match(done.executionTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(opensslVerify(spki, payload, Buffer.from(done.result as string, 'base64')), 'openssl verifies the ECDSA signature');
    assert.equal((await listTasks(w, a, { requestId: id })).length, 0, 'no open task after approval');
  });

  it('2-of-3: one approval leaves it PENDING, the second executes it', async () => {
    const { label } = await keyWith(quorumRule(2, [a, b, c]));
    const id = await signRequest(w, label);
    assert.equal(await approve(w, b, id), 1);
    const mid = await requestStatus(w, id);
    assert.equal(mid.status, 'PENDING');
    assert.deepEqual(mid.approvedBy, [b.spkiB64]);
    assert.deepEqual(new Set(mid.notYetApprovedBy), new Set([a.spkiB64, c.spkiB64]));
    await approve(w, c, id);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
  });

  it('two groups in one token (AND): both quorums are needed', async () => {
    const { label } = await keyWith(rule({ groups: [{ quorum: 1, approvals: [pk(a)] }, { quorum: 1, approvals: [pk(b), pk(c)] }] }));
    const id = await signRequest(w, label);
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'PENDING');
    await approve(w, c, id);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
  });

  it('two tokens (OR): either token suffices', async () => {
    const { label } = await keyWith(rule({ groups: [{ quorum: 2, approvals: [pk(a), pk(b)] }] }, { groups: [{ quorum: 1, approvals: [pk(c)] }] }));
    const id = await signRequest(w, label);
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'PENDING');
    await approve(w, c, id);
    const s = await requestStatus(w, id);
    assert.equal(s.status, 'EXECUTED');
    assert.deepEqual(new Set(s.approvedBy), new Set([a.spkiB64, c.spkiB64]));
  });

  it('an approver listed in several groups has one task and counts in each group', async () => {
    const { label } = await keyWith(rule({ groups: [{ quorum: 1, approvals: [pk(a)] }, { quorum: 1, approvals: [pk(a), pk(b)] }] }));
    const id = await signRequest(w, label);
    assert.equal((await listTasks(w, a, { requestId: id })).length, 1);
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
  });

  it('empty and always-satisfiable policies execute at once (201 + id, EXECUTED)', async () => {
    for (const ruleUse of [null, { tokens: [] }, rule({ groups: [] })]) {
      const { label } = await keyWith(ruleUse);
      const id = await signRequest(w, label);
      const s = await requestStatus(w, id);
      assert.equal(s.status, 'EXECUTED', JSON.stringify(ruleUse));
      assert.ok(s.result && s.result.length > 0);
    }
  });

  it('a key without a policy executes /v1/sign at once', async () => {
    const label = keyLabel('plain');
    assert.equal((await createEcKey(w, label, null)).statusCode, 201);
    const s = await requestStatus(w, await signRequest(w, label));
    assert.equal(s.status, 'EXECUTED');
  });

  it('rejection: a single rejection is recorded; when no token can be reached any more → REJECTED', async () => {
    const { label } = await keyWith(quorumRule(2, [a, b, c]));
    const id = await signRequest(w, label);
    assert.equal(await reject(w, a, id), 1);
    let s = await requestStatus(w, id);
    assert.equal(s.status, 'PENDING');
    assert.deepEqual(s.rejectedBy, [a.spkiB64]);
    assert.deepEqual(new Set(s.notYetApprovedBy), new Set([b.spkiB64, c.spkiB64]));
    await reject(w, b, id);
    s = await requestStatus(w, id);
    assert.equal(s.status, 'REJECTED');
    assert.deepEqual(new Set(s.rejectedBy), new Set([a.spkiB64, b.spkiB64]));
    assert.equal((await listTasks(w, c, { requestId: id })).length, 0, 'tasks of a finished request are no longer listed');
    await w.runtime.services.workflow.tasks.deleteClosed();
    assert.deepEqual(new Set((await requestStatus(w, id)).rejectedBy), new Set([a.spkiB64, b.spkiB64]), 'the task cleanup keeps rejections');
  });

  it('cancel: DELETE /v1/request/{id} → CANCELLED, tasks removed; unknown → 404/651, malformed → 400/609', async () => {
    const { label } = await keyWith(quorumRule(1, [a]));
    const id = await signRequest(w, label);
    const r = await w.call('DELETE', `/v1/request/${id}`, undefined, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    assert.equal((await requestStatus(w, id)).status, 'CANCELLED');
    assert.equal((await listTasks(w, a, { requestId: id })).length, 0);
    assertError(await w.call('DELETE', '/v1/request/00000000-0000-4000-8000-000000000000', undefined, 'keyOperationToken'), 404, 651);
    assertError(await w.call('GET', '/v1/request/00000000-0000-4000-8000-000000000000', undefined, 'keyOperationToken'), 404, 651);
    assertError(await w.call('GET', '/v1/request/not-a-uuid', undefined, 'keyOperationToken'), 400, 609);
  });

  it('deleting the key cancels its requests', async () => {
    const { label } = await keyWith(quorumRule(1, [a]));
    const id = await signRequest(w, label);
    assert.equal((await w.call('DELETE', `/v1/key/${label}`)).statusCode, 200);
    assert.equal((await requestStatus(w, id)).status, 'CANCELLED');
  });

  it('fetchResultOnce returns the result once, then null', async () => {
    const { label } = await keyWith(null);
    const id = await signRequest(w, label);
    const first = await requestStatus(w, id, '?fetchResultOnce=true');
    assert.ok(first.result);
    const second = await requestStatus(w, id, '?fetchResultOnce=true');
    assert.equal(second.status, 'EXECUTED');
    assert.equal(second.result, null);
    assert.equal((await requestStatus(w, id)).result, null);
  });

  it('/v1/filteredRequests by status (GET and POST), paging and sort', async () => {
    const { label } = await keyWith(quorumRule(1, [a]));
    const ids = [await signRequest(w, label), await signRequest(w, label), await signRequest(w, label)];
    const g = await w.call('GET', '/v1/filteredRequests?status=PENDING&pageNumber=0&pageSize=1000', undefined, 'keyOperationToken');
    assert.equal(g.statusCode, 200, g.body);
    const listed = (g.json().requests as { id: string; status: string }[]);
    for (const id of ids) assert.ok(listed.some((r) => r.id === id));
    assert.ok(listed.every((r) => r.status === 'PENDING'));
    const p = await w.call('POST', '/v1/filteredRequests', { status: 'PENDING', pageNumber: 0, pageSize: 2, sortOrder: 'CREATION_DATE_DESC' }, 'keyOperationToken');
    assert.equal(p.statusCode, 200, p.body);
    assert.equal(p.json().requests.length, 2);
    assert.equal(p.json().requests[0].id, ids[2], 'newest first');
    assertError(await w.call('GET', '/v1/filteredRequests?status=DONE', undefined, 'keyOperationToken'), 400, 501);
    assertError(await w.call('GET', '/v1/filteredRequests', undefined, 'approverToken'), 401, 631);
  });
});

describe('workflow: time-locks and time-outs (injected clock)', () => {
  const a = makeApprover('ec');
  const b = makeApprover('ec');
  after(() => w.runtime.services.workflow.useClock(Date.now));

  it('time-lock: quorum reached → APPROVED; the scheduler executes only after the lock', async () => {
    const clock = fakeClock(w);
    const label = keyLabel();
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 120, timeout: 600 }) }))).statusCode, 201);
    const id = await signRequest(w, label);
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    clock.advance(119);
    await w.runtime.services.workflow.tick();
    assert.equal((await requestStatus(w, id)).status, 'APPROVED');
    clock.advance(1);
    const t = await w.runtime.services.workflow.tick();
    assert.equal(t.executed, 1);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
  });

  it('time-locks are per token: the token without lock executes at once', async () => {
    fakeClock(w);
    const label = keyLabel();
    const ruleUse = rule({ timelock: 600, groups: [{ quorum: 1, approvals: [pk(a)] }] }, { timelock: 0, groups: [{ quorum: 1, approvals: [pk(b)] }] });
    assert.equal((await createEcKey(w, label, policy({ ruleUse }))).statusCode, 201);
    const locked = await signRequest(w, label);
    await approve(w, a, locked);
    assert.equal((await requestStatus(w, locked)).status, 'APPROVED');
    const open = await signRequest(w, label);
    await approve(w, b, open);
    assert.equal((await requestStatus(w, open)).status, 'EXECUTED');
  });

  it('time-out: no quorum before the time-out → EXPIRED; a late approval is refused', async () => {
    const clock = fakeClock(w);
    const label = keyLabel();
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(2, [a, b], { timeout: 60 }) }))).statusCode, 201);
    const id = await signRequest(w, label);
    await approve(w, a, id);
    const tasks = await listTasks(w, b, { requestId: id });
    clock.advance(61);
    const late = await w.call('POST', '/v1/approval', approvalBody(b, tasks[0]), 'approverToken');
    assertError(late, 400, 404);
    const t = await w.runtime.services.workflow.tick();
    assert.equal(t.expired, 1);
    assert.equal((await requestStatus(w, id)).status, 'EXPIRED');
    assertError(await w.call('POST', '/v1/approval', approvalBody(b, tasks[0]), 'approverToken'), 404, 652);
  });
});

describe('workflow: block, unblock and modify', () => {
  const [a, b] = [makeApprover('ec'), makeApprover('ec')];

  it('block (ruleBlock) → sign refused → unblock (ruleUnblock) → sign works', async () => {
    const label = keyLabel();
    const pol = policy({ ruleBlock: quorumRule(1, [a]), ruleUnblock: quorumRule(1, [b]) });
    assert.equal((await createEcKey(w, label, pol)).statusCode, 201);
    const block = await w.call('POST', '/v1/block', { blockRequest: { blockKeyName: label, keyPassword: null, metaData: null, metaDataSignature: null }, requestSignature: null }, 'keyOperationToken');
    assert.equal(block.statusCode, 201, block.body);
    const blockId = block.json().blockKeyRequestId;
    assert.equal((await listTasks(w, a, { list: 'BlockKey', requestId: blockId })).length, 1);
    assert.equal((await listTasks(w, a, { list: 'Sign', requestId: blockId })).length, 0, 'block tasks are not sign tasks');
    await approve(w, a, blockId);
    const done = await requestStatus(w, blockId);
    assert.equal(done.status, 'EXECUTED');
    assert.equal(done.result, '');
    const attrs = await w.call('POST', '/v1/key/attributes', { label });
    assert.equal(attrs.json().json.policy.keyStatus.blocked, true);

    const refused = await w.call('POST', '/v1/sign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken');
    assertError(refused, 400, 614);
    const sync = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken');
    assertError(sync, 400, 614);

    const unblock = await w.call('POST', '/v1/unblock', { unblockRequest: { unblockKeyName: label }, requestSignature: null }, 'keyOperationToken');
    assert.equal(unblock.statusCode, 201, unblock.body);
    const unblockId = unblock.json().unblockKeyRequestId;
    await approve(w, b, unblockId);
    assert.equal((await requestStatus(w, unblockId)).status, 'EXECUTED');
    assert.equal((await w.call('POST', '/v1/key/attributes', { label })).json().json.policy.keyStatus.blocked, false);
    assert.equal((await requestStatus(w, await signRequest(w, label))).status, 'EXECUTED');
  });

  it('modify through ruleModify replaces the four rules; the new ruleUse governs from then on', async () => {
    const label = keyLabel();
    assert.equal((await createEcKey(w, label, policy({ ruleModify: quorumRule(1, [a]) }))).statusCode, 201);
    assert.equal((await requestStatus(w, await signRequest(w, label))).status, 'EXECUTED', 'empty ruleUse: at once');
    const newRules = { ruleUse: quorumRule(1, [b]), ruleBlock: null, ruleUnblock: null, ruleModify: quorumRule(1, [a]) };
    const m = await w.call('POST', '/v1/modify', { modifyRequest: { modifyKeyName: label, policy: newRules, metaData: null }, requestSignature: null }, 'keyManagementToken');
    assert.equal(m.statusCode, 201, m.body);
    const modifyId = m.json().modifyKeyRequestId;
    const tasks = await listTasks(w, a, { list: 'ModifyKey', requestId: modifyId, detailLevel: 'level5' });
    assert.equal(tasks.length, 1);
    assert.ok(tasks[0].signedModifyKeyRequest, 'level5 shows the original modify request');
    assert.equal(tasks[0].signedSignRequest, null);
    await approve(w, a, modifyId);
    assert.equal((await requestStatus(w, modifyId)).status, 'EXECUTED');
    const pol = (await w.call('POST', '/v1/key/attributes', { label })).json().json.policy;
    assert.equal(pol.ruleUse.tokens[0].groups[0].approvals[0].value, b.spkiB64);
    assert.equal(pol.keyStatus.blocked, false);
    const id = await signRequest(w, label);
    assert.equal((await requestStatus(w, id)).status, 'PENDING');
    await approve(w, b, id);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
  });

  it('after a modify, pending requests follow the new policy: a removed approver can no longer approve (403)', async () => {
    const label = keyLabel();
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a]), ruleModify: quorumRule(1, [b]) }))).statusCode, 201);
    const id = await signRequest(w, label);
    const [task] = await listTasks(w, a, { requestId: id });
    const newRules = { ruleUse: quorumRule(1, [b]), ruleBlock: null, ruleUnblock: null, ruleModify: quorumRule(1, [b]) };
    const m = await w.call('POST', '/v1/modify', { modifyRequest: { modifyKeyName: label, policy: newRules } }, 'keyManagementToken');
    await approve(w, b, m.json().modifyKeyRequestId);
    assert.equal((await requestStatus(w, m.json().modifyKeyRequestId)).status, 'EXECUTED');
    assertError(await w.call('POST', '/v1/approval', approvalBody(a, task), 'approverToken'), 400, 403);
    assert.equal((await requestStatus(w, id)).status, 'PENDING');
  });

  it('/v1/modify needs the key-management key; block/unblock/modify on a plain key → 400/614', async () => {
    const label = keyLabel('plain');
    assert.equal((await createEcKey(w, label, null)).statusCode, 201);
    assertError(await w.call('POST', '/v1/modify', { modifyRequest: { modifyKeyName: label, policy: {} } }, 'keyOperationToken'), 401, 631);
    assertError(await w.call('POST', '/v1/modify', { modifyRequest: { modifyKeyName: label, policy: {} } }, 'keyManagementToken'), 400, 614);
    assertError(await w.call('POST', '/v1/block', { blockRequest: { blockKeyName: label } }, 'keyOperationToken'), 400, 614);
    assertError(await w.call('POST', '/v1/block', { blockRequest: { blockKeyName: 'no-such-key' } }, 'keyOperationToken'), 404, 650);
  });
});

describe('workflow: approver key types and certificate approvers', () => {

  for (const type of ['ec', 'rsa', 'ed25519', 'dsa'] as const) {
    it(`${type} approver, as public_key and as certificate`, async () => {
      const byKey: Approver = makeApprover(type);
      const byCert: Approver = makeApprover(type);
      const label = keyLabel(type);
      const ruleUse = rule({ groups: [{ quorum: 2, approvals: [pk(byKey), certApproval(byCert)] }] });
      assert.equal((await createEcKey(w, label, policy({ ruleUse }))).statusCode, 201);
      const id = await signRequest(w, label);
      assert.equal(await approve(w, byKey, id), 1);
      assert.equal(await approve(w, byCert, id, { asCertificate: true }), 1);
      const s = await requestStatus(w, id);
      assert.equal(s.status, 'EXECUTED');
      assert.deepEqual(new Set(s.approvedBy), new Set([byKey.spkiB64, byCert.spkiB64]), 'approvedBy lists the SPKI, also for certificates');
    });
  }
});
