// Approval task lists (spec multi-authorization §4.3–§4.5): detail levels 1–5, paging, the four sort
// orders and last-fetched updates, filters by id and request id; and requestSignature (§3.2) when
// general.allowedRequestCertificates is set.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import { createEcKey, fakeClock, keyLabel, listTasks, makeApprover, policy, proof, quorumRule, signRequest, type Approver } from './helpers/workflow.ts';

function assertError(r: { statusCode: number; body: string; json(): { errorCode: number } }, status: number, code: number): void {
  assert.equal(r.statusCode, status, r.body);
  assert.equal(r.json().errorCode, code, r.body);
}

describe('approval task lists', () => {
  let w: TestWarden;
  const a = makeApprover('ec');
  let label: string;
  const ids: string[] = [];

  before(async () => {
    w = await startTestWarden({ env: { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' } });
    const clock = fakeClock(w);
    label = keyLabel('list');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a]) }))).statusCode, 201);
    for (let i = 0; i < 4; i++) {
      ids.push(await signRequest(w, label, Buffer.from(`payload ${i}`), { metaData: Buffer.from(`{"n":${i}}`).toString('base64'), keyPassword: null }));
      clock.advance(1);
    }
  });
  after(async () => w.close());

  it('detail levels add fields level by level (Annex B)', async () => {
    const at = async (level: number) => (await listTasks(w, a, { requestId: ids[0], detailLevel: `level${level}` }))[0];
    const l1 = await at(1);
    assert.deepEqual(Object.keys(l1).sort(), ['approvalToBeSigned', 'approverPublicKey', 'detailLevel', 'id', 'requestId']);
    const l2 = await at(2);
    assert.equal(Buffer.from(l2.metaData as string, 'base64').toString(), '{"n":0}');
    assert.ok(!('payload' in l2));
    const l3 = await at(3);
    assert.equal(Buffer.from(l3.payload as string, 'base64').toString(), 'payload 0');
    assert.equal(l3.payloadType, 'UNSPECIFIED');
    const original = JSON.parse(Buffer.from(l3.requestBase64 as string, 'base64').toString());
    assert.equal(original.signRequest.signKeyName, label);
    assert.deepEqual(l3.signedSignRequest, original);
    assert.equal(l3.signedDecryptRequest, null);
    assert.ok(!('timestamp' in l3));
    const l4 = await at(4);
    assert.equal(l4.timestampSignatureAlgorithm, 'SHA256_WITH_ECDSA');
    assert.ok(Buffer.from(l4.approvalToBeSigned, 'base64').includes(Buffer.from(l4.timestamp as string, 'base64')), 'the timestamp is part of the challenge');
    assert.ok(!('keyAttributes' in l4));
    const l5 = await at(5);
    assert.match(l5.keyAttributes as string, /^<\?xml/);
    assert.match(l5.keyAttributes as string, /<policy>\n\s*<key_status>\n\s*<blocked>false<\/blocked>/);
    assert.ok((l5.keyAttributes as string).includes(`<approval type="public_key" name="${a.name}">${a.spkiB64}</approval>`));
    assert.ok((l5.keyAttributesSignature as string).length > 100);
  });

  it('paging and creation-date sort orders', async () => {
    const page = (pageNumber: number, sortOrder: string) => listTasks(w, a, { list: 'Sign', paging: { pageNumber, pageSize: 3, sortOrder } });
    const asc0 = await page(0, 'CREATION_DATE_ASC');
    const asc1 = await page(1, 'CREATION_DATE_ASC');
    assert.deepEqual([...asc0, ...asc1].map((t) => t.requestId), ids);
    const desc0 = await page(0, 'CREATION_DATE_DESC');
    assert.deepEqual(desc0.map((t) => t.requestId), [ids[3], ids[2], ids[1]]);
    assert.equal((await listTasks(w, a, { paging: null })).length, 4, 'paging null: all tasks');
  });

  it('every listing updates the last-fetched date (LAST_FETCHED_DATE sorts)', async () => {
    const clock = fakeClock(w, Date.now() + 60_000);
    await listTasks(w, a, { requestId: ids[2] });
    clock.advance(5);
    await listTasks(w, a, { requestId: ids[0] });
    // A listing touches what it returns, so each check reads the order left by the previous steps.
    const asc = await listTasks(w, a, { paging: { pageNumber: 0, pageSize: 10, sortOrder: 'LAST_FETCHED_DATE_ASC' } });
    assert.deepEqual(asc.slice(-2).map((t) => t.requestId), [ids[2], ids[0]]);
    clock.advance(5);
    await listTasks(w, a, { requestId: ids[3] });
    const desc = await listTasks(w, a, { paging: { pageNumber: 0, pageSize: 1, sortOrder: 'LAST_FETCHED_DATE_DESC' } });
    assert.deepEqual(desc.map((t) => t.requestId), [ids[3]]);
  });

  it('filter by task id; unknown and malformed ids', async () => {
    const [t] = await listTasks(w, a, { requestId: ids[1] });
    const r = await w.call('POST', '/v1/filteredSignApprovalTask', { ...proof(a, w.runtime.services.workflow.clock()), id: t.id }, 'approverToken');
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json().tasks.map((x: { id: string }) => x.id), [t.id]);
    const p = proof(a, w.runtime.services.workflow.clock());
    assert.deepEqual((await w.call('POST', '/v1/filteredAllApprovalTask', { ...p, id: '00000000-0000-4000-8000-000000000000' }, 'approverToken')).json().tasks, []);
    assertError(await w.call('POST', '/v1/filteredAllApprovalTask', { ...p, id: 'nope' }, 'approverToken'), 400, 609);
    assertError(await w.call('POST', '/v1/filteredAllApprovalTask', { ...p, detailLevel: 'level9' }, 'approverToken'), 400, 501);
    assertError(await w.call('POST', '/v1/approval', { id: '00000000-0000-4000-8000-000000000000', approvalToBeSigned: 'AAAA', signature: 'AAAA', approverPublicKey: a.spkiB64 }, 'approverToken'), 404, 652);
    assertError(await w.call('DELETE', '/v1/task', { ...p, id: '00000000-0000-4000-8000-000000000000' }, 'approverToken'), 404, 652);
  });
});

describe('requestSignature (general.allowedRequestCertificates)', () => {
  let w: TestWarden;
  const app = makeApprover('rsa', 'application');
  const rogue = makeApprover('rsa', 'rogue');

  before(async () => {
    const dir = tempDataDir();
    writeFileSync(path.join(dir, 'app.pem'), `-----BEGIN CERTIFICATE-----\n${app.certificate().toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`);
    w = await startTestWarden({
      dataDir: dir,
      env: { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0', WARDEN_GENERAL_ALLOWED_REQUEST_CERTIFICATES: `file:${path.join(dir, 'app.pem')}` },
    });
  });
  after(async () => w.close());

  const signed = (inner: Record<string, unknown>, key: Approver = app, text = JSON.stringify(inner)) => ({
    signature: sign('sha256', Buffer.from(text), key.privateKey).toString('base64'), digestAlgorithm: 'SHA-256', publicKey: key.spkiB64,
  });

  it('required: missing → 400/415, unlisted signer → 415, bad signature → 403, valid → 201', async () => {
    const label = keyLabel('rs');
    assert.equal((await createEcKey(w, label, policy({}))).statusCode, 201);
    const inner = { payload: 'SGVsbG8=', payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' };
    const post = (requestSignature: unknown) => w.call('POST', '/v1/sign', { signRequest: inner, requestSignature }, 'keyOperationToken');
    assertError(await post(null), 400, 415);
    assertError(await post(signed(inner, rogue)), 400, 415);
    assertError(await post(signed({ ...inner, payload: 'AAAA' })), 400, 403);
    const ok = await post(signed(inner));
    assert.equal(ok.statusCode, 201, ok.body);
    const block = await w.call('POST', '/v1/synchronousSign', { signRequest: inner, requestSignature: null }, 'keyOperationToken');
    assert.equal(block.statusCode, 200, 'synchronous key operations of other modules keep their own rules');
  });

  it("Go's escaped JSON (\\u0026 for &) verifies too", async () => {
    const label = keyLabel('r&s');
    assert.equal((await createEcKey(w, label, policy({}))).statusCode, 201);
    const inner = { payload: 'SGVsbG8=', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' };
    const goText = JSON.stringify(inner).replace(/&/g, '\\u0026');
    const r = await w.call('POST', '/v1/sign', { signRequest: inner, requestSignature: signed(inner, app, goText) }, 'keyOperationToken');
    assert.equal(r.statusCode, 201, r.body);
  });
});
