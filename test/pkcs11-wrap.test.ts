// /v1/wrap and /v1/synchronousUnwrap with keys on a PKCS#11 token (SoftHSM; issue 9, docs/hsm.md):
// C_WrapKey / C_UnwrapKey on the token, checked against independent implementations — RFC 3394/5649
// by node:crypto's id-aes256-wrap[-pad] under a known KEK, RSAES-PKCS1-v1_5 by node:crypto's
// privateDecrypt with a known RSA key — and the refusals: the token's own flags (614), Warden's rules
// (extractable, policy: 614), wrong key types (607/613), mechanisms the token lacks (611); the workflow
// executor's unwrap. Also TDEA, DSA and NONE_WITH_RSA_PSS on the token, EC keys on curves node has no JWK
// for, RSA v1.5 decryption refused — each checked against node:crypto.
// warden-test-db: any
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createCipheriv, createHash, createHmac, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, verify as nodeVerify } from 'node:crypto';
import { SOFTHSM_LIBRARY, provisionToken, type TestToken } from './helpers/softhsm.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { requestStatus } from './helpers/workflow.ts';
import { trimDerPadding } from '../src/crypto/wrapping/wrap.ts';
import { readChildren, readTlv } from '../src/crypto/signatures/der.ts';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { setOddParity } from '../src/crypto/families/symmetric.ts';
import type { Pkcs11KeyStore } from '../src/keystore/pkcs11/keystore.ts';
import { pkcs11 as P } from '../src/keystore/pkcs11/session-pool.ts';

const b64 = (b: Buffer) => b.toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64');
const P256 = '1.2.840.10045.3.1.7';
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const KWP_IV = Buffer.from('A65959A6', 'hex');
const EXPORTABLE = { extractable: true, sensitive: false };

function kw(kek: Buffer, data: Buffer, pad: boolean): Buffer {
  const c = createCipheriv(pad ? 'id-aes256-wrap-pad' : 'id-aes256-wrap', kek, pad ? KWP_IV : KW_IV);
  return Buffer.concat([c.update(data), c.final()]);
}
function kwOpen(kek: Buffer, data: Buffer, pad: boolean): Buffer {
  const d = createDecipheriv(pad ? 'id-aes256-wrap-pad' : 'id-aes256-wrap', kek, pad ? KWP_IV : KW_IV);
  return Buffer.concat([d.update(data), d.final()]);
}

describe('PKCS#11 keystore: wrap and unwrap on the token (SoftHSM)', { skip: SOFTHSM_LIBRARY ? false : 'SoftHSM is not installed' }, () => {
  let w: TestWarden;
  let token: TestToken;
  const kek = randomBytes(32);
  const secret = randomBytes(32);
  const rsaKek = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rsaTarget = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ecTarget = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ko = (url: string, body: unknown) => w.call('POST', url, body, 'keyOperationToken');
  const wrap = (keyToBeWrapped: string, wrapKeyName: string, wrapMethod: string) => ko('/v1/wrap', { wrapKeyRequest: { keyToBeWrapped, wrapKeyName, wrapMethod } });
  const unwrap = (wrappedKey: Buffer, label: string, unwrapKeyName: string, wrapMethod: string, extra: Record<string, unknown> = {}) =>
    ko('/v1/synchronousUnwrap', { unwrapKeyRequest: { wrappedKey: b64(wrappedKey), label, unwrapKeyName, wrapMethod, attributes: { decrypt: true, sign: true, unwrap: false, encrypt: true, ...EXPORTABLE }, policy: null, ...extra } });
  const keystore = () => w.runtime.services.keystore as unknown as Pkcs11KeyStore;
  function expectError(r: { statusCode: number; body: string }, status: number, code: number) {
    assert.equal(r.statusCode, status, r.body);
    assert.equal(JSON.parse(r.body).errorCode, code, r.body);
  }
  async function km(url: string, body: unknown) {
    const r = await w.call('POST', url, body);
    assert.equal(r.statusCode, 201, r.body);
    return r;
  }
  const wrapped = async (r: { statusCode: number; body: string; json(): { wrappedKey: string } }) => {
    assert.equal(r.statusCode, 200, r.body);
    return unb64(r.json().wrappedKey);
  };
  /** AES-256-CBC with the key's token object, checked by node:crypto with the known key. */
  async function assertAesKeyIs(label: string, key: Buffer) {
    const plain = randomBytes(40);
    const r = await ko('/v1/encrypt', { encryptRequest: { payload: b64(plain), encryptKeyName: label, cipherAlgorithm: 'AES' } });
    assert.equal(r.statusCode, 200, r.body);
    const d = createDecipheriv(`aes-${key.length * 8}-cbc`, key, unb64(r.json().initializationVector));
    assert.deepEqual(Buffer.concat([d.update(unb64(r.json().encryptedPayload)), d.final()]), plain);
  }

  before(async () => {
    token = provisionToken();
    w = await startTestWarden({ env: { ...token.env, WARDEN_KEYSTORE_PKCS11_SESSIONS: '2' } });
    // unwrap without decrypt: C_UnwrapKey needs CKA_UNWRAP only.
    await km('/v1/key/import/plain', { label: 'kek', algorithm: 'AES', secretKey: b64(kek), attributes: { decrypt: false, sign: false, unwrap: true, wrap: true } });
    await km('/v1/key/import/plain', { label: 'rsa-kek', algorithm: 'RSA', privateKey: b64(rsaKek.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: { decrypt: false, sign: false, unwrap: true, wrap: true } });
    await km('/v1/key/import/plain', { label: 'rsa-kek-public', algorithm: 'RSA', publicKey: b64(rsaKek.publicKey.export({ type: 'spki', format: 'der' })) });
    await km('/v1/key/import/plain', { label: 'aes-target', algorithm: 'AES', secretKey: b64(secret), attributes: { decrypt: true, sign: false, unwrap: false, ...EXPORTABLE } });
    const asym = { decrypt: false, sign: true, unwrap: false, ...EXPORTABLE };
    await km('/v1/key/import/plain', { label: 'rsa-target', algorithm: 'RSA', privateKey: b64(rsaTarget.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: asym });
    await km('/v1/key/import/plain', { label: 'ec-target', algorithm: 'EC', privateKey: b64(ecTarget.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: asym });
    await km('/v1/key', { label: 'ed-target', algorithm: 'ED', curveOid: '1.3.101.112', attributes: asym });
    await km('/v1/key', { label: 'locked', algorithm: 'AES', keySize: 256, attributes: { decrypt: true, sign: false, unwrap: false } });
    await km('/v1/key', { label: 'ec-policy', algorithm: 'EC', curveOid: P256, attributes: { sign: true, decrypt: false, unwrap: false }, policy: { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null } });
    await km('/v1/key', { label: 'no-wrap', algorithm: 'AES', keySize: 256, attributes: { decrypt: true, sign: false, unwrap: false, wrap: false } });
  });
  after(async () => {
    await w?.close();
    token?.wipe();
  });

  it('AES_WRAP / AES_WRAP_PAD of a token AES key (C_WrapKey) are byte for byte node:crypto id-aes256-wrap[-pad] under the known KEK', async () => {
    assert.deepEqual(await wrapped(await wrap('aes-target', 'kek', 'AES_WRAP')), kw(kek, secret, false));
    assert.deepEqual(await wrapped(await wrap('aes-target', 'kek', 'AES_WRAP_PAD')), kw(kek, secret, true));
  });

  it('AES_WRAP_RSA of a token RSA key: RFC 3394 of the PKCS#8 zero-padded to 8 bytes, the same bytes as node:crypto over the known key', async () => {
    const pkcs8 = rsaTarget.privateKey.export({ type: 'pkcs8', format: 'der' });
    const padded = Buffer.concat([pkcs8, Buffer.alloc((8 - (pkcs8.length % 8)) % 8)]);
    assert.deepEqual(await wrapped(await wrap('rsa-target', 'kek', 'AES_WRAP_RSA')), kw(kek, padded, false));
  });

  it('AES_WRAP_EC of a token EC key unwraps (node:crypto) to a PKCS#8 of the same private key', async () => {
    const plain = trimDerPadding(kwOpen(kek, await wrapped(await wrap('ec-target', 'kek', 'AES_WRAP_EC')), false));
    const key = createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
    assert.equal(key.export({ format: 'jwk' }).d, ecTarget.privateKey.export({ format: 'jwk' }).d);
    assert.deepEqual(createPublicKey(key).export({ type: 'spki', format: 'der' }), ecTarget.publicKey.export({ type: 'spki', format: 'der' }));
  });

  it('RSA_WRAP_PAD under a token RSA key and under an imported public key (C_WrapKey, CKM_RSA_PKCS): node:crypto decrypts the secret', async () => {
    for (const wrapKey of ['rsa-kek', 'rsa-kek-public']) {
      const data = await wrapped(await wrap('aes-target', wrapKey, 'RSA_WRAP_PAD'));
      assert.equal(data.length, 256);
      // RSAES-PKCS1-v1_5 by hand (node refuses PKCS#1 v1.5 private decryption): raw RSA, then 00 02 PS 00 M.
      const em = privateDecrypt({ key: rsaKek.privateKey, padding: constants.RSA_NO_PADDING }, data);
      assert.deepEqual([em[0], em[1]], [0, 2]);
      assert.deepEqual(em.subarray(em.indexOf(0, 2) + 1), secret, wrapKey);
    }
  });

  it('refused where the token has no way (611): RSA_WRAP_OAEP (SoftHSM: OAEP with SHA-1 only), AES_WRAP_PAD of a private key, EdDSA keys', async () => {
    expectError(await wrap('aes-target', 'rsa-kek', 'RSA_WRAP_OAEP'), 400, 611);
    expectError(await wrap('rsa-target', 'kek', 'AES_WRAP_PAD_RSA'), 400, 611);
    expectError(await wrap('ec-target', 'kek', 'AES_WRAP_PAD_EC'), 400, 611);
    expectError(await wrap('ed-target', 'kek', 'AES_WRAP_ED'), 400, 611);
  });

  it("Warden's rules first: not extractable → 614, a policy key → 614, no wrap attribute → 614; wrong key types → 607/613", async () => {
    expectError(await wrap('locked', 'kek', 'AES_WRAP'), 400, 614);
    expectError(await wrap('ec-policy', 'kek', 'AES_WRAP_EC'), 400, 614);
    expectError(await wrap('aes-target', 'no-wrap', 'AES_WRAP'), 400, 614);
    expectError(await wrap('aes-target', 'rsa-kek', 'AES_WRAP'), 400, 607); // RSA key for an AES method
    expectError(await wrap('rsa-target', 'kek', 'AES_WRAP'), 400, 613); // AES_WRAP carries secret keys
    expectError(await wrap('rsa-target', 'kek', 'AES_WRAP_EC'), 400, 613); // an RSA key is no EC key
  });

  it("the token's own flags: a target the token holds as non-extractable is not released (CKR_KEY_UNEXTRACTABLE → 614)", async () => {
    await km('/v1/key/import/plain', { label: 'token-locked', algorithm: 'AES', secretKey: b64(randomBytes(32)), attributes: { decrypt: true, sign: false, unwrap: false, ...EXPORTABLE } });
    // Behind Warden's back: the object on the token loses CKA_EXTRACTABLE (allowed true → false); the row still says extractable.
    await keystore().pool.run(({ m, session }) => {
      m.C_FindObjectsInit(session, [{ type: P.CKA_LABEL, value: 'token-locked' }, { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }]);
      const [h] = m.C_FindObjects(session, 1);
      m.C_FindObjectsFinal(session);
      m.C_SetAttributeValue(session, h, [{ type: P.CKA_EXTRACTABLE, value: false }]);
    });
    expectError(await wrap('token-locked', 'kek', 'AES_WRAP'), 400, 614);
  });

  it('unwraps AES_WRAP (C_UnwrapKey straight into the token object) and AES_WRAP_PAD of node:crypto-wrapped known keys; the new keys encrypt as the known keys do', async () => {
    for (const [method, size] of [['AES_WRAP', 16], ['AES_WRAP', 32], ['AES_WRAP_PAD', 24]] as const) {
      const key = randomBytes(size);
      const label = `unwrapped-${method}-${size}`;
      const r = await unwrap(kw(kek, key, method === 'AES_WRAP_PAD'), label, 'kek', method);
      assert.equal(r.statusCode, 201, r.body);
      const attrs = r.json().json;
      assert.equal(attrs.algorithm, 'AES');
      assert.equal(attrs.keySize, size * 8);
      assert.equal(attrs.attributes.alwaysSensitive, false);
      assert.equal(attrs.attributes.neverExtractable, false);
      await assertAesKeyIs(label, key);
    }
  });

  it('the workflow executor (/v1/unwrap, executed at once: the KEK has no policy) unwraps on the token too: AES_WRAP into a token object, AES_WRAP_EC via import', async () => {
    const key = randomBytes(32);
    const r = await ko('/v1/unwrap', { unwrapKeyRequest: { wrappedKey: b64(kw(kek, key, false)), label: 'wf-aes', unwrapKeyName: 'kek', wrapMethod: 'AES_WRAP', attributes: { decrypt: true, encrypt: true } } });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal((await requestStatus(w, r.json().unwrapRequestId)).status, 'EXECUTED');
    await assertAesKeyIs('wf-aes', key);
    const pkcs8 = ecTarget.privateKey.export({ type: 'pkcs8', format: 'der' });
    const ec = await ko('/v1/unwrap', { unwrapKeyRequest: { wrappedKey: b64(kw(kek, Buffer.concat([pkcs8, Buffer.alloc((8 - (pkcs8.length % 8)) % 8)]), false)), label: 'wf-ec', unwrapKeyName: 'kek', wrapMethod: 'AES_WRAP_EC', attributes: { sign: true } } });
    assert.equal(ec.statusCode, 201, ec.body);
    assert.equal((await requestStatus(w, ec.json().unwrapRequestId)).status, 'EXECUTED');
    const attrs = (await w.call('POST', '/v1/key/attributes', { label: 'wf-ec' })).json().json;
    assert.deepEqual(unb64(attrs.publicKey), ecTarget.publicKey.export({ type: 'spki', format: 'der' }));
    const bad = await ko('/v1/unwrap', { unwrapKeyRequest: { wrappedKey: b64(kw(randomBytes(32), key, false)), label: 'wf-bad', unwrapKeyName: 'kek', wrapMethod: 'AES_WRAP', attributes: { decrypt: true } } });
    assert.equal(bad.statusCode, 201, bad.body);
    assert.equal((await requestStatus(w, bad.json().unwrapRequestId)).status, 'FAILED');
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: 'wf-bad' })).statusCode, 404);
  });

  it('unwraps RSA_WRAP_PAD with a token RSA key (C_UnwrapKey, CKM_RSA_PKCS, needs CKA_UNWRAP only); OAEP-SHA-256 is refused (611)', async () => {
    const key = randomBytes(32);
    const r = await unwrap(publicEncrypt({ key: rsaKek.publicKey, padding: constants.RSA_PKCS1_PADDING }, key), 'unwrapped-rsa-pad', 'rsa-kek', 'RSA_WRAP_PAD');
    assert.equal(r.statusCode, 201, r.body);
    await assertAesKeyIs('unwrapped-rsa-pad', key);
    expectError(await unwrap(publicEncrypt({ key: rsaKek.publicKey, oaepHash: 'sha256' }, key), 'unwrapped-oaep', 'rsa-kek', 'RSA_WRAP_OAEP'), 400, 611);
  });

  it('unwraps AES_WRAP_EC / AES_WRAP_PAD_RSA (node:crypto-wrapped) onto the token; the keys sign and node:crypto verifies with the known public keys', async () => {
    const cases = [
      ['AES_WRAP_EC', ecTarget, 'SHA256_WITH_ECDSA', true],
      ['AES_WRAP_PAD_RSA', rsaTarget, 'SHA256_WITH_RSA', false],
    ] as const;
    for (const [method, pair, alg, zeroPad] of cases) {
      const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'der' });
      const data = zeroPad ? Buffer.concat([pkcs8, Buffer.alloc((8 - (pkcs8.length % 8)) % 8)]) : pkcs8;
      const label = `unwrapped-${method}`;
      const r = await unwrap(kw(kek, data, method.includes('PAD')), label, 'kek', method);
      assert.equal(r.statusCode, 201, r.body);
      assert.deepEqual(unb64(r.json().json.publicKey), pair.publicKey.export({ type: 'spki', format: 'der' }));
      const payload = randomBytes(50);
      const s = await ko('/v1/synchronousSign', { signRequest: { payload: b64(payload), payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: alg } });
      assert.equal(s.statusCode, 200, s.body);
      assert.ok(nodeVerify('sha256', payload, pair.publicKey, unb64(s.json().signature)), method);
    }
  });

  it('unwrap refusals: wrong KEK or tampered data → 410 (nothing left on the token), wrong key type → 607, a 20-byte secret without an algorithm → 600', async () => {
    const other = randomBytes(32);
    expectError(await unwrap(kw(other, randomBytes(32), false), 'bad-1', 'kek', 'AES_WRAP'), 400, 410);
    const good = kw(kek, randomBytes(32), true);
    good[5] ^= 1;
    expectError(await unwrap(good, 'bad-2', 'kek', 'AES_WRAP_PAD'), 400, 410);
    expectError(await unwrap(kw(kek, randomBytes(32), false), 'bad-3', 'rsa-kek', 'AES_WRAP'), 400, 607);
    expectError(await unwrap(kw(kek, randomBytes(20), true), 'bad-4', 'kek', 'AES_WRAP_PAD'), 400, 600);
    for (const label of ['bad-1', 'bad-2', 'bad-3', 'bad-4']) assert.equal((await w.call('POST', '/v1/key/attributes', { label })).statusCode, 404, label);
    // The token holds exactly the objects of the keys that exist (no orphan from the refused unwraps).
    const labels = await keystore().pool.run(({ m, session }) => {
      m.C_FindObjectsInit(session, [{ type: P.CKA_TOKEN, value: true }]);
      const found = m.C_FindObjects(session, 1000);
      m.C_FindObjectsFinal(session);
      return found.map((h) => String(m.C_GetAttributeValue(session, h, [{ type: P.CKA_LABEL }])[0].value));
    });
    assert.ok(!labels.some((l) => l.startsWith('bad-')), labels.join(','));
  });

  it('RSA PKCS#1 v1.5 decryption on the token is refused (611: no implicit rejection around C_Decrypt), OAEP-SHA-1 decrypts; NONE_WITH_ECDSA of an empty digest → 612', async () => {
    await km('/v1/key/import/plain', { label: 'rsa-dec', algorithm: 'RSA', privateKey: b64(rsaKek.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: { decrypt: true, sign: false, unwrap: false } });
    const msg = randomBytes(20);
    for (const cipherAlgorithm of ['RSA', 'RSA_PADDING_PKCS']) {
      const ct = publicEncrypt({ key: rsaKek.publicKey, padding: constants.RSA_PKCS1_PADDING }, msg);
      expectError(await ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(ct), decryptKeyName: 'rsa-dec', cipherAlgorithm } }), 400, 611);
      expectError(await ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(randomBytes(256)), decryptKeyName: 'rsa-dec', cipherAlgorithm } }), 400, 611);
    }
    const oaep = await ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(publicEncrypt({ key: rsaKek.publicKey, oaepHash: 'sha1' }, msg)), decryptKeyName: 'rsa-dec', cipherAlgorithm: 'RSA_PADDING_OAEP' } });
    assert.equal(oaep.statusCode, 200, oaep.body);
    assert.deepEqual(unb64(oaep.json().payload), msg);
    const sign = (payload: Buffer) => ko('/v1/synchronousSign', { signRequest: { payload: b64(payload), payloadType: 'UNSPECIFIED', signKeyName: 'ec-target', signatureAlgorithm: 'NONE_WITH_ECDSA' } });
    expectError(await sign(Buffer.alloc(0)), 400, 612);
    expectError(await sign(randomBytes(31)), 400, 612);
    const digest = randomBytes(32);
    const ok = await sign(digest);
    assert.equal(ok.statusCode, 200, ok.body);
  });

  it('EC keys on curves node:crypto has no JWK for (brainpool, secp224k1): imported onto the token, exported plain to the same scalar, AES_WRAP_EC to the same key', async () => {
    for (const curve of ['brainpoolP256r1', 'secp224k1', 'brainpoolP512r1']) {
      const pair = generateKeyPairSync('ec', { namedCurve: curve });
      const label = `ec-${curve}`;
      await km('/v1/key/import/plain', { label, algorithm: 'EC', privateKey: b64(pair.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: { sign: true, decrypt: false, unwrap: false, ...EXPORTABLE } });
      // The private scalar as OpenSSL reads it (SEC 1 ECPrivateKey's second element); the token's own PKCS#8 omits the optional public key.
      const scalar = (der: Buffer) => readChildren(readTlv(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ type: 'sec1', format: 'der' })).value)[1].value.toString('hex');
      const r = await w.call('POST', '/v1/key/export/plain', { label });
      assert.equal(r.statusCode, 200, r.body);
      // Exported from the token: the same PKCS#8 as the software keystore would give (scalar, curve, public key).
      assert.deepEqual(unb64(r.json().privateKey), pair.privateKey.export({ type: 'pkcs8', format: 'der' }), curve);
      const plain = trimDerPadding(kwOpen(kek, await wrapped(await wrap(label, 'kek', 'AES_WRAP_EC')), false));
      assert.deepEqual(scalar(plain), scalar(pair.privateKey.export({ type: 'pkcs8', format: 'der' }) as Buffer), curve);
    }
  });

  it('DSA on the token: generated (CKM_DSA_KEY_PAIR_GEN) and imported keys sign (CKM_DSA_SHA*, NONE_WITH_DSA via CKM_DSA); node:crypto verifies; export and AES_WRAP_DSA give the known PKCS#8', async () => {
    const known = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 });
    const pkcs8 = known.privateKey.export({ type: 'pkcs8', format: 'der' });
    const attrs = { sign: true, decrypt: false, unwrap: false, ...EXPORTABLE };
    const imported = await km('/v1/key/import/plain', { label: 'dsa-known', algorithm: 'DSA', privateKey: b64(pkcs8), attributes: attrs });
    assert.equal(imported.json().json.keySize, 2048);
    const generated = await km('/v1/key', { label: 'dsa-gen', algorithm: 'DSA', keySize: 2048, attributes: { sign: true, decrypt: false, unwrap: false } });
    const genPublic = createPublicKey({ key: unb64(generated.json().json.publicKey), format: 'der', type: 'spki' });
    assert.equal(genPublic.asymmetricKeyType, 'dsa');
    assert.equal(genPublic.asymmetricKeyDetails?.modulusLength, 2048);
    const payload = randomBytes(100);
    for (const [label, pub] of [['dsa-known', known.publicKey], ['dsa-gen', genPublic]] as const) {
      for (const [alg, hash] of [['SHA256_WITH_DSA', 'sha256'], ['SHA1_WITH_DSA', 'sha1'], ['SHA512_WITH_DSA', 'sha512']] as const) {
        const r = await ko('/v1/synchronousSign', { signRequest: { payload: b64(payload), payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: alg } });
        assert.equal(r.statusCode, 200, r.body);
        assert.ok(nodeVerify(hash, payload, pub, unb64(r.json().signature)), `${label} ${alg}`);
      }
    }
    // NONE_WITH_DSA over a SHA-256 digest: the same signature as SHA256_WITH_DSA would verify.
    const digest = createHash('sha256').update(payload).digest();
    const none = await ko('/v1/synchronousSign', { signRequest: { payload: b64(digest), payloadType: 'UNSPECIFIED', signKeyName: 'dsa-known', signatureAlgorithm: 'NONE_WITH_DSA' } });
    assert.equal(none.statusCode, 200, none.body);
    assert.ok(nodeVerify('sha256', payload, known.publicKey, unb64(none.json().signature)));
    const raw = await ko('/v1/synchronousSign', { signRequest: { payload: b64(payload), payloadType: 'UNSPECIFIED', signKeyName: 'dsa-known', signatureAlgorithm: 'SHA256_WITH_DSA', signatureType: 'RAW' } });
    assert.equal(raw.statusCode, 200, raw.body);
    assert.equal(unb64(raw.json().signature).length, 64);
    assert.ok(nodeVerify('sha256', payload, { key: known.publicKey, dsaEncoding: 'ieee-p1363' }, unb64(raw.json().signature)));
    expectError(await ko('/v1/synchronousSign', { signRequest: { payload: b64(randomBytes(33)), payloadType: 'UNSPECIFIED', signKeyName: 'dsa-known', signatureAlgorithm: 'NONE_WITH_DSA' } }), 400, 612);
    const exp = await w.call('POST', '/v1/key/export/plain', { label: 'dsa-known' });
    assert.equal(exp.statusCode, 200, exp.body);
    assert.deepEqual(unb64(exp.json().privateKey), pkcs8);
    const padded = Buffer.concat([pkcs8, Buffer.alloc((8 - (pkcs8.length % 8)) % 8)]);
    assert.deepEqual(await wrapped(await wrap('dsa-known', 'kek', 'AES_WRAP_DSA')), kw(kek, padded, false));
  });

  it('NONE_WITH_RSA_PSS on the token (CKM_RSA_PKCS_PSS, hash from the digest length): node:crypto verifies as PSS over the message', async () => {
    await km('/v1/key/import/plain', { label: 'rsa-pss', algorithm: 'RSA', privateKey: b64(rsaTarget.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: { sign: true, decrypt: false, unwrap: false } });
    const message = randomBytes(77);
    for (const hash of ['sha256', 'sha384', 'sha1'] as const) {
      const digest = createHash(hash).update(message).digest();
      const r = await ko('/v1/synchronousSign', { signRequest: { payload: b64(digest), payloadType: 'UNSPECIFIED', signKeyName: 'rsa-pss', signatureAlgorithm: 'NONE_WITH_RSA_PSS' } });
      assert.equal(r.statusCode, 200, r.body);
      assert.ok(nodeVerify(hash, message, { key: rsaTarget.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: digest.length }, unb64(r.json().signature)), hash);
    }
    expectError(await ko('/v1/synchronousSign', { signRequest: { payload: b64(randomBytes(33)), payloadType: 'UNSPECIFIED', signKeyName: 'rsa-pss', signatureAlgorithm: 'NONE_WITH_RSA_PSS' } }), 400, 612);
  });

  it('empty payloads on the token (pkcs11js would pass a NULL pointer): EdDSA and HMAC of "" and AES-GCM of an empty plaintext agree with node:crypto', async () => {
    const ed = generateKeyPairSync('ed25519');
    await km('/v1/key/import/plain', { label: 'ed-empty', algorithm: 'ED', privateKey: b64(ed.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: { sign: true, decrypt: false, unwrap: false } });
    const sig = await ko('/v1/synchronousSign', { signRequest: { payload: '', payloadType: 'UNSPECIFIED', signKeyName: 'ed-empty', signatureAlgorithm: 'EDDSA' } });
    assert.equal(sig.statusCode, 200, sig.body);
    assert.ok(nodeVerify(null, Buffer.alloc(0), ed.publicKey, unb64(sig.json().signature)));
    const macKey = randomBytes(32);
    await km('/v1/key/import/plain', { label: 'mac-empty', algorithm: 'HMACSHA256', secretKey: b64(macKey), attributes: { sign: true, verify: true, decrypt: false, unwrap: false } });
    const mac = await ko('/v1/synchronousHmac', { hmacRequest: { payload: '', keyName: 'mac-empty' } });
    assert.equal(mac.statusCode, 200, mac.body);
    assert.deepEqual(unb64(mac.json().keyedHash), createHmac('sha256', macKey).update(Buffer.alloc(0)).digest());
    const enc = await ko('/v1/encrypt', { encryptRequest: { payload: '', encryptKeyName: 'aes-target', cipherAlgorithm: 'AES_GCM', tagLength: 128 } });
    assert.equal(enc.statusCode, 200, enc.body);
    const d = createDecipheriv('aes-256-gcm', secret, unb64(enc.json().initializationVector));
    d.setAuthTag(unb64(enc.json().messageAuthenticationCode));
    assert.deepEqual(Buffer.concat([d.update(unb64(enc.json().encryptedPayload).subarray(0, 0)), d.final()]), Buffer.alloc(0));
  });

  it('signatureType ETH on the token: CKM_ECDSA over Keccak-256, low s, v found from public data; noble recovers the known key with that v; P-256 → 607', async () => {
    const k1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
    await km('/v1/key/import/plain', { label: 'k1', algorithm: 'EC', privateKey: b64(k1.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: { sign: true, decrypt: false, unwrap: false } });
    const spki = k1.publicKey.export({ type: 'spki', format: 'der' });
    const own = secp256k1.Point.fromBytes(spki.subarray(spki.length - 65));
    for (let i = 0; i < 4; i++) {
      const payload = randomBytes(40);
      const r = await ko('/v1/synchronousSign', { signRequest: { payload: b64(payload), payloadType: 'UNSPECIFIED', signKeyName: 'k1', signatureAlgorithm: 'KECCAK256_WITH_ECDSA', signatureType: 'ETH' } });
      assert.equal(r.statusCode, 200, r.body);
      const sig = unb64(r.json().signature);
      assert.equal(sig.length, 65);
      assert.ok(sig[64] === 27 || sig[64] === 28);
      const digest = keccak_256(payload);
      assert.ok(BigInt(`0x${sig.subarray(32, 64).toString('hex')}`) <= secp256k1.Point.Fn.ORDER >> 1n, 'low s');
      const recovered = secp256k1.Point.fromBytes(secp256k1.recoverPublicKey(Buffer.concat([Buffer.from([sig[64] - 27]), sig.subarray(0, 64)]), digest, { prehash: false }));
      assert.ok(recovered.equals(own));
    }
    expectError(await ko('/v1/synchronousSign', { signRequest: { payload: b64(randomBytes(8)), payloadType: 'UNSPECIFIED', signKeyName: 'ec-target', signatureAlgorithm: 'KECCAK256_WITH_ECDSA', signatureType: 'ETH' } }), 400, 607);
  });

  it('TDEA on the token: generated and imported keys (CKM_DES3_*); TDEA_CBC / TDEA_ECB agree with node:crypto des-ede3 on the known key', async () => {
    const key = setOddParity(randomBytes(24));
    await km('/v1/key/import/plain', { label: 'tdea-known', algorithm: 'TDEA', secretKey: b64(key), attributes: { decrypt: true, encrypt: true, sign: false, unwrap: false } });
    await km('/v1/key', { label: 'tdea-gen', algorithm: 'TDEA', attributes: { decrypt: true, encrypt: true, sign: false, unwrap: false } });
    const plain = randomBytes(21);
    for (const [cipherAlgorithm, node] of [['TDEA_CBC', 'des-ede3-cbc'], ['TDEA_ECB', 'des-ede3']] as const) {
      const r = await ko('/v1/encrypt', { encryptRequest: { payload: b64(plain), encryptKeyName: 'tdea-known', cipherAlgorithm } });
      assert.equal(r.statusCode, 200, r.body);
      const iv = r.json().initializationVector ? unb64(r.json().initializationVector) : null;
      const d = createDecipheriv(node, key, iv);
      assert.deepEqual(Buffer.concat([d.update(unb64(r.json().encryptedPayload)), d.final()]), plain, cipherAlgorithm);
      const c = createCipheriv(node, key, iv);
      const ct = Buffer.concat([c.update(plain), c.final()]);
      const back = await ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(ct), decryptKeyName: 'tdea-known', cipherAlgorithm, ...(iv ? { initializationVector: b64(iv) } : {}) } });
      assert.equal(back.statusCode, 200, back.body);
      assert.deepEqual(unb64(back.json().payload), plain);
    }
    const g = await ko('/v1/encrypt', { encryptRequest: { payload: b64(plain), encryptKeyName: 'tdea-gen', cipherAlgorithm: 'TDEA_CBC' } });
    assert.equal(g.statusCode, 200, g.body);
    const back = await ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: g.json().encryptedPayload, decryptKeyName: 'tdea-gen', cipherAlgorithm: 'TDEA_CBC', initializationVector: g.json().initializationVector } });
    assert.deepEqual(unb64(back.json().payload), plain);
  });
});
