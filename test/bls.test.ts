// BLS12-381 keys through the HTTP API: the Wycheproof min-pk basic-scheme vectors
// (BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_) by public-key import + /v1/verify, create → attributes →
// sign → verify cross-checked with @noble/curves, raw/PKCS#8 private imports, and wrap/unwrap with
// AES_WRAP_BLS / AES_WRAP_PAD_BLS (README decision 7: the raw 32-byte scalar is what is wrapped).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { decodeSpki, encodePkcs8 } from '../src/crypto/pqc/asn1.ts';
import { BLS_OID } from '../src/crypto/pqc/keys.ts';
import { fastDataDir } from './helpers/signature-keys.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { VectorCounter, checkVector, hasWycheproof, hex, loadWycheproof } from './helpers/wycheproof.ts';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const BLS = bls12_381.longSignatures;
const FILE = 'bls_sig_g2_basic_verify_test.json';
const SIGN = { sign: true, decrypt: false, unwrap: false, destroyable: true };
let w: TestWarden;

before(async () => {
  w = await startTestWarden({ dataDir: fastDataDir() });
});
after(async () => {
  await w.close();
});

async function verify(key: string, msg: Uint8Array, sig: Uint8Array): Promise<boolean> {
  const r = await w.call('POST', '/v1/verify', { verifySignatureRequest: { signKeyName: key, signatureAlgorithm: 'BLS', payload: b64(msg), signature: b64(sig) } }, 'keyOperationToken');
  assert.equal(r.statusCode, 200, r.body);
  return r.json().signatureValid;
}

describe('Wycheproof BLS (min-pk, basic scheme, NUL DST) through /v1/verify', () => {
  it(FILE, { skip: !hasWycheproof(FILE) && `${FILE} not present` }, async () => {
    const data = loadWycheproof(FILE);
    const counter = new VectorCounter(FILE);
    let g = 0;
    for (const group of data.testGroups) {
      assert.equal(group.ciphersuite, 'BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_');
      const pk = hex((group.publicKey as { pk: string }).pk);
      // raw 48-byte compressed G1 points are accepted on import; invalid ones (identity, flags, off-curve) are refused
      const label = `bls-wp-${g++}`;
      const imp = await w.call('POST', '/v1/key/import/plain', { label, algorithm: 'BLS', publicKey: b64(pk) });
      if (imp.statusCode !== 201) assert.ok([407, 625].includes(imp.json().errorCode), imp.body);
      for (const test of group.tests) {
        const ok = imp.statusCode === 201 ? await verify(label, hex(test.msg), hex(test.sig)) : false;
        checkVector(counter, test, ok);
      }
    }
    counter.report(data.numberOfTests);
  });
});

describe('BLS keys', () => {
  it('create → attributes → sign → verify; noble verifies Warden signatures and Warden verifies noble ones', async () => {
    const r = await w.call('POST', '/v1/key', { label: 'bls-1', algorithm: 'BLS', attributes: SIGN });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().json.algorithm, 'BLS');
    assert.equal(r.json().json.algorithmOid, BLS_OID);
    const attrs = (await w.call('POST', '/v1/key/attributes', { label: 'bls-1' })).json().json;
    const { oid, raw: pk } = decodeSpki(Buffer.from(attrs.publicKey, 'base64'));
    assert.equal(oid, BLS_OID);
    assert.equal(pk.length, 48);
    const msg = Buffer.from('bls message');
    for (const signatureType of ['DER', 'RAW']) {
      const s = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: 'bls-1', signatureAlgorithm: 'BLS', signatureType } }, 'keyOperationToken');
      assert.equal(s.statusCode, 200, s.body);
      const sig = Buffer.from(s.json().signature, 'base64');
      assert.equal(sig.length, 96);
      assert.ok(BLS.verify(sig, BLS.hash(msg), pk), 'noble verifies');
      assert.equal(await verify('bls-1', msg, sig), true);
      assert.equal(await verify('bls-1', Buffer.from('other'), sig), false);
    }
    const { secretKey, publicKey } = BLS.keygen();
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'bls-pub', algorithm: 'BLS', publicKey: b64(publicKey.toBytes(true)) });
    assert.equal(imp.statusCode, 201, imp.body);
    assert.equal(await verify('bls-pub', msg, BLS.Signature.toBytes(BLS.sign(BLS.hash(msg), secretKey))), true);
    // BLS signing is deterministic
    const a = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: 'bls-1', signatureAlgorithm: 'BLS' } }, 'keyOperationToken');
    const b = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: 'bls-1', signatureAlgorithm: 'BLS' } }, 'keyOperationToken');
    assert.equal(a.json().signature, b.json().signature);
    // other families refuse the name, BLS keys refuse other names
    assert.equal((await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: 'bls-1', signatureAlgorithm: 'EDDSA' } }, 'keyOperationToken')).json().errorCode, 607);
  });

  it('private imports: the raw 32-byte scalar and a PKCS#8 with the BLS OID; a zero or too-large scalar is 625', async () => {
    const { secretKey, publicKey } = BLS.keygen();
    for (const [label, privateKey] of [['bls-raw', secretKey], ['bls-p8', encodePkcs8(BLS_OID, secretKey)]] as const) {
      const r = await w.call('POST', '/v1/key/import/plain', { label, algorithm: 'BLS', privateKey: b64(privateKey), attributes: SIGN });
      assert.equal(r.statusCode, 201, r.body);
      assert.ok(decodeSpki(Buffer.from(r.json().json.publicKey, 'base64')).raw.equals(Buffer.from(publicKey.toBytes(true))));
    }
    for (const bad of [Buffer.alloc(32), Buffer.alloc(32, 0xff)]) {
      const r = await w.call('POST', '/v1/key/import/plain', { label: 'bls-bad', algorithm: 'BLS', privateKey: b64(bad), attributes: SIGN });
      assert.equal(r.json().errorCode, 625, r.body);
    }
  });

  it('AES_WRAP_BLS and AES_WRAP_PAD_BLS round trip: the unwrapped key is BLS, signs the same, and the KEK opens to the raw scalar', async () => {
    const kekBytes = randomBytes(32);
    await w.call('POST', '/v1/key/import/plain', { label: 'kek', algorithm: 'AES', secretKey: b64(kekBytes), attributes: { decrypt: false, sign: false, unwrap: true, wrap: true } });
    const sk = BLS.keygen().secretKey;
    const r = await w.call('POST', '/v1/key/import/plain', { label: 'bls-x', algorithm: 'BLS', privateKey: b64(sk), attributes: { ...SIGN, extractable: true } });
    assert.equal(r.statusCode, 201, r.body);
    const msg = Buffer.from('wrapped bls');
    const ref = (await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: 'bls-x', signatureAlgorithm: 'BLS' } }, 'keyOperationToken')).json().signature;
    for (const [method, cipher, iv] of [['AES_WRAP_BLS', 'id-aes256-wrap', 'A6A6A6A6A6A6A6A6'], ['AES_WRAP_PAD_BLS', 'id-aes256-wrap-pad', 'A65959A6']] as const) {
      const wr = await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: 'bls-x', wrapKeyName: 'kek', wrapMethod: method } }, 'keyOperationToken');
      assert.equal(wr.statusCode, 200, wr.body);
      const d = createDecipheriv(cipher, kekBytes, Buffer.from(iv, 'hex'));
      const plain = Buffer.concat([d.update(Buffer.from(wr.json().wrappedKey, 'base64')), d.final()]);
      assert.ok(plain.equals(Buffer.from(sk)), `${method}: the raw 32-byte scalar (already a multiple of 8)`);
      const un = await w.call('POST', '/v1/synchronousUnwrap', { unwrapKeyRequest: { wrappedKey: wr.json().wrappedKey, label: `bls-${method}`, unwrapKeyName: 'kek', wrapMethod: method, attributes: SIGN } }, 'keyOperationToken');
      assert.equal(un.statusCode, 201, un.body);
      assert.equal(un.json().json.algorithm, 'BLS');
      const again = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: `bls-${method}`, signatureAlgorithm: 'BLS' } }, 'keyOperationToken');
      assert.equal(again.json().signature, ref, `${method}: same key, same deterministic signature`);
    }
    // a BLS key cannot be wrapped with another family's method
    assert.equal((await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: 'bls-x', wrapKeyName: 'kek', wrapMethod: 'AES_WRAP_EC' } }, 'keyOperationToken')).json().errorCode, 613);
  });
});
