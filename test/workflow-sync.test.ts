// Synchronous calls on keys with a policy (spec multi-authorization §3.7): signedApprovals on
// synchronousSign/Decrypt/Unwrap/Block/Unblock/Modify, checked by the keystore (binding, quorum,
// replay, time-lock); and the asynchronous decrypt and unwrap requests with their policies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { OPERATION, buildChallenge } from '../src/workflow/challenge.ts';
import { encodeRules, validateRules } from '../src/workflow/policy.ts';
import { TAG } from '../src/workflow/tlv.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import {
  approve, createEcKey, keyLabel, listTasks, makeApprover, opensslVerify, policy, quorumRule, requestStatus, signBytes, type Approver,
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

/** The vendor's minimal challenge (JCE sample): operation, label, payload — no timestamp. */
function minimalChallenge(operation: number, label: string, payload: Buffer, tag: number = TAG.payload): Buffer {
  return buildChallenge({ operation, label, timestamp: null, part: { tag, value: payload }, parameters: null });
}

function signedApproval(a: Approver, challenge: Buffer, asCertificate = false): string {
  return Buffer.from(JSON.stringify({
    approvalToBeSigned: challenge.toString('base64'),
    signature: signBytes(a, challenge).toString('base64'),
    approvalDigestAlgorithm: a.digest,
    ...(asCertificate ? { approverCertificate: a.certificate().toString('base64') } : { approverPublicKey: a.spkiB64 }),
  })).toString('base64');
}

describe('workflow: synchronous calls with signedApprovals', () => {
  const [a, b, c] = [makeApprover('ec'), makeApprover('rsa'), makeApprover('ed25519')];

  const syncSign = (label: string, payload: Buffer, signedApprovals?: string[]) =>
    w.call('POST', '/v1/synchronousSign', { signRequest: { payload: payload.toString('base64'), signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA', signedApprovals } }, 'keyOperationToken');

  it('synchronousSign: refused without approvals (401/401); 2-of-3 signedApprovals sign; a replay is refused', async () => {
    const label = keyLabel('sync');
    const created = await createEcKey(w, label, policy({ ruleUse: quorumRule(2, [a, b, c]) }));
    assert.equal(created.statusCode, 201);
    const spki = Buffer.from(created.json().json.publicKey, 'base64');
    const payload = Buffer.from('pay 100 CHF to Bob');
    assertError(await syncSign(label, payload), 401, 401);
    const challenge = minimalChallenge(OPERATION.sign, label, payload);
    assertError(await syncSign(label, payload, [signedApproval(a, challenge)]), 401, 401);
    const approvals = [signedApproval(a, challenge), signedApproval(c, challenge, true)];
    const ok = await syncSign(label, payload, approvals);
    assert.equal(ok.statusCode, 200, ok.body);
    assert.ok(opensslVerify(spki, payload, Buffer.from(ok.json().signature, 'base64')));
    assertError(await syncSign(label, payload, approvals), 401, 401);
  });

  it('synchronousSign: approvals for another payload, key or operation, or by outsiders are refused', async () => {
    const label = keyLabel('sync');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a]) }))).statusCode, 201);
    const payload = Buffer.from('data');
    assertError(await syncSign(label, payload, [signedApproval(a, minimalChallenge(OPERATION.sign, label, Buffer.from('other')))]), 401, 401);
    assertError(await syncSign(label, payload, [signedApproval(a, minimalChallenge(OPERATION.sign, 'another-key', payload))]), 401, 401);
    assertError(await syncSign(label, payload, [signedApproval(a, minimalChallenge(OPERATION.decrypt, label, payload))]), 401, 401);
    assertError(await syncSign(label, payload, [signedApproval(makeApprover('ec'), minimalChallenge(OPERATION.sign, label, payload))]), 401, 401);
    assertError(await syncSign(label, payload, ['not base64!']), 400, 600);
    // A challenge from an asynchronous task is bound to its request (parameters element): no use here.
    const asyncId = (await w.call('POST', '/v1/sign', { signRequest: { payload: payload.toString('base64'), signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken')).json().signRequestId;
    const [task] = await listTasks(w, a, { requestId: asyncId });
    assertError(await syncSign(label, payload, [signedApproval(a, Buffer.from(task.approvalToBeSigned, 'base64'))]), 401, 401);
    assert.equal((await syncSign(label, payload, [signedApproval(a, minimalChallenge(OPERATION.sign, label, payload))])).statusCode, 200);
  });

  it('a token with a time-lock cannot be met without a keystore timestamp', async () => {
    const label = keyLabel('sync');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a], { timelock: 60 }) }))).statusCode, 201);
    const payload = Buffer.from('x');
    const r = await syncSign(label, payload, [signedApproval(a, minimalChallenge(OPERATION.sign, label, payload))]);
    assertError(r, 401, 401);
    assert.match(r.json().message, /time-lock/);
  });

  it('synchronousBlock / synchronousUnblock / synchronousModify with signedApprovals', async () => {
    const label = keyLabel('sync');
    const pol = policy({ ruleBlock: quorumRule(1, [a]), ruleUnblock: quorumRule(1, [b]), ruleModify: quorumRule(1, [c]) });
    assert.equal((await createEcKey(w, label, pol)).statusCode, 201);
    const empty = Buffer.alloc(0);
    const block = (signedApprovals?: string[]) => w.call('POST', '/v1/synchronousBlock', { blockRequest: { blockKeyName: label, signedApprovals } }, 'keyOperationToken');
    assertError(await block(), 401, 401);
    assertError(await block([signedApproval(b, minimalChallenge(OPERATION.block, label, empty))]), 401, 401);
    assertError(await block([signedApproval(a, minimalChallenge(OPERATION.unblock, label, empty))]), 401, 401);
    const blocked = await block([signedApproval(a, minimalChallenge(OPERATION.block, label, empty))]);
    assert.equal(blocked.statusCode, 200, blocked.body);
    assertError(await syncSign(label, Buffer.from('x')), 400, 614);
    const unblocked = await w.call('POST', '/v1/synchronousUnblock', { unblockRequest: { unblockKeyName: label, signedApprovals: [signedApproval(b, minimalChallenge(OPERATION.unblock, label, empty))] } }, 'keyOperationToken');
    assert.equal(unblocked.statusCode, 200, unblocked.body);
    assert.equal((await syncSign(label, Buffer.from('x'))).statusCode, 200, 'ruleUse is empty: signs without approvals');

    const newRules = { ruleUse: quorumRule(1, [a]), ruleBlock: null, ruleUnblock: null, ruleModify: quorumRule(1, [c]) };
    const binary = encodeRules(await validateRules(newRules as Parameters<typeof validateRules>[0], null));
    const modify = (signedApprovals: string[], role: 'keyManagementToken' | 'keyOperationToken' = 'keyManagementToken') =>
      w.call('POST', '/v1/synchronousModify', { modifyRequest: { modifyKeyName: label, policy: newRules, signedApprovals } }, role);
    assertError(await modify([signedApproval(c, minimalChallenge(OPERATION.modify, label, binary, TAG.policy))], 'keyOperationToken'), 401, 631);
    const otherBinary = encodeRules(await validateRules({ ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null }, null));
    assertError(await modify([signedApproval(c, minimalChallenge(OPERATION.modify, label, otherBinary, TAG.policy))]), 401, 401);
    const modified = await modify([signedApproval(c, minimalChallenge(OPERATION.modify, label, binary, TAG.policy))]);
    assert.equal(modified.statusCode, 200, modified.body);
    assertError(await syncSign(label, Buffer.from('x')), 401, 401);
  });
});

describe('workflow: decrypt and unwrap', () => {
  const a = makeApprover('ec');

  async function rsaKey(label: string, attributes: Record<string, boolean>, pol: unknown): Promise<Buffer> {
    const r = await w.call('POST', '/v1/key', { label, algorithm: 'RSA', keySize: 2048, attributes, policy: pol });
    assert.equal(r.statusCode, 201, r.body);
    return Buffer.from(r.json().json.publicKey, 'base64');
  }

  it('/v1/decrypt: 201 + decryptRequestId, approved → the plaintext; synchronousDecrypt with signedApprovals', async () => {
    const label = keyLabel('rsa');
    const spki = await rsaKey(label, { decrypt: true, sign: false, unwrap: false }, policy({ ruleUse: quorumRule(1, [a]) }));
    const secret = Buffer.from('the launch code');
    const ct = publicEncrypt({ key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
    const body = { decryptRequest: { encryptedPayload: ct.toString('base64'), decryptKeyName: label, cipherAlgorithm: 'RSA_PADDING_OAEP_WITH_SHA256', metaData: null }, requestSignature: null };
    const r = await w.call('POST', '/v1/decrypt', body, 'keyOperationToken');
    assert.equal(r.statusCode, 201, r.body);
    const id = r.json().decryptRequestId;
    assert.equal((await listTasks(w, a, { list: 'Decrypt', requestId: id })).length, 1);
    await approve(w, a, id);
    const s = await requestStatus(w, id);
    assert.equal(s.status, 'EXECUTED');
    assert.deepEqual(Buffer.from(s.result as string, 'base64'), secret);

    const sync = { decryptRequest: { ...body.decryptRequest, signedApprovals: [] as string[] } };
    assertError(await w.call('POST', '/v1/synchronousDecrypt', sync, 'keyOperationToken'), 401, 401);
    sync.decryptRequest.signedApprovals = [signedApproval(a, minimalChallenge(OPERATION.decrypt, label, ct))];
    const d = await w.call('POST', '/v1/synchronousDecrypt', sync, 'keyOperationToken');
    assert.equal(d.statusCode, 200, d.body);
    assert.deepEqual(Buffer.from(d.json().payload, 'base64'), secret);
    // A sign approval cannot be spent on decryption of the same bytes.
    sync.decryptRequest.signedApprovals = [signedApproval(a, minimalChallenge(OPERATION.sign, label, ct))];
    assertError(await w.call('POST', '/v1/synchronousDecrypt', sync, 'keyOperationToken'), 401, 401);
  });

  it('/v1/unwrap with an unwrapping key under a policy: executes after approval and creates the key', async () => {
    const kek = keyLabel('rsa-kek');
    const spki = await rsaKey(kek, { decrypt: false, sign: false, unwrap: true }, policy({ ruleUse: quorumRule(1, [a]) }));
    const aes = randomBytes(32);
    const wrapped = publicEncrypt({ key: createPublicKey({ key: spki, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, aes);
    const label = keyLabel('unwrapped');
    const r = await w.call('POST', '/v1/unwrap', {
      unwrapKeyRequest: { wrappedKey: wrapped.toString('base64'), label, unwrapKeyName: kek, wrapMethod: 'RSA_WRAP_OAEP', attributes: { decrypt: true, extractable: true, sensitive: false } },
      requestSignature: null,
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 201, r.body);
    const id = r.json().unwrapRequestId;
    assert.equal((await w.call('POST', '/v1/key/attributes', { label })).statusCode, 404, 'no key before approval');
    assert.equal((await listTasks(w, a, { list: 'UnwrapKey', requestId: id })).length, 1);
    await approve(w, a, id);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
    const exported = await w.call('POST', '/v1/key/export/plain', { label });
    assert.equal(exported.statusCode, 200, exported.body);
    assert.deepEqual(Buffer.from(exported.json().secretKey, 'base64'), aes);
  });

  it('unwrap gives the new key a policy (asymmetric, non-extractable); a policy on a secret key → 606', async () => {
    const kek = keyLabel('aes-kek');
    const k = await w.call('POST', '/v1/key', { label: kek, algorithm: 'AES', keySize: 256, attributes: { decrypt: true, unwrap: true } });
    assert.equal(k.statusCode, 201, k.body);
    const ec = keyLabel('ec-src');
    assert.equal((await w.call('POST', '/v1/key', { label: ec, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true, extractable: true, sensitive: false } })).statusCode, 201);
    const wr = await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: ec, wrapKeyName: kek, wrapMethod: 'AES_WRAP_PAD_EC' } }, 'keyOperationToken');
    assert.equal(wr.statusCode, 200, wr.body);
    const pol = policy({ ruleUse: quorumRule(1, [a]) });
    const label = keyLabel('ska-unwrapped');
    const r = await w.call('POST', '/v1/unwrap', {
      unwrapKeyRequest: { wrappedKey: wr.json().wrappedKey, label, unwrapKeyName: kek, wrapMethod: 'AES_WRAP_PAD_EC', attributes: { sign: true }, policy: pol },
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 201, r.body);
    assert.equal((await requestStatus(w, r.json().unwrapRequestId)).status, 'EXECUTED', 'the AES key has no policy: at once');
    const attrs = (await w.call('POST', '/v1/key/attributes', { label })).json().json;
    assert.equal(attrs.policy.ruleUse.tokens[0].groups[0].approvals[0].value, a.spkiB64);
    assertError(await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken'), 401, 401);

    const label2 = keyLabel('ska-sync-unwrapped');
    const s = await w.call('POST', '/v1/synchronousUnwrap', {
      unwrapKeyRequest: { wrappedKey: wr.json().wrappedKey, label: label2, unwrapKeyName: kek, wrapMethod: 'AES_WRAP_PAD_EC', attributes: { sign: true }, policy: pol },
    }, 'keyOperationToken');
    assert.equal(s.statusCode, 201, s.body);
    assert.ok(s.json().json.policy.ruleUse);
    assertError(await w.call('POST', '/v1/unwrap', {
      unwrapKeyRequest: { wrappedKey: wr.json().wrappedKey, label: keyLabel('x'), unwrapKeyName: kek, wrapMethod: 'AES_WRAP_PAD_EC', attributes: { sign: true, extractable: true }, policy: pol },
    }, 'keyOperationToken'), 400, 606);
  });
});
