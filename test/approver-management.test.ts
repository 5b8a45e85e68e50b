// Approver management (spec multi-authorization §5, docs/approvers.md): every /v1/approverManagement call
// and /v1/approver/onboard — one-time codes (wrong, expired, reused, locked), duplicate names, the
// PKCS#12 checked with `openssl pkcs12`, restores (password known, forgotten — with and without approvals
// on the backup key), deleting an approver that policies name, and onboarded approvers in policies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createDecipheriv, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { LightMyRequestResponse } from 'fastify';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import {
  approve, createEcKey, fakeClock, listTasks, makeApprover, opensslVerify, policy, pk, proof, requestStatus, rule, signRequest, type Approver,
} from './helpers/workflow.ts';

const TRANSPORT = '0123456789abcdef0123456789abcdef';
const BACKUP_KEY = 'approver-mgmt-backup-key-rsa-wrapping';

function assertError(r: LightMyRequestResponse, status: number, code: number): void {
  assert.equal(r.statusCode, status, r.body);
  assert.equal(r.json().errorCode, code, r.body);
}

let n = 0;
const uniqueName = (p = 'officer') => `${p}${++n}-${process.pid}@example.com`;

async function createApprover(w: TestWarden, name: string, opts: { algorithm?: string; keySize?: number; backupPassword?: unknown; method?: 'PUT' | 'POST' } = {}): Promise<string> {
  const r = await w.call(opts.method ?? 'PUT', '/v1/approverManagement/create', {
    approverName: name, algorithm: opts.algorithm ?? 'EC', ...(opts.keySize ? { keySize: opts.keySize } : {}), backupPassword: opts.backupPassword ?? [...'backup-pw'], validity: 30,
  }, 'approverKeyManagementToken');
  assert.equal(r.statusCode, 200, r.body);
  const code = r.json().oneTimeCode as string;
  assert.match(code, /^\d{6}$/);
  return code;
}

function onboardCall(w: TestWarden, name: string, code: string, transport = TRANSPORT) {
  return w.call('POST', '/v1/approver/onboard', { approverName: name, oneTimeCode: [...code], transportPassword: [...transport] }, 'approverToken');
}

/** AES-GCM transport of spec §5: key = the UTF-8 bytes of the transport password, tag appended. */
function openTransport(body: { encryptedPayload: string; initializationVector: string }, transport = TRANSPORT): Buffer {
  const key = Buffer.from(transport, 'utf8');
  const data = Buffer.from(body.encryptedPayload, 'base64');
  const d = createDecipheriv(key.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm', key, Buffer.from(body.initializationVector, 'base64'));
  d.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
}

interface Opened {
  info: string;
  privateKey: KeyObject;
  certificate: Buffer;
}

/** `openssl pkcs12` opens the PKCS#12 with the backup password: its structure, the key and the certificate. */
function opensslPkcs12(p12: Buffer, password: string): Opened | null {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-p12-'));
  writeFileSync(path.join(dir, 'a.p12'), p12);
  const info = spawnSync('openssl', ['pkcs12', '-info', '-in', 'a.p12', '-passin', `pass:${password}`, '-nodes'], { cwd: dir, encoding: 'utf8' });
  if (info.status !== 0) return null;
  const text = info.stdout + info.stderr;
  const keyPem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(text)?.[0];
  const certPem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text)?.[0];
  assert.ok(keyPem && certPem, text);
  return { info: text, privateKey: createPrivateKey(keyPem), certificate: Buffer.from(new X509Certificate(certPem).raw) };
}

/** An Approver of the workflow helpers backed by the key from an onboarded PKCS#12. */
function approverFrom(name: string, o: Opened): Approver {
  const spki = createPublicKey(o.privateKey).export({ type: 'spki', format: 'der' });
  return { name, type: o.privateKey.asymmetricKeyType === 'rsa' ? 'rsa' : 'ec', privateKey: o.privateKey, spki, spkiB64: spki.toString('base64'), certificate: () => o.certificate, digest: 'SHA-256' };
}

async function onboard(w: TestWarden, name: string, code: string, password = 'backup-pw'): Promise<Opened> {
  const r = await onboardCall(w, name, code);
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json() as { encryptedPayload: string; initializationVector: string };
  assert.equal(Buffer.from(body.initializationVector, 'base64').length, 12);
  const opened = opensslPkcs12(openTransport(body), password);
  assert.ok(opened, 'openssl pkcs12 opens the onboarded container with the backup password');
  return opened;
}

async function status(w: TestWarden) {
  const r = await w.call('GET', '/v1/approverManagement/onboarding/status', undefined, 'approverKeyManagementToken');
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { onboarded: { approverName: string; approverCertificate: string }[]; pending: { approverName: string; approverCertificate: string }[] };
}

const onboardedPolicy = (...names: string[]) =>
  policy({ ruleUse: rule({ timeout: 3600, groups: [{ quorum: 1, approvals: names.map((name) => ({ type: 'onboarded_approver_certificate', name })) }] }) });

describe('approver management', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => {
    await w.close();
  });

  it('the backup key exists from the first start: RSA, unwrap only, an empty policy, not destroyable', async () => {
    const r = await w.call('POST', '/v1/key/attributes', { label: BACKUP_KEY });
    assert.equal(r.statusCode, 200, r.body);
    const k = r.json().json;
    assert.equal(k.algorithm, 'RSA');
    assert.equal(k.attributes.unwrap, true);
    assert.equal(k.attributes.decrypt, false);
    assert.equal(k.attributes.destroyable, false);
    assert.equal(k.attributes.extractable, false);
    assert.deepEqual(k.policy, { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null, keyStatus: { blocked: false } });
    assertError(await w.call('DELETE', `/v1/key/${BACKUP_KEY}`), 400, 614);
  });

  it('create (PUT and POST): a six-digit code; the RSA PKCS#12 opens with openssl (PBES2, PBKDF2-SHA256, AES-256-CBC, friendly name)', async () => {
    const name = uniqueName();
    const code = await createApprover(w, name, { algorithm: 'RSA', keySize: 2048, backupPassword: 'backup-pw', method: 'POST' });
    const s = await status(w);
    const pending = s.pending.find((e) => e.approverName === name);
    assert.ok(pending, 'a new approver is pending');
    assert.ok(!s.onboarded.some((e) => e.approverName === name));
    const cert = new X509Certificate(pending.approverCertificate);
    assert.equal(cert.subject, `CN=${name}`);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
    const opened = await onboard(w, name, code);
    assert.match(opened.info, /MAC: sha256, Iteration 10000/);
    assert.match(opened.info, /Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256/);
    assert.match(opened.info, /PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256/);
    assert.match(opened.info, new RegExp(`friendlyName: ${name.replace(/[.]/g, '\\.')}`));
    assert.ok(opened.certificate.equals(Buffer.from(cert.raw)), 'the PKCS#12 holds the certificate of the status call');
    assert.ok(createPublicKey(opened.privateKey).export({ type: 'spki', format: 'der' }).equals(cert.publicKey.export({ type: 'spki', format: 'der' })));
    assertError(await onboardCall(w, name, code), 400, 412);
  });

  it('duplicate names are 632; missing name or backup password 633; bad key size 603; wrong roles 631', async () => {
    const name = uniqueName();
    await createApprover(w, name);
    assertError(await w.call('PUT', '/v1/approverManagement/create', { approverName: name, backupPassword: 'x' }, 'approverKeyManagementToken'), 400, 632);
    assertError(await w.call('PUT', '/v1/approverManagement/create', { backupPassword: 'x' }, 'approverKeyManagementToken'), 400, 633);
    assertError(await w.call('PUT', '/v1/approverManagement/create', { approverName: '  ', backupPassword: 'x' }, 'approverKeyManagementToken'), 400, 633);
    assertError(await w.call('PUT', '/v1/approverManagement/create', { approverName: uniqueName() }, 'approverKeyManagementToken'), 400, 633);
    assertError(await w.call('PUT', '/v1/approverManagement/create', { approverName: uniqueName(), backupPassword: 'x', keySize: 1024 }, 'approverKeyManagementToken'), 400, 603);
    assertError(await w.call('PUT', '/v1/approverManagement/create', { approverName: uniqueName(), backupPassword: 'x', algorithm: 'DSA' }, 'approverKeyManagementToken'), 400, 501);
    assertError(await w.call('PUT', '/v1/approverManagement/create', { approverName: uniqueName(), backupPassword: 'x' }, 'keyManagementToken'), 401, 631);
    assertError(await w.call('GET', '/v1/approverManagement/onboarding/status', undefined, 'approverToken'), 401, 631);
    assertError(await w.call('POST', '/v1/approver/onboard', { approverName: name, oneTimeCode: '000000', transportPassword: TRANSPORT }, 'approverKeyManagementToken'), 401, 631);
    assertError(await w.call('POST', '/v1/approver/onboard', { approverName: name }, null), 401, 416);
  });

  it('one-time codes: wrong codes count, a used code is refused, 5 wrong attempts lock it, renewOneTimeCode replaces it', async () => {
    const name = uniqueName();
    const code = await createApprover(w, name);
    const wrong = code === '000000' ? '000001' : '000000';
    assertError(await onboardCall(w, uniqueName(), code), 400, 413);
    assertError(await onboardCall(w, name, code, 'too-short'), 400, 600);
    const r1 = await onboardCall(w, name, wrong);
    assertError(r1, 400, 412);
    assert.match(r1.json().message, /4 attempts left/);
    await onboard(w, name, code);
    assertError(await onboardCall(w, name, code), 400, 412);
    assert.ok((await status(w)).onboarded.some((e) => e.approverName === name));

    const name2 = uniqueName();
    const code2 = await createApprover(w, name2);
    const wrong2 = code2 === '999999' ? '999998' : '999999';
    for (let i = 0; i < 5; i++) assertError(await onboardCall(w, name2, wrong2), 400, 412);
    const locked = await onboardCall(w, name2, code2);
    assertError(locked, 400, 412);
    assert.match(locked.json().message, /locked/);
    const renewed = await w.call('POST', '/v1/approverManagement/renewOneTimeCode', { approverName: name2 }, 'approverKeyManagementToken');
    assert.equal(renewed.statusCode, 200, renewed.body);
    const code3 = renewed.json().oneTimeCode as string;
    if (code3 !== code2) assertError(await onboardCall(w, name2, code2), 400, 412);
    await onboard(w, name2, code3);
    // An onboarded approver without a restore in progress gets no new code: restoreFromBackup is the way.
    assertError(await w.call('POST', '/v1/approverManagement/renewOneTimeCode', { approverName: name2 }, 'approverKeyManagementToken'), 400, 600);
    assertError(await w.call('POST', '/v1/approverManagement/renewOneTimeCode', { approverName: uniqueName() }, 'approverKeyManagementToken'), 400, 413);
    const old = await w.call('POST', '/v1/approverManagement/renewOnetimePassword', { approverName: uniqueName() }, 'approverKeyManagementToken');
    assertError(old, 400, 413);
  });

  it('one-time codes expire (default 24 h)', async () => {
    const clock = fakeClock(w);
    try {
      const name = uniqueName();
      const code = await createApprover(w, name);
      clock.advance(24 * 3600 + 1);
      const r = await onboardCall(w, name, code);
      assertError(r, 400, 412);
      assert.match(r.json().message, /expired/);
      const code2 = (await w.call('POST', '/v1/approverManagement/renewOneTimeCode', { approverName: name }, 'approverKeyManagementToken')).json().oneTimeCode as string;
      clock.advance(23 * 3600);
      await onboard(w, name, code2);
    } finally {
      w.runtime.services.workflow.useClock(Date.now);
    }
  });

  it('restoreFromBackup with the password known: a new code releases the same key; newBackupPassword there is refused', async () => {
    const name = uniqueName();
    const first = await onboard(w, name, await createApprover(w, name));
    assertError(await w.call('POST', '/v1/approverManagement/restoreFromBackup', { approverName: name, newBackupPassword: 'x' }, 'approverKeyManagementToken'), 400, 600);
    assertError(await w.call('POST', '/v1/approverManagement/restoreFromBackup', { approverName: uniqueName() }, 'approverKeyManagementToken'), 400, 413);
    const r = await w.call('POST', '/v1/approverManagement/restoreFromBackup', { approverName: name }, 'approverKeyManagementToken');
    assert.equal(r.statusCode, 200, r.body);
    assert.ok((await status(w)).pending.some((e) => e.approverName === name), 'pending again while the restore is outstanding');
    const again = await onboard(w, name, r.json().oneTimeCode);
    assert.ok(again.certificate.equals(first.certificate));
    assert.ok((await status(w)).onboarded.some((e) => e.approverName === name));
  });

  it('forgotPassword: an unwrap request on the backup key whose result is the new code; the new PKCS#12 opens with the new password only', async () => {
    const name = uniqueName();
    const first = await onboard(w, name, await createApprover(w, name));
    assertError(await w.call('POST', '/v1/approverManagement/restoreFromBackup/forgotPassword', { approverName: name }, 'approverKeyManagementToken'), 400, 633);
    assertError(await w.call('POST', '/v1/approverManagement/restoreFromBackup/forgotPassword', { approverName: uniqueName(), newBackupPassword: 'x' }, 'approverKeyManagementToken'), 400, 413);
    const r = await w.call('POST', '/v1/approverManagement/restoreFromBackup/forgotPassword', { approverName: name, newBackupPassword: [...'new-backup-pw'] }, 'approverKeyManagementToken');
    assert.equal(r.statusCode, 201, r.body);
    const id = r.json().unwrapRequestId as string;
    const st = await requestStatus(w, id);
    assert.equal(st.status, 'EXECUTED', 'the backup key has an empty policy: the restore runs at once');
    assert.match(st.result ?? '', /^\d{6}$/);
    const res = await onboardCall(w, name, st.result ?? '');
    assert.equal(res.statusCode, 200, res.body);
    const p12 = openTransport(res.json());
    assert.equal(opensslPkcs12(p12, 'backup-pw'), null, 'the old password no longer opens it');
    const opened = opensslPkcs12(p12, 'new-backup-pw');
    assert.ok(opened);
    assert.ok(opened.certificate.equals(first.certificate), 'same key and certificate');
    // The stored backup is no RSA_WRAP_OAEP value (its OAEP label differs): /v1/synchronousUnwrap cannot
    // turn its key part into an extractable AES key.
    const row = await w.runtime.services.approvers?.repo.get(name);
    assert.ok(row);
    const rsaPart = Buffer.from(row.backup).subarray(2, 2 + Buffer.from(row.backup).readUInt16BE(0));
    assertError(await w.call('POST', '/v1/synchronousUnwrap', {
      unwrapKeyRequest: { wrappedKey: rsaPart.toString('base64'), label: `stolen-${n}`, unwrapKeyName: BACKUP_KEY, wrapMethod: 'RSA_WRAP_OAEP', attributes: { decrypt: true, extractable: true, sensitive: false } },
    }, 'keyOperationToken'), 400, 410);
  });

  it('forgotPassword under a backup-key policy: the restore waits for the approvers of that policy', async () => {
    const guard = makeApprover('ec');
    const m = await w.call('POST', '/v1/synchronousModify', { modifyRequest: { modifyKeyName: BACKUP_KEY, policy: { ruleUse: rule({ timeout: 3600, groups: [{ quorum: 1, approvals: [pk(guard)] }] }), ruleBlock: null, ruleUnblock: null, ruleModify: null } } });
    assert.equal(m.statusCode, 200, m.body);
    try {
      const name = uniqueName();
      await onboard(w, name, await createApprover(w, name));
      const r = await w.call('POST', '/v1/approverManagement/restoreFromBackup/forgotPassword', { approverName: name, newBackupPassword: 'pw-2' }, 'approverKeyManagementToken');
      assert.equal(r.statusCode, 201, r.body);
      const id = r.json().unwrapRequestId as string;
      assert.equal((await requestStatus(w, id)).status, 'PENDING');
      const tasks = await listTasks(w, guard, { list: 'UnwrapKey', requestId: id, detailLevel: 'level3' });
      assert.equal(tasks.length, 1);
      assert.deepEqual(tasks[0].signedUnwrapKeyRequest, { approverName: name, newBackupPassword: null }, 'approvers see whom the restore is for, never the password');
      assert.equal(await approve(w, guard, id), 1);
      const st = await requestStatus(w, id);
      assert.equal(st.status, 'EXECUTED');
      const res = await onboardCall(w, name, st.result ?? '');
      assert.ok(opensslPkcs12(openTransport(res.json()), 'pw-2'));
    } finally {
      const reset = await w.call('POST', '/v1/modify', { modifyRequest: { modifyKeyName: BACKUP_KEY, policy: { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null } } });
      assert.equal(reset.statusCode, 201, reset.body);
    }
  });

  it('policies name onboarded approvers: unknown 413, not onboarded 414; an onboarded approver approves a sign request verified by openssl', async () => {
    const name = uniqueName();
    const code = await createApprover(w, name, { algorithm: 'RSA' });
    assertError(await createEcKey(w, `oac-${n}`, onboardedPolicy(uniqueName())), 400, 413);
    assertError(await createEcKey(w, `oac-${n}`, onboardedPolicy(name)), 400, 414);
    assertError(await createEcKey(w, `oac-${n}`, policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'onboarded_approver_certificate', name: null }] }] }) })), 400, 604);
    const opened = await onboard(w, name, code);
    const label = `oac-key-${process.pid}`;
    const k = await createEcKey(w, label, onboardedPolicy(name));
    assert.equal(k.statusCode, 201, k.body);
    const approval = k.json().json.policy.ruleUse.tokens[0].groups[0].approvals[0];
    assert.equal(approval.type, 'onboarded_approver_certificate');
    assert.equal(approval.name, name);
    const a = approverFrom(name, opened);
    const payload = Buffer.from('pay the invoice 42');
    const id = await signRequest(w, label, payload);
    assert.equal((await requestStatus(w, id)).status, 'PENDING');
    assert.equal(await approve(w, a, id, { asCertificate: true }), 1);
    const st = await requestStatus(w, id);
    assert.equal(st.status, 'EXECUTED');
    assert.deepEqual(st.approvedBy, [a.spkiB64]);
    const pub = Buffer.from(k.json().json.publicKey as string, 'base64');
    assert.ok(opensslVerify(pub, payload, Buffer.from(st.result ?? '', 'base64')));
  });

  it('/v1/filteredRequestStatusApprovalTask: the approvers of a request see its status (never the result); others get 651', async () => {
    const a = makeApprover('ec');
    const stranger = makeApprover('ec');
    const label = `rs-key-${process.pid}`;
    assert.equal((await createEcKey(w, label, policy({ ruleUse: rule({ timeout: 3600, groups: [{ quorum: 1, approvals: [pk(a)] }] }) }))).statusCode, 201);
    const id = await signRequest(w, label);
    const ask = (who: Approver, requestId = id) => w.call('POST', '/v1/filteredRequestStatusApprovalTask', { ...proof(who, Date.now()), requestId }, 'approverToken');
    const before = await ask(a);
    assert.equal(before.statusCode, 200, before.body);
    assert.equal(before.json().status, 'PENDING');
    assert.equal(before.json().myDecision, 'open');
    assert.deepEqual(before.json().notYetApprovedBy, [a.spkiB64]);
    assertError(await ask(stranger), 404, 651);
    assertError(await ask(a, '00000000-0000-4000-8000-000000000000'), 404, 651);
    assertError(await ask(a, 'not-a-uuid'), 400, 609);
    assertError(await w.call('POST', '/v1/filteredRequestStatusApprovalTask', { ...proof(a, Date.now() - 3600_000), requestId: id }, 'approverToken'), 400, 404);
    assertError(await w.call('POST', '/v1/filteredRequestStatusApprovalTask', { ...proof(a, Date.now()), requestId: id }, 'keyOperationToken'), 401, 631);
    assert.equal(await approve(w, a, id), 1);
    const done = await ask(a);
    assert.equal(done.json().status, 'EXECUTED');
    assert.equal(done.json().myDecision, 'approved');
    assert.equal(done.json().keyName, label);
    assert.equal('result' in done.json(), false, 'the result is for the application only');
  });

  it('deleting an approver that policies name: allowed, the keys are listed, they keep working; new policies get 413', async () => {
    const name = uniqueName();
    const opened = await onboard(w, name, await createApprover(w, name));
    const label = `del-key-${process.pid}`;
    assert.equal((await createEcKey(w, label, onboardedPolicy(name))).statusCode, 201);
    const d = await w.call('DELETE', `/v1/approverManagement/delete/${encodeURIComponent(name)}`, undefined, 'approverKeyManagementToken');
    assert.equal(d.statusCode, 200, d.body);
    assert.deepEqual(d.json(), { referencedBy: [label] });
    assertError(await w.call('DELETE', `/v1/approverManagement/delete/${encodeURIComponent(name)}`, undefined, 'approverKeyManagementToken'), 400, 413);
    const s = await status(w);
    assert.ok(![...s.onboarded, ...s.pending].some((e) => e.approverName === name));
    assertError(await createEcKey(w, `${label}-2`, onboardedPolicy(name)), 400, 413);
    const id = await signRequest(w, label);
    assert.equal(await approve(w, approverFrom(name, opened), id), 1);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED', 'the sealed policy still holds the deleted approver certificate');
    // The name is free again: a new approver under it is a different key.
    const again = await onboard(w, name, await createApprover(w, name));
    assert.ok(!again.certificate.equals(opened.certificate));
  });
});
