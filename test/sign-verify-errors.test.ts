// Negative paths of /v1/synchronousSign and /v1/verify: roles, missing keys, attributes, passwords,
// Base64, unknown algorithms, key/algorithm mismatches, payload limits, option misuse — status AND code.
// On the PKCS#11 keystore what the token cannot sign (Schnorr, raw PSS, ETH's v) is 400/611 instead.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { SIGNATURE_ALGORITHM_NAMES } from '../src/crypto/signatures/registry.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { refusedOnToken, type Operation } from './helpers/keystore-under-test.ts';

const P256 = '1.2.840.10045.3.1.7';
const K1 = '1.3.132.0.10';

describe('sign/verify errors', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
    const mk = async (body: Record<string, unknown>) => {
      const r = await w.call('POST', '/v1/key', body);
      assert.equal(r.statusCode, 201, r.body);
    };
    await mk({ label: 'ec', algorithm: 'EC', curveOid: P256, attributes: { sign: true } });
    await mk({ label: 'k1', algorithm: 'EC', curveOid: K1, attributes: { sign: true } });
    await mk({ label: 'rsa', algorithm: 'RSA', keySize: 2048, attributes: { sign: true } });
    await mk({ label: 'ed', algorithm: 'ED', attributes: { sign: true } });
    await mk({ label: 'nosign', algorithm: 'EC', curveOid: P256, attributes: { decrypt: true, sign: false } });
    await mk({ label: 'noverify', algorithm: 'EC', curveOid: P256, attributes: { sign: true, verify: false } });
    await mk({ label: 'pw', algorithm: 'EC', curveOid: P256, password: ['s', 'e', 'c', 'r', 'e', 't'], attributes: { sign: true } });
    await mk({ label: 'aes', algorithm: 'AES', keySize: 256, attributes: { decrypt: true, sign: true } });
    await mk({ label: 'hmac', algorithm: 'HMACSHA256', attributes: { sign: true } });
  });
  after(async () => w.close());

  const signBody = (over: Record<string, unknown> = {}) => ({
    signRequest: { payload: Buffer.from('hello').toString('base64'), payloadType: 'UNSPECIFIED', signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', signatureType: 'DER', ...over },
  });
  const sign = (over: Record<string, unknown> = {}, role: Parameters<TestWarden['call']>[3] = 'keyOperationToken') => w.call('POST', '/v1/synchronousSign', signBody(over), role);
  const verifyBody = (over: Record<string, unknown> = {}) => ({
    verifySignatureRequest: { signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', payload: Buffer.from('hello').toString('base64'), signature: Buffer.alloc(64).toString('base64'), ...over },
  });
  const verify = (over: Record<string, unknown> = {}, role: Parameters<TestWarden['call']>[3] = 'keyOperationToken') => w.call('POST', '/v1/verify', verifyBody(over), role);

  function expectError(r: { statusCode: number; body: string; json(): { errorCode: number; reason: string } }, status: number, code: number): void {
    assert.equal(r.statusCode, status, r.body);
    assert.equal(r.json().errorCode, code, r.body);
    assert.equal(typeof r.json().reason, 'string');
  }

  /** `code` on the software keystore; 611 on the token when it cannot do `op` at all. */
  function expectErrorOrRefused(r: Parameters<typeof expectError>[0], op: Operation, status: number, code: number): void {
    if (refusedOnToken(op)) expectError(r, 400, 611);
    else expectError(r, status, code);
  }
  /** 200 on the software keystore; 400/611 on the token when it cannot do `op`. */
  function expectOkOrRefused(r: Parameters<typeof expectError>[0], op: Operation): void {
    if (refusedOnToken(op)) expectError(r, 400, 611);
    else assert.equal(r.statusCode, 200, r.body);
  }

  it('the Go client request shape signs (char-array password omitted, DER, UNSPECIFIED)', async () => {
    const r = await sign();
    assert.equal(r.statusCode, 200, r.body);
    assert.ok(Buffer.from(r.json().signature, 'base64').length > 60);
    assert.deepEqual(Object.keys(r.json()), ['signature']);
  });

  it('wrong or missing API key: 401/631 and 401/416', async () => {
    expectError(await sign({}, 'keyManagementToken'), 401, 631);
    expectError(await sign({}, 'serviceToken'), 401, 631);
    expectError(await verify({}, 'approverToken'), 401, 631);
    expectError(await sign({}, null), 401, 416);
  });

  it('missing key: 404/650', async () => {
    expectError(await sign({ signKeyName: 'nope' }), 404, 650);
    expectError(await verify({ signKeyName: 'nope' }), 404, 650);
  });

  it('key without the sign / verify attribute: 400/614', async () => {
    expectError(await sign({ signKeyName: 'nosign' }), 400, 614);
    expectError(await verify({ signKeyName: 'noverify' }), 400, 614);
  });

  it('key password: missing or wrong 400/620, right 200 (char array or string)', async () => {
    expectError(await sign({ signKeyName: 'pw' }), 400, 620);
    expectError(await sign({ signKeyName: 'pw', keyPassword: ['n', 'o'] }), 400, 620);
    assert.equal((await sign({ signKeyName: 'pw', keyPassword: ['s', 'e', 'c', 'r', 'e', 't'] })).statusCode, 200);
    const r = await sign({ signKeyName: 'pw', keyPassword: 'secret' });
    assert.equal(r.statusCode, 200);
    expectError(await verify({ signKeyName: 'pw' }), 400, 620);
    const ok = await verify({ signKeyName: 'pw', masterKeyPassword: ['s', 'e', 'c', 'r', 'e', 't'], signature: r.json().signature });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().signatureValid, true);
  });

  it('bad Base64: 400/600', async () => {
    for (const payload of ['abc', '####', 'SGVsbG8', 'SGVs bG8=', 'SGVsbG8=\n']) {
      expectError(await sign({ payload }), 400, 600);
      expectError(await verify({ payload }), 400, 600);
    }
    expectError(await verify({ signature: 'not base64!' }), 400, 600);
  });

  it('unknown or not-implemented signature algorithm / signatureType / payloadType: 400/501', async () => {
    // Catalogue names this build has no module for (PQC/BLS/ISS arrive as registry modules) and plain garbage.
    const catalogue = ['ISS_KERL', 'BLS', 'KYBER', 'DILITHIUM', 'SPHINCS_PLUS', 'ML_DSA', 'ML_DSA_M', 'SLH_DSA', 'LMS', 'XMSS-SHA256_10_256'];
    const unknown = [...catalogue.filter((n) => !SIGNATURE_ALGORITHM_NAMES.includes(n)), 'SHA256withECDSA', 'sha256_with_ecdsa', 'SHA256_WITH_ECDSA ', 'FOO', ''];
    for (const signatureAlgorithm of unknown) {
      expectError(await sign({ signatureAlgorithm }), 400, 501);
      expectError(await verify({ signatureAlgorithm }), 400, 501);
    }
    expectError(await sign({ signatureType: 'PEM' }), 400, 501);
    expectError(await sign({ payloadType: 'XML' }), 400, 501);
  });

  it('accepts empty/null payloadType and signatureType (Vault passes "" through)', async () => {
    assert.equal((await sign({ payloadType: '', signatureType: '' })).statusCode, 200);
    assert.equal((await sign({ payloadType: null, signatureType: null })).statusCode, 200);
    const r = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: 'AA==', signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', unknownField: 1 }, requestSignature: null }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
  });

  it('key of another family: 400/607; a secret key: 400/613', async () => {
    expectError(await sign({ signatureAlgorithm: 'SHA256_WITH_RSA' }), 400, 607);
    expectError(await sign({ signatureAlgorithm: 'EDDSA' }), 400, 607);
    expectError(await sign({ signKeyName: 'rsa' }), 400, 607);
    expectError(await sign({ signKeyName: 'ed' }), 400, 607);
    expectError(await sign({ signKeyName: 'rsa', signatureAlgorithm: 'SHA256_WITH_DSA' }), 400, 607);
    expectError(await sign({ signatureAlgorithm: 'NONE_WITH_EC_SCHNORR_BIP0340', payload: randomBytes(32).toString('base64') }), 400, 607);
    expectError(await sign({ signKeyName: 'aes' }), 400, 613);
    expectError(await sign({ signKeyName: 'hmac' }), 400, 613);
    expectError(await verify({ signatureAlgorithm: 'SHA256_WITH_RSA' }), 400, 607);
    expectError(await verify({ signKeyName: 'aes' }), 400, 613);
  });

  it('ETH: only KECCAK256_WITH_ECDSA (600) on secp256k1 (607)', async () => {
    // The token refuses ETH signatures outright (it cannot give v), before looking at the curve.
    expectErrorOrRefused(await sign({ signatureAlgorithm: 'KECCAK256_WITH_ECDSA', signatureType: 'ETH' }), { signatureType: 'ETH' }, 400, 607);
    expectError(await sign({ signKeyName: 'k1', signatureType: 'ETH' }), 400, 600);
    expectError(await sign({ signKeyName: 'rsa', signatureAlgorithm: 'SHA256_WITH_RSA', signatureType: 'ETH' }), 400, 600);
    expectError(await sign({ signKeyName: 'ed', signatureAlgorithm: 'EDDSA', signatureType: 'ETH' }), 400, 600);
    expectOkOrRefused(await sign({ signKeyName: 'k1', signatureAlgorithm: 'KECCAK256_WITH_ECDSA', signatureType: 'ETH' }), { signatureType: 'ETH' });
  });

  it('payload limits: 400/612', async () => {
    const b64 = (n: number) => randomBytes(n).toString('base64');
    expectError(await sign({ payload: b64(64 * 1024 + 1) }), 400, 612);
    assert.equal((await sign({ payload: b64(64 * 1024) })).statusCode, 200);
    expectError(await sign({ signKeyName: 'rsa', signatureAlgorithm: 'NONESHA256_WITH_RSA', payload: b64(31) }), 400, 612);
    expectError(await sign({ signKeyName: 'rsa', signatureAlgorithm: 'NONESHA256_WITH_RSA', payload: b64(33) }), 400, 612);
    expectError(await sign({ signKeyName: 'rsa', signatureAlgorithm: 'NONESHA512_WITH_RSA_PSS', payload: b64(32) }), 400, 612);
    expectErrorOrRefused(await sign({ signKeyName: 'rsa', signatureAlgorithm: 'NONE_WITH_RSA_PSS', payload: b64(33) }), { signature: 'NONE_WITH_RSA_PSS' }, 400, 612);
    expectError(await sign({ signKeyName: 'rsa', signatureAlgorithm: 'NONE_WITH_RSA', payload: b64(256 - 10) }), 400, 612);
    assert.equal((await sign({ signKeyName: 'rsa', signatureAlgorithm: 'NONE_WITH_RSA', payload: b64(256 - 11) })).statusCode, 200);
    expectError(await sign({ signatureAlgorithm: 'NONE_WITH_ECDSA', payload: b64(33) }), 400, 612);
    expectError(await sign({ signatureAlgorithm: 'NONE_WITH_ECDSA', payload: '' }), 400, 612);
    expectErrorOrRefused(await sign({ signKeyName: 'k1', signatureAlgorithm: 'NONE_WITH_EC_SCHNORR_BIP0340', payload: b64(31) }), { signature: 'NONE_WITH_EC_SCHNORR_BIP0340' }, 400, 612);
    expectError(await verify({ signatureAlgorithm: 'NONE_WITH_ECDSA', payload: b64(10) }), 400, 612);
    expectError(await sign({ signKeyName: 'ed', signatureAlgorithm: 'EDDSA', payload: b64(64 * 1024 + 1) }), 400, 612);
  });

  it('empty payload is signed when the server hashes it', async () => {
    const r = await sign({ payload: '' });
    assert.equal(r.statusCode, 200, r.body);
    const v = await verify({ payload: '', signature: r.json().signature });
    assert.equal(v.json().signatureValid, true);
  });

  it('Schnorr-only and PQC-only options elsewhere: 400/600; bad Schnorr option sizes: 400/600', async () => {
    const b32 = randomBytes(32).toString('base64');
    expectError(await sign({ auxiliaryRandomData: b32 }), 400, 600);
    expectError(await sign({ taprootTweakData: b32 }), 400, 600);
    expectError(await sign({ merkleRootData: b32 }), 400, 600);
    expectError(await sign({ context: 'AQID' }), 400, 600);
    assert.equal((await sign({ context: '', auxiliaryRandomData: null })).statusCode, 200);
    const schnorr = { signKeyName: 'k1', signatureAlgorithm: 'NONE_WITH_EC_SCHNORR_BIP0340', payload: b32 };
    const op = { signature: schnorr.signatureAlgorithm };
    expectErrorOrRefused(await sign({ ...schnorr, auxiliaryRandomData: 'AAAA' }), op, 400, 600);
    expectErrorOrRefused(await sign({ ...schnorr, taprootTweakData: 'AAAA' }), op, 400, 600);
    expectErrorOrRefused(await sign({ ...schnorr, merkleRootData: 'AAAA' }), op, 400, 600);
    expectErrorOrRefused(await sign({ ...schnorr, taprootTweakData: Buffer.alloc(32, 0xff).toString('base64') }), op, 400, 600);
    expectOkOrRefused(await sign(schnorr), op);
  });

  it('signKeyObject (external key store) is refused: 400/611', async () => {
    expectError(await sign({ signKeyObject: 'AAAA' }), 400, 611);
    expectError(await verify({ signKeyObject: 'AAAA' }), 400, 611);
  });

  it('malformed bodies: missing wrapper or fields 400/600, invalid JSON 400/621', async () => {
    expectError(await w.call('POST', '/v1/synchronousSign', {}, 'keyOperationToken'), 400, 600);
    expectError(await w.call('POST', '/v1/synchronousSign', { signRequest: { signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken'), 400, 600);
    expectError(await w.call('POST', '/v1/synchronousSign', '{"signRequest":', 'keyOperationToken'), 400, 621);
    expectError(await w.call('POST', '/v1/verify', {}, 'keyOperationToken'), 400, 600);
    expectError(await w.call('POST', '/v1/verify', { ...verifyBody(), verifyHmacRequest: { keyName: 'hmac', payload: 'AA==', signature: 'AA==' } }, 'keyOperationToken'), 400, 600);
    expectError(await w.call('POST', '/v1/verify', { verifySignatureRequest: { signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', payload: 'AA==' } }, 'keyOperationToken'), 400, 600);
  });

  it('signing counts as a key use and is audited', async () => {
    const before = await w.call('POST', '/v1/key/attributes', { label: 'ed' });
    await sign({ signKeyName: 'ed', signatureAlgorithm: 'EDDSA' });
    const afterCall = await w.call('POST', '/v1/key/attributes', { label: 'ed' });
    const count = (r: typeof before) => r.json().json.keyUsageCount as number | undefined;
    if (count(before) !== undefined) assert.equal(count(afterCall), (count(before) as number) + 1);
    const log = await w.call('GET', '/v1/hsm/log?limit=10000', undefined, 'serviceToken');
    assert.equal(log.statusCode, 200, log.body);
    assert.ok(log.body.includes('synchronousSign'), 'the audit trail names the sign operation');
  });

  it('a digest signed with NONE_WITH_ECDSA verifies with SHA256_WITH_ECDSA over the message', async () => {
    const msg = randomBytes(40);
    const r = await sign({ signatureAlgorithm: 'NONE_WITH_ECDSA', payload: createHash('sha256').update(msg).digest().toString('base64') });
    assert.equal(r.statusCode, 200, r.body);
    const v = await verify({ payload: msg.toString('base64'), signature: r.json().signature });
    assert.equal(v.json().signatureValid, true);
  });
});
