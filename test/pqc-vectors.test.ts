// Known-answer vectors of the post-quantum and hash-based families, through the HTTP API where it can
// express them: Wycheproof ML-DSA verify (public-key import + /v1/verify, with context), Wycheproof
// ML-KEM (seed import → public key; decapsulation through an ML-KEM unwrap of c ‖ KWP(K, secret)),
// the RFC 8554 HSS/LMS test cases (public-key import + /v1/verify; key generation and signing KATs at
// the crypto level), and Botan's XMSS-SHA2_10_256 vectors (public-key import + /v1/verify).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodePkcs8, encodeSeed, encodeSpki } from '../src/crypto/pqc/asn1.ts';
import { HSS_LMS_OID, ML_DSA_OIDS, ML_KEM_OIDS, XMSS_OID } from '../src/crypto/pqc/keys.ts';
import { encodeLmsPrivate, hssVerify, lmsPublicKey, lmsSign } from '../src/crypto/pqc/lms.ts';
import { xmssVerify } from '../src/crypto/pqc/xmss.ts';
import { fastDataDir } from './helpers/signature-keys.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { VectorCounter, checkVector, hasWycheproof, hex, loadWycheproof, wycheproofTests } from './helpers/wycheproof.ts';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
let w: TestWarden;
let n = 0;
const label = (p: string) => `${p}-${++n}`;

before(async () => {
  w = await startTestWarden({ dataDir: fastDataDir() });
});
after(async () => {
  await w.close();
});

async function importPublic(algorithm: string, spki: Buffer): Promise<string | null> {
  const l = label(algorithm);
  const r = await w.call('POST', '/v1/key/import/plain', { label: l, algorithm, publicKey: b64(spki) });
  return r.statusCode === 201 ? l : null;
}

/** /v1/verify through the API; a 4xx (malformed context, …) is a rejected signature. */
async function apiVerify(key: string, alg: string, msg: Buffer, sig: Buffer, extra: Record<string, unknown> = {}): Promise<boolean> {
  const r = await w.call('POST', '/v1/verify', { verifySignatureRequest: { signKeyName: key, signatureAlgorithm: alg, payload: b64(msg), signature: b64(sig), ...extra } }, 'keyOperationToken');
  if (r.statusCode !== 200) {
    assert.equal(r.statusCode, 400, r.body);
    return false;
  }
  return r.json().signatureValid as boolean;
}

describe('Wycheproof ML-DSA verify vectors through /v1/verify', () => {
  for (const level of ['44', '65', '87'] as const) {
    const file = `mldsa_${level}_verify_test.json`;
    it(file, { skip: !hasWycheproof(file) && `${file} not present` }, async () => {
      const data = loadWycheproof(file);
      const counter = new VectorCounter(file);
      for (const group of data.testGroups) {
        const raw = hex(group.publicKey);
        const spki = typeof group.publicKeyDer === 'string' ? hex(group.publicKeyDer) : encodeSpki(ML_DSA_OIDS[level], raw);
        // A public key of the wrong length is refused at import: every signature under it is rejected.
        const key = await importPublic(`ML-DSA-${level}`, spki);
        for (const test of group.tests) {
          const ctx = typeof test.ctx === 'string' ? { context: b64(hex(test.ctx)) } : {};
          const ok = key ? await apiVerify(key, 'ML_DSA', hex(test.msg), hex(test.sig), ctx) : false;
          checkVector(counter, test, ok);
        }
      }
      counter.report(data.numberOfTests);
    });
  }
});

describe('Wycheproof ML-KEM vectors through the API', () => {
  for (const level of ['512', '768', '1024'] as const) {
    const file = `mlkem_${level}_test.json`;
    it(file, { skip: !hasWycheproof(file) && `${file} not present` }, async () => {
      const data = loadWycheproof(file);
      const counter = new VectorCounter(file);
      const attrs = { decrypt: false, sign: false, unwrap: true, wrap: true };
      const secretAttrs = { decrypt: true, sign: false, unwrap: false, extractable: true, sensitive: false };
      for (const { test } of wycheproofTests(data)) {
        // Key generation: the seed (d ‖ z) imported as an RFC 9935 private key must give ek.
        const l = label(`kem${level}`);
        const imp = await w.call('POST', '/v1/key/import/plain', { label: l, algorithm: `ML-KEM-${level}`, privateKey: b64(encodePkcs8(ML_KEM_OIDS[level], encodeSeed(hex(test.seed)))), attributes: attrs });
        if (imp.statusCode !== 201) {
          assert.equal(imp.json().errorCode, 625, imp.body);
          checkVector(counter, test, false, '(seed refused)');
          continue;
        }
        const spki = Buffer.from(imp.json().json.publicKey, 'base64');
        if (typeof test.ek === 'string') assert.ok(spki.equals(encodeSpki(ML_KEM_OIDS[level], hex(test.ek))), `tcId ${test.tcId}: ek`);
        // Decapsulation: wrap a fresh secret with the expected K; unwrapping recovers it only if Decaps(c) = K.
        const secret = randomBytes(32);
        const K = hex(test.K);
        let wrapped: Buffer;
        if (K.length === 32) {
          const c = createCipheriv('id-aes256-wrap-pad', K, Buffer.from('A65959A6', 'hex'));
          wrapped = Buffer.concat([hex(test.c), c.update(secret), c.final()]);
        } else {
          wrapped = Buffer.concat([hex(test.c), randomBytes(40)]);
        }
        const target = label('sec');
        const un = await w.call('POST', '/v1/synchronousUnwrap', { unwrapKeyRequest: { wrappedKey: b64(wrapped), label: target, unwrapKeyName: l, wrapMethod: `ML-KEM-${level}`, attributes: secretAttrs } }, 'keyOperationToken');
        let ok = false;
        if (un.statusCode === 201) ok = (await w.call('POST', '/v1/key/export/plain', { label: target })).json().secretKey === b64(secret);
        else assert.equal(un.json().errorCode, 410, un.body);
        checkVector(counter, test, ok);
      }
      counter.report(data.numberOfTests);
    });
  }
});

interface LmsVectors {
  cases: { name: string; publicKey: string; message: string; signature: string }[];
  keygen: { name: string; lmsType: number; otsType: number; I: string; seed: string; root: string }[];
  signKat: { keygen: number; q: number; C: string; message: string };
}

describe('RFC 8554 HSS/LMS test cases', () => {
  const v = JSON.parse(readFileSync(new URL('./vectors/rfc8554.json', import.meta.url), 'utf8')) as LmsVectors;
  const h = (s: string) => Buffer.from(s, 'hex');

  it('Test Cases 1 and 2 (two-level HSS) verify through /v1/verify (LMS) and fail when a byte changes', async () => {
    let ran = 0;
    for (const c of v.cases) {
      const key = await importPublic('LMS', encodeSpki(HSS_LMS_OID, h(c.publicKey)));
      assert.ok(key, `${c.name}: public key import`);
      assert.equal(await apiVerify(key, 'LMS', h(c.message), h(c.signature)), true, c.name);
      const bad = h(c.signature);
      bad[bad.length - 40] ^= 1;
      assert.equal(await apiVerify(key, 'LMS', h(c.message), bad), false, `${c.name} tampered`);
      assert.equal(await apiVerify(key, 'LMS', Buffer.from('other'), h(c.signature)), false, `${c.name} other message`);
      ran += 3;
    }
    console.log(`[rfc8554] verify: ran ${ran} checks over ${v.cases.length} test cases, skipped 0`);
  });

  it('key generation (Appendix A derivation) reproduces both Test Case 2 roots; signing with the RFC C reproduces the final signature', () => {
    for (const k of v.keygen) {
      const pub = lmsPublicKey(encodeLmsPrivate(k.lmsType, k.otsType, h(k.I), h(k.seed)));
      assert.equal(Buffer.from(pub.subarray(28)).toString('hex'), k.root, k.name);
    }
    const kg = v.keygen[v.signKat.keygen];
    const sig = lmsSign(encodeLmsPrivate(kg.lmsType, kg.otsType, h(kg.I), h(kg.seed)), v.signKat.q, h(v.signKat.message), h(v.signKat.C));
    const tc2 = h(v.cases[1].signature);
    assert.ok(Buffer.from(sig.subarray(4)).equals(tc2.subarray(tc2.length - (sig.length - 4))), 'bottom-level LMS signature of Test Case 2');
    assert.ok(hssVerify(h(v.cases[1].publicKey), h(v.cases[1].message), h(v.cases[1].signature)));
    console.log(`[rfc8554] keygen: ran ${v.keygen.length}, sign: ran 1, skipped 0`);
  });
});

describe('XMSS-SHA2_10_256 vectors (Botan xmss_verify.vec, RFC 8391 encodings)', () => {
  const v = JSON.parse(readFileSync(new URL('./vectors/xmss.json', import.meta.url), 'utf8')) as { cases: { publicKey: string; message: string; signature: string }[] };
  const h = (s: string) => Buffer.from(s, 'hex');
  it('verify through /v1/verify (XMSS-SHA256_10_256); a changed byte and the SHAKE name fail', async () => {
    let ran = 0;
    for (const c of v.cases) {
      assert.ok(xmssVerify(h(c.publicKey), h(c.message), h(c.signature)));
      const key = await importPublic('XMSS-SHA256_10_256', encodeSpki(XMSS_OID, h(c.publicKey)));
      assert.ok(key);
      assert.equal(await apiVerify(key, 'XMSS-SHA256_10_256', h(c.message), h(c.signature)), true);
      const bad = h(c.signature);
      bad[100] ^= 1;
      assert.equal(await apiVerify(key, 'XMSS-SHA256_10_256', h(c.message), bad), false);
      const r = await w.call('POST', '/v1/verify', { verifySignatureRequest: { signKeyName: key, signatureAlgorithm: 'XMSS-SHAKE256_10_256', payload: b64(h(c.message)), signature: b64(h(c.signature)) } }, 'keyOperationToken');
      assert.equal(r.json().errorCode, 607, 'the key is XMSS-SHA2_10_256');
      ran += 3;
    }
    // importing it as the SHAKE type is refused
    const r = await w.call('POST', '/v1/key/import/plain', { label: 'xmss-wrong', algorithm: 'XMSS-SHAKE256_10_256', publicKey: b64(encodeSpki(XMSS_OID, h(v.cases[0].publicKey))) });
    assert.equal(r.json().errorCode, 613);
    console.log(`[xmss] verify: ran ${ran} checks over ${v.cases.length} vectors, skipped 0 (no XMSS-SHAKE256_10_256 vectors available: self-consistency only)`);
  });
});
