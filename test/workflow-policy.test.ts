// Policies on keys (spec multi-authorization §2.1–§2.5): validation on create and import (§2.4), the
// policy shown back in the attributes, and the TLV encodings — the Annex A challenge layout, the
// binary policy of modify challenges, and round trips.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { OPERATION, buildChallenge, parseChallenge, parseSignatureWithAlgorithm, signatureWithAlgorithm, timestampStruct } from '../src/workflow/challenge.ts';
import { decodeRules, encodeRules, validateRules } from '../src/workflow/policy.ts';
import { TAG, TlvError, parseContainer } from '../src/workflow/tlv.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { P256, SIGN_ONLY, certApproval, keyLabel, makeApprover, pk, policy, quorumRule, rule } from './helpers/workflow.ts';

function assertError(r: { statusCode: number; body: string; json(): { errorCode: number } }, status: number, code: number): void {
  assert.equal(r.statusCode, status, r.body);
  assert.equal(r.json().errorCode, code, r.body);
}

describe('policy validation on create and import', () => {
  let w: TestWarden;
  const [a, b] = [makeApprover('ec'), makeApprover('rsa')];
  before(async () => {
    w = await startTestWarden({ env: { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' } });
  });
  after(async () => w.close());

  const create = (pol: unknown, extra: Record<string, unknown> = {}) =>
    w.call('POST', '/v1/key', { label: keyLabel('pv'), algorithm: 'EC', curveOid: P256, attributes: SIGN_ONLY, policy: pol, ...extra });

  it('a valid policy is sealed with the key and shown in the attributes', async () => {
    const ruleUse = rule({ name: 'main', timelock: 600, timeout: 3600, groups: [{ name: 'board', quorum: 1, approvals: [pk(a), certApproval(b)] }] });
    const r = await create(policy({ ruleUse, ruleBlock: quorumRule(1, [a]) }));
    assert.equal(r.statusCode, 201, r.body);
    const pol = r.json().json.policy;
    assert.deepEqual(pol.keyStatus, { blocked: false });
    assert.equal(pol.ruleUse.tokens[0].name, 'main');
    assert.equal(pol.ruleUse.tokens[0].timelock, 600);
    assert.equal(pol.ruleUse.tokens[0].groups[0].approvals[1].type, 'certificate');
    assert.equal(pol.ruleUnblock, null);
    const again = await w.call('POST', '/v1/key/attributes', { label: r.json().json.label });
    assert.deepEqual(again.json().json.policy, pol);
  });

  it('a key created blocked (with a ruleUnblock) refuses use', async () => {
    const r = await create(policy({ ruleUnblock: quorumRule(1, [a]) }, true));
    assert.equal(r.statusCode, 201, r.body);
    const label = r.json().json.label;
    assertError(await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken'), 400, 614);
  });

  it('refusals: §2.4 rules', async () => {
    const one = (extra: Partial<{ timelock: number; timeout: number }>) => quorumRule(1, [a], extra);
    assertError(await create(policy({ ruleUse: one({ timelock: 90 }) })), 400, 600);
    assertError(await create(policy({ ruleUse: one({ timeout: 30 }) })), 400, 600);
    assertError(await create(policy({ ruleUse: one({ timeout: -60 }) })), 400, 600);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 0, approvals: [pk(a)] }] }) })), 400, 600);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 2, approvals: [pk(a)] }] }) })), 400, 600);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 2, approvals: [pk(a), pk(a, 'again')] }] }) })), 400, 600);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'fingerprint', value: a.spkiB64 }] }] }) })), 400, 501);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'public_key', value: a.spkiB64.slice(0, 20) + '\n' + a.spkiB64.slice(20) }] }] }) })), 400, 600);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'public_key', value: 'AAAA' }] }] }) })), 400, 407);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'public_key' }] }] }) })), 400, 600);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'certificate', value: a.spkiB64 }] }] }) })), 400, 409);
    const x25519 = generateKeyPairSync('x25519').publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'public_key', value: x25519 }] }] }) })), 400, 601);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'onboarded_approver_certificate' }] }] }) })), 400, 604);
    assertError(await create(policy({ ruleUse: rule({ groups: [{ quorum: 1, approvals: [{ type: 'onboarded_approver_certificate', name: 'officer1@example.com' }] }] }) })), 400, 413);
    assertError(await create(policy({}, true)), 400, 600);
    assertError(await create(policy({}), { attributes: { sign: true, extractable: true } }), 400, 606);
    assertError(await w.call('POST', '/v1/key', { label: keyLabel('aes'), algorithm: 'AES', keySize: 256, attributes: { decrypt: true }, policy: policy({}) }), 400, 606);
    assertError(await create({ ruleUse: { tokens: [{ name: 't', groups: [] }] } }), 400, 600);
  });

  it('never-fulfillable block/unblock/modify rules are accepted (TSB 2.0.1)', async () => {
    const r = await create(policy({ ruleModify: rule({ groups: [{ quorum: 3, approvals: [pk(a)] }] }) }));
    assert.equal(r.statusCode, 201, r.body);
  });

  it('import with a policy: private keys yes, public keys and extractable keys no', async () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateKey = pair.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');
    const publicKey = pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
    const pol = policy({ ruleUse: quorumRule(1, [a]) });
    const ok = await w.call('POST', '/v1/key/import/plain', { label: keyLabel('imp'), algorithm: 'EC', privateKey, attributes: SIGN_ONLY, policy: pol });
    assert.equal(ok.statusCode, 201, ok.body);
    assert.ok(ok.json().json.policy.ruleUse);
    assertError(await w.call('POST', '/v1/key/import/plain', { label: keyLabel('imp'), algorithm: 'EC', publicKey, policy: pol }), 400, 606);
    assertError(await w.call('POST', '/v1/key/import/plain', { label: keyLabel('imp'), algorithm: 'EC', privateKey, attributes: { sign: true, extractable: true }, policy: pol }), 400, 606);
    assertError(await w.call('POST', '/v1/key/export/plain', { label: ok.json().json.label }), 400, 614);
  });

  it('addressFormat needs a policy (630) and is accepted with one', async () => {
    assertError(await create(null, { addressFormat: { format: 'BTC' } }), 400, 630);
    const r = await create(policy({}), { curveOid: '1.3.132.0.10', addressFormat: { format: 'BTC' } });
    assert.equal(r.statusCode, 201, r.body);
  });
});

describe('TLV encodings (spec §2.5, Annex A)', () => {
  it('the Annex A sign challenge has the documented layout and length (228 bytes)', () => {
    const payload = Buffer.from('ApproveSignTaskPayload');
    const ts = timestampStruct({ tag: TAG.payload, value: payload }, 1592988887, 'timestamp-key');
    assert.equal(ts.toString('hex').slice(0, 8), '3c000000', 'inner length 60');
    // A 70-byte DER ECDSA signature, as in the sample (BIT STRING length 0x47).
    const sig = Buffer.concat([Buffer.from('3044', 'hex'), Buffer.alloc(68, 1)]);
    const challenge = buildChallenge({ operation: OPERATION.sign, label: 'TSB_TUTORIAL_1-RSA', timestamp: { struct: ts, signatureWithAlgorithm: signatureWithAlgorithm(sig) }, part: { tag: TAG.payload, value: payload }, parameters: null });
    assert.equal(challenge.length, 228);
    const hex = challenge.toString('hex');
    assert.equal(hex.slice(0, 8), 'e0000000');
    assert.equal(hex.slice(8, 24), '3b00040001000000');
    assert.equal(hex.slice(24, 32), '02101200');
    assert.ok(hex.includes('54104000' + '3c000000' + '57101600'));
    assert.ok(hex.includes('07010800d714f35e00000000'), 'time 2020-06-24T08:54:47Z as u64 LE');
    assert.ok(hex.includes('02100d00' + Buffer.from('timestamp-key').toString('hex') + '000000'));
    assert.ok(hex.includes('56105900' + '3057300c06082a8648ce3d0403020500034700'));
    const parsed = parseChallenge(challenge);
    assert.equal(parsed.operation, 1);
    assert.equal(parsed.label, 'TSB_TUTORIAL_1-RSA');
    assert.equal(parsed.timestamp?.time, 1592988887);
    assert.equal(parsed.timestamp?.keyName, 'timestamp-key');
    assert.deepEqual(parsed.part.value, payload);
    assert.deepEqual(parseSignatureWithAlgorithm(signatureWithAlgorithm(sig)), { algorithmOid: '1.2.840.10045.4.3.2', signature: sig });
  });

  it('the JCE minimal challenge (operation, empty label, payload) parses', () => {
    const hex = '14000000' + '3b00040001000000' + '02100000' + '57100300' + 'abcdef00';
    const c = parseChallenge(Buffer.from(hex, 'hex'));
    assert.equal(c.operation, 1);
    assert.equal(c.label, '');
    assert.equal(c.timestamp, null);
    assert.equal(c.part.value.toString('hex'), 'abcdef');
  });

  it('malformed containers are refused', () => {
    assert.throws(() => parseContainer(Buffer.from('05000000', 'hex')), TlvError);
    assert.throws(() => parseContainer(Buffer.from('08000000' + '3b000400' + '0100', 'hex')), TlvError);
    assert.throws(() => parseContainer(Buffer.from('08000000' + '57100100' + 'ab010000', 'hex')), TlvError, 'non-zero padding');
    assert.throws(() => parseChallenge(Buffer.from('08000000' + '3b00040001000000', 'hex')), TlvError);
  });

  it('binary policy: minutes, counts, SPKIs; decode(encode(x)) keeps the structure', async () => {
    const a = makeApprover('ec');
    const b = makeApprover('ed25519');
    const rules = await validateRules({
      ruleUse: { tokens: [{ name: 'T', timelock: 180, timeout: 600, groups: [{ name: 'G', quorum: 2, approvals: [pk(a) as never, certApproval(b) as never] }] }] },
      ruleBlock: null, ruleUnblock: { tokens: [] }, ruleModify: null,
    }, null);
    const bin = encodeRules(rules);
    const hex = bin.toString('hex');
    assert.ok(hex.includes('550008000300000' + '00a000000'), 'timelock 3 min, timeout 10 min');
    const d = decodeRules(bin);
    assert.equal(d.ruleBlock, null);
    assert.deepEqual(d.ruleUnblock, { tokens: [] });
    const t = d.ruleUse?.tokens[0];
    assert.equal(t?.timelock, 180);
    assert.equal(t?.timeout, 600);
    assert.equal(t?.groups[0].quorum, 2);
    assert.deepEqual(t?.groups[0].approvers.map((x) => x.publicKey), [a.spkiB64, b.spkiB64]);
  });
});
