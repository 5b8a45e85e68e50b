// Post-quantum keys through the HTTP API: ML-DSA-44/65/87 and SLH-DSA (all 12 sets) create →
// attributes → sign → verify with every signature name (pure, DILITHIUM/SPHINCS_PLUS aliases, ML_DSA_M,
// the ten pre-hash variants, context), cross-checked with @noble/post-quantum from the exported public
// key; ML-KEM-512/768/1024 keys and their wrap/unwrap round trips; public-key imports; error codes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { ml_kem768 } from '@noble/post-quantum/ml-kem.js';
import { slh_dsa_sha2_128f } from '@noble/post-quantum/slh-dsa.js';
import { decodeSpki } from '../src/crypto/pqc/asn1.ts';
import { PREHASHES } from '../src/crypto/pqc/ops.ts';
import { fastDataDir, pool } from './helpers/signature-keys.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const SIGN = { sign: true, decrypt: false, unwrap: false, destroyable: true };
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');
const MSG = Buffer.from('post-quantum payload');
const ML_DSA = { '44': ml_dsa44, '65': ml_dsa65, '87': ml_dsa87 } as const;
const SLH_SETS = ['SHA2-128s', 'SHA2-128f', 'SHA2-192s', 'SHA2-192f', 'SHA2-256s', 'SHA2-256f', 'SHAKE-128s', 'SHAKE-128f', 'SHAKE-192s', 'SHAKE-192f', 'SHAKE-256s', 'SHAKE-256f'];
/** Signing with the "s" sets takes 6–60 s in pure JS: SHA2-128s and every "f" set are signed, the other "s" sets created and checked. */
const SLH_SIGNED = new Set(['SHA2-128s', 'SHA2-128f', 'SHA2-192f', 'SHA2-256f', 'SHAKE-128f', 'SHAKE-192f', 'SHAKE-256f']);
const SIG_SIZES: Record<string, number> = { 'ML-DSA-44': 2420, 'ML-DSA-65': 3309, 'ML-DSA-87': 4627, '128f': 17088, '192f': 35664, '256f': 49856, '128s': 7856 };

let w: TestWarden;

async function sign(key: string, alg: string, payload: Buffer, extra: Record<string, unknown> = {}) {
  return w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(payload), signKeyName: key, signatureAlgorithm: alg, ...extra } }, 'keyOperationToken');
}
async function verify(key: string, alg: string, payload: Buffer, signature: string, extra: Record<string, unknown> = {}) {
  const r = await w.call('POST', '/v1/verify', { verifySignatureRequest: { payload: b64(payload), signKeyName: key, signatureAlgorithm: alg, signature, ...extra } }, 'keyOperationToken');
  assert.equal(r.statusCode, 200, r.body);
  return r.json().signatureValid as boolean;
}
async function create(label: string, algorithm: string, attributes: Record<string, unknown> = SIGN, extra: Record<string, unknown> = {}) {
  const r = await w.call('POST', '/v1/key', { label, algorithm, attributes, ...extra });
  assert.equal(r.statusCode, 201, r.body);
  return r.json().json;
}

before(async () => {
  w = await startTestWarden({ dataDir: fastDataDir() });
});
after(async () => {
  await w.close();
});

describe('ML-DSA keys (FIPS 204)', () => {
  for (const level of ['44', '65', '87'] as const) {
    it(`ML-DSA-${level}: create → attributes → sign (pure, context, aliases, pre-hash, external µ) → verify, cross-checked with noble`, async () => {
      const label = `mldsa-${level}`;
      const json = await create(label, `ML-DSA-${level}`);
      assert.equal(json.algorithm, `ML-DSA-${level}`);
      assert.equal(json.algorithmOid, `2.16.840.1.101.3.4.3.${{ '44': 17, '65': 18, '87': 19 }[level]}`);
      assert.equal(json.curveOid, null);
      const attrs = (await w.call('POST', '/v1/key/attributes', { label })).json().json;
      assert.equal(attrs.publicKey, json.publicKey);
      const { oid, raw: pk } = decodeSpki(Buffer.from(json.publicKey, 'base64'));
      assert.equal(oid, json.algorithmOid);
      const alg = ML_DSA[level];

      for (const name of ['ML_DSA', 'DILITHIUM']) {
        const r = await sign(label, name, MSG);
        assert.equal(r.statusCode, 200, r.body);
        const sig = Buffer.from(r.json().signature, 'base64');
        assert.equal(sig.length, SIG_SIZES[`ML-DSA-${level}`]);
        assert.ok(alg.verify(sig, MSG, pk), `${name}: noble verifies`);
        assert.equal(await verify(label, name, MSG, r.json().signature), true);
        assert.equal(await verify(label, name, Buffer.from('other'), r.json().signature), false);
      }
      // FIPS 204 §5.2 context: bound into the signature
      const ctx = Buffer.from('warden-ctx');
      const rc = await sign(label, 'ML_DSA', MSG, { context: b64(ctx) });
      assert.equal(rc.statusCode, 200, rc.body);
      assert.ok(alg.verify(Buffer.from(rc.json().signature, 'base64'), MSG, pk, { context: ctx }));
      assert.equal(await verify(label, 'ML_DSA', MSG, rc.json().signature, { context: b64(ctx) }), true);
      assert.equal(await verify(label, 'ML_DSA', MSG, rc.json().signature), false, 'without the context it does not verify');

      // HashML-DSA: every pre-hash name; noble cross-checks the ones its strength rule allows
      for (const h of Object.keys(PREHASHES)) {
        const name = `${h}_WITH_ML_DSA`;
        const r = await sign(label, name, MSG, { context: b64(ctx) });
        assert.equal(r.statusCode, 200, `${name}: ${r.body}`);
        assert.equal(await verify(label, name, MSG, r.json().signature, { context: b64(ctx) }), true, name);
        assert.equal(await verify(label, 'ML_DSA', MSG, r.json().signature, { context: b64(ctx) }), false, `${name} is not a pure signature`);
        const strength = PREHASHES[h].outputLen * 4;
        if (strength >= alg.securityLevel) {
          assert.ok(alg.prehash(PREHASHES[h]).verify(Buffer.from(r.json().signature, 'base64'), MSG, pk, { context: ctx }), `${name}: noble verifies`);
        }
      }

      // ML_DSA_M: the payload is µ = SHAKE256(tr ‖ M′, 64), tr = SHAKE256(pk, 64) (FIPS 204 Algorithm 7)
      const { shake256 } = await import('@noble/hashes/sha3.js');
      const tr = shake256(pk, { dkLen: 64 });
      const mPrime = Buffer.concat([Buffer.from([0, 0]), MSG]);
      const mu = Buffer.from(shake256(Buffer.concat([tr, mPrime]), { dkLen: 64 }));
      const rm = await sign(label, 'ML_DSA_M', mu);
      assert.equal(rm.statusCode, 200, rm.body);
      assert.ok(alg.verify(Buffer.from(rm.json().signature, 'base64'), MSG, pk), 'a signature over µ is an ordinary ML-DSA signature of M');
      assert.equal(await verify(label, 'ML_DSA_M', mu, rm.json().signature), true);
      assert.equal((await sign(label, 'ML_DSA_M', MSG)).json().errorCode, 612, 'µ must be 64 bytes');
    });
  }

  it('a noble-made signature and a public-key import verify; private import (seed) signs', async () => {
    const seed = randomBytes(32);
    const keys = ml_dsa65.keygen(seed);
    const { encodePkcs8, encodeSeed, encodeSpki } = await import('../src/crypto/pqc/asn1.ts');
    const spki = encodeSpki('2.16.840.1.101.3.4.3.18', keys.publicKey);
    let r = await w.call('POST', '/v1/key/import/plain', { label: 'mldsa-pub', algorithm: 'ML-DSA-65', publicKey: b64(spki) });
    assert.equal(r.statusCode, 201, r.body);
    const sig = ml_dsa65.sign(MSG, keys.secretKey);
    assert.equal(await verify('mldsa-pub', 'ML_DSA', MSG, b64(sig)), true);
    assert.equal((await sign('mldsa-pub', 'ML_DSA', MSG)).json().errorCode, 614, 'a public-key import does not sign');
    r = await w.call('POST', '/v1/key/import/plain', { label: 'mldsa-priv', algorithm: 'ML-DSA-65', privateKey: b64(encodePkcs8('2.16.840.1.101.3.4.3.18', encodeSeed(seed))), attributes: { ...SIGN, extractable: true, sensitive: false } });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().json.publicKey, b64(spki));
    const rs = await sign('mldsa-priv', 'ML_DSA', MSG);
    assert.ok(ml_dsa65.verify(Buffer.from(rs.json().signature, 'base64'), MSG, keys.publicKey));
    // plain export returns the RFC 9881 seed form
    const ex = await w.call('POST', '/v1/key/export/plain', { label: 'mldsa-priv' });
    assert.equal(ex.statusCode, 200, ex.body);
    assert.equal(ex.json().privateKey, b64(encodePkcs8('2.16.840.1.101.3.4.3.18', encodeSeed(seed))));
    // a key of another parameter set, a malformed seed, an ML-DSA-44 public key as ML-DSA-65
    r = await w.call('POST', '/v1/key/import/plain', { label: 'mldsa-bad', algorithm: 'ML-DSA-65', privateKey: b64(encodePkcs8('2.16.840.1.101.3.4.3.18', encodeSeed(randomBytes(31)))), attributes: SIGN });
    assert.equal(r.json().errorCode, 625);
    r = await w.call('POST', '/v1/key/import/plain', { label: 'mldsa-bad', algorithm: 'ML-DSA-65', publicKey: b64(encodeSpki('2.16.840.1.101.3.4.3.17', ml_dsa44.keygen().publicKey)) });
    assert.equal(r.json().errorCode, 613);
  });
});

describe('SLH-DSA keys (FIPS 205), all 12 parameter sets', () => {
  it('create → attributes for every set; sign → verify (pure, SPHINCS_PLUS, pre-hash, context) for every "f" set and SHA2-128s', async () => {
    await pool(SLH_SETS, 2, async (set) => {
      const label = `slh-${set}`;
      const json = await create(label, `SLH-DSA-${set}`);
      assert.equal(json.algorithm, `SLH-DSA-${set}`);
      assert.equal(json.algorithmOid, `2.16.840.1.101.3.4.3.${20 + SLH_SETS.indexOf(set)}`);
      const pkLen = { '128': 32, '192': 48, '256': 64 }[set.slice(-4, -1)];
      assert.equal(decodeSpki(Buffer.from(json.publicKey, 'base64')).raw.length, pkLen);
      if (!SLH_SIGNED.has(set)) return;
      const r = await sign(label, set.endsWith('f') ? 'SLH_DSA' : 'SPHINCS_PLUS', MSG, { context: b64('c') });
      assert.equal(r.statusCode, 200, r.body);
      const size = SIG_SIZES[set.slice(-4)];
      if (size) assert.equal(Buffer.from(r.json().signature, 'base64').length, size);
      assert.equal(await verify(label, 'SLH_DSA', MSG, r.json().signature, { context: b64('c') }), true);
      assert.equal(await verify(label, 'SLH_DSA', MSG, r.json().signature), false);
    });
  });

  it('SLH-DSA-SHA2-128f: noble verifies Warden signatures (pure and HashSLH-DSA with SHA2-256), Warden verifies noble ones', async () => {
    const label = 'slh-SHA2-128f';
    const pk = decodeSpki(Buffer.from((await w.call('POST', '/v1/key/attributes', { label })).json().json.publicKey, 'base64')).raw;
    const pure = await sign(label, 'SLH_DSA', MSG);
    assert.ok(slh_dsa_sha2_128f.verify(Buffer.from(pure.json().signature, 'base64'), MSG, pk));
    const pre = await sign(label, 'SHA2_256_WITH_SLH_DSA', MSG);
    assert.equal(pre.statusCode, 200, pre.body);
    assert.ok(slh_dsa_sha2_128f.prehash(sha256).verify(Buffer.from(pre.json().signature, 'base64'), MSG, pk));
    assert.equal(await verify(label, 'SHA2_256_WITH_SLH_DSA', MSG, pre.json().signature), true);
    for (const h of Object.keys(PREHASHES)) {
      const r = await sign(label, `${h}_WITH_SLH_DSA`, MSG);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(await verify(label, `${h}_WITH_SLH_DSA`, MSG, r.json().signature), true, h);
    }
    const k = slh_dsa_sha2_128f.keygen();
    const { encodeSpki } = await import('../src/crypto/pqc/asn1.ts');
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'slh-pub', algorithm: 'SLH-DSA-SHA2-128f', publicKey: b64(encodeSpki('2.16.840.1.101.3.4.3.21', k.publicKey)) });
    assert.equal(imp.statusCode, 201, imp.body);
    assert.equal(await verify('slh-pub', 'SPHINCS_PLUS', MSG, b64(slh_dsa_sha2_128f.sign(MSG, k.secretKey))), true);
  });
});

describe('signature names and keys that do not fit', () => {
  it('607 for a PQC name on another key family, 600 for context on classic algorithms or over 255 bytes', async () => {
    await create('ec-p256', 'EC', SIGN, { curveOid: '1.2.840.10045.3.1.7' });
    assert.equal((await sign('ec-p256', 'ML_DSA', MSG)).json().errorCode, 607);
    assert.equal((await sign('mldsa-44', 'SLH_DSA', MSG)).json().errorCode, 607);
    assert.equal((await sign('mldsa-44', 'SHA256_WITH_ECDSA', MSG)).json().errorCode, 607);
    assert.equal((await sign('slh-SHA2-128f', 'ML_DSA_M', Buffer.alloc(64))).json().errorCode, 607);
    const ctx = await sign('ec-p256', 'SHA256_WITH_ECDSA', MSG, { context: b64('x') });
    assert.equal(ctx.statusCode, 400);
    assert.equal(ctx.json().errorCode, 600);
    assert.equal((await sign('mldsa-44', 'ML_DSA', MSG, { context: b64(Buffer.alloc(256)) })).json().errorCode, 600);
    assert.equal((await sign('mldsa-44', 'ML_DSA_M', Buffer.alloc(64), { context: b64('x') })).json().errorCode, 600);
    assert.equal((await sign('mldsa-44', 'KYBER', MSG)).json().errorCode, 501, 'KYBER is no signature algorithm');
    // keySize / curveOid are no parameters of fixed-parameter families
    const r = await w.call('POST', '/v1/key', { label: 'bad', algorithm: 'ML-DSA-44', keySize: 2048, attributes: SIGN });
    assert.equal(r.json().errorCode, 603);
  });

  it('algorithmOid alone selects the family', async () => {
    const r = await w.call('POST', '/v1/key', { label: 'by-oid', algorithmOid: '2.16.840.1.101.3.4.3.19', attributes: SIGN });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().json.algorithm, 'ML-DSA-87');
  });
});

describe('ML-KEM keys (FIPS 203) and encapsulation-based wrapping', () => {
  const KEM = { decrypt: false, sign: false, unwrap: true, wrap: true, destroyable: true };
  const SECRET = { decrypt: true, sign: false, unwrap: false, extractable: true, sensitive: false, destroyable: true };

  for (const level of ['512', '768', '1024']) {
    it(`ML-KEM-${level}: create → attributes → wrap AES-128/256 and HMAC keys → unwrap → same secret`, async () => {
      const kem = `kem-${level}`;
      const json = await create(kem, `ML-KEM-${level}`, KEM);
      assert.equal(json.algorithm, `ML-KEM-${level}`);
      assert.equal(json.algorithmOid, `2.16.840.1.101.3.4.4.${{ '512': 1, '768': 2, '1024': 3 }[level]}`);
      for (const [alg, size] of [['AES', 128], ['AES', 256], ['HMACSHA256', null]] as const) {
        const label = `sec-${level}-${alg}-${size}`;
        await create(label, alg, SECRET, size ? { keySize: size } : {});
        const original = (await w.call('POST', '/v1/key/export/plain', { label })).json().secretKey as string;
        const wr = await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: label, wrapKeyName: kem, wrapMethod: `ML-KEM-${level}` } }, 'keyOperationToken');
        assert.equal(wr.statusCode, 200, wr.body);
        const ctLen = { '512': 768, '768': 1088, '1024': 1568 }[level] as number;
        const wrapped = Buffer.from(wr.json().wrappedKey, 'base64');
        assert.equal(wrapped.length, ctLen + Buffer.from(original, 'base64').length + 8 + ((8 - (Buffer.from(original, 'base64').length % 8)) % 8));
        const un = await w.call('POST', '/v1/synchronousUnwrap', {
          unwrapKeyRequest: { wrappedKey: wr.json().wrappedKey, label: `${label}-back`, unwrapKeyName: kem, wrapMethod: `ML-KEM-${level}`, attributes: SECRET, ...(alg === 'AES' ? {} : { algorithm: alg }) },
        }, 'keyOperationToken');
        assert.equal(un.statusCode, 201, un.body);
        assert.equal(un.json().json.algorithm, alg);
        assert.equal((await w.call('POST', '/v1/key/export/plain', { label: `${label}-back` })).json().secretKey, original);
        // a flipped ciphertext bit decapsulates to another K (implicit rejection): the KWP check fails
        wrapped[5] ^= 1;
        const bad = await w.call('POST', '/v1/synchronousUnwrap', {
          unwrapKeyRequest: { wrappedKey: b64(wrapped), label: `${label}-bad`, unwrapKeyName: kem, wrapMethod: `ML-KEM-${level}`, attributes: SECRET },
        }, 'keyOperationToken');
        assert.equal(bad.json().errorCode, 410, bad.body);
      }
    });
  }

  it('a wrap made outside Warden from the exported public key unwraps (the documented construction)', async () => {
    const pk = decodeSpki(Buffer.from((await w.call('POST', '/v1/key/attributes', { label: 'kem-768' })).json().json.publicKey, 'base64')).raw;
    const { cipherText, sharedSecret } = ml_kem768.encapsulate(pk);
    const { createCipheriv } = await import('node:crypto');
    const secret = randomBytes(32);
    const c = createCipheriv('id-aes256-wrap-pad', Buffer.from(sharedSecret), Buffer.from('A65959A6', 'hex'));
    const kwp = Buffer.concat([c.update(secret), c.final()]);
    const un = await w.call('POST', '/v1/synchronousUnwrap', {
      unwrapKeyRequest: { wrappedKey: b64(Buffer.concat([cipherText, kwp])), label: 'outside-aes', unwrapKeyName: 'kem-768', wrapMethod: 'ML-KEM-768', attributes: SECRET },
    }, 'keyOperationToken');
    assert.equal(un.statusCode, 201, un.body);
    assert.equal((await w.call('POST', '/v1/key/export/plain', { label: 'outside-aes' })).json().secretKey, b64(secret));
  });

  it('refusals: wrong KEM level 607, an asymmetric key 613, a public-only KEM key cannot unwrap 613, an ML-KEM key does not sign 607', async () => {
    await create('sec-plain', 'AES', SECRET, { keySize: 256 });
    const wr = await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: 'sec-plain', wrapKeyName: 'kem-512', wrapMethod: 'ML-KEM-768' } }, 'keyOperationToken');
    assert.equal(wr.json().errorCode, 607);
    await create('ec-x', 'EC', { ...SIGN, extractable: true }, { curveOid: '1.2.840.10045.3.1.7' });
    assert.equal((await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: 'ec-x', wrapKeyName: 'kem-512', wrapMethod: 'ML-KEM-512' } }, 'keyOperationToken')).json().errorCode, 613);
    const pub = (await w.call('POST', '/v1/key/attributes', { label: 'kem-512' })).json().json.publicKey;
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'kem-pub', algorithm: 'ML-KEM-512', publicKey: pub });
    assert.equal(imp.statusCode, 201, imp.body);
    const w2 = await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: 'sec-plain', wrapKeyName: 'kem-pub', wrapMethod: 'ML-KEM-512' } }, 'keyOperationToken');
    assert.equal(w2.statusCode, 200, 'the public key alone can wrap');
    const u2 = await w.call('POST', '/v1/synchronousUnwrap', { unwrapKeyRequest: { wrappedKey: w2.json().wrappedKey, label: 'nope', unwrapKeyName: 'kem-pub', wrapMethod: 'ML-KEM-512', attributes: SECRET } }, 'keyOperationToken');
    assert.equal(u2.json().errorCode, 614, u2.body);
    assert.equal((await sign('kem-512', 'ML_DSA', MSG)).json().errorCode, 614, 'sign=false');
    const digest = createHash('sha256').update('x').digest();
    assert.ok(digest.length === 32);
  });
});
