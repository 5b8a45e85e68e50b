// Wycheproof cipher vectors through the HTTP API (keys imported with /v1/key/import/plain): AES-GCM,
// AES-CBC-PKCS5, Camellia-CBC-PKCS5, ChaCha20-Poly1305, AES-KW, AES-KWP, RSA-OAEP and RSA PKCS#1 v1.5
// decryption. Every vector's expected result is asserted; each file prints what ran and what was skipped.
// AES-KW/KWP vectors whose plaintext is no importable key size also run at the crypto level (counted apart).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createPrivateKey, privateDecrypt } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { implicitRejectionKey, privateExponentHash, unpadPkcs1Type2 } from '../src/crypto/ciphers/implicit-rejection.ts';
import { aesKeyUnwrap, aesKeyUnwrapPad, aesKeyWrap, aesKeyWrapPad } from '../src/crypto/wrapping/aes-kw.ts';
import { VectorCounter, checkVector, hasWycheproof, hex, loadWycheproof, wycheproofTests, type WycheproofGroup, type WycheproofTest } from './helpers/wycheproof.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const b64 = (b: Buffer) => b.toString('base64');

interface Reply {
  statusCode: number;
  body: string;
  json(): Record<string, unknown>;
}

describe('Wycheproof cipher vectors through the API', () => {
  let w: TestWarden;
  const labels = new Map<string, string>();
  let seq = 0;

  /** Imports a key once per distinct key material; returns its label. */
  async function keyFor(algorithm: string, material: { secretKey?: string; privateKey?: string }, attributes: Record<string, boolean>): Promise<string> {
    const id = `${algorithm}:${material.secretKey ?? material.privateKey}:${Object.keys(attributes).join()}`;
    const known = labels.get(id);
    if (known) return known;
    const label = `wp-${algorithm.toLowerCase()}-${++seq}`;
    const r = await w.call('POST', '/v1/key/import/plain', { label, algorithm, ...material, attributes });
    assert.equal(r.statusCode, 201, r.body);
    labels.set(id, label);
    return label;
  }
  const secretKey = (algorithm: string, key: Buffer, attributes: Record<string, boolean> = { decrypt: true, sign: false, unwrap: true, extractable: true, sensitive: false }) =>
    keyFor(algorithm, { secretKey: b64(key) }, attributes);

  const decrypt = (key: string, cipherAlgorithm: string, data: Buffer, extra: Record<string, unknown> = {}): Promise<Reply> =>
    w.call('POST', '/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(data), decryptKeyName: key, cipherAlgorithm, ...extra } }, 'keyOperationToken');

  /** Decrypt outcome: true when the payload comes back; a rejection must be 400/410 (never a 500). */
  function decrypted(r: Reply, expected: Buffer, context: string): boolean {
    if (r.statusCode === 200) return Buffer.from(r.json().payload as string, 'base64').equals(expected);
    assert.equal(r.statusCode, 400, `${context}: ${r.body}`);
    assert.equal(r.json().errorCode, 410, `${context}: ${r.body}`);
    return false;
  }

  before(async () => {
    // Thousands of calls, each with fsync'ed commits (synchronous = FULL): keep this data dir in RAM when the host has /dev/shm.
    w = await startTestWarden(existsSync('/dev/shm') ? { dataDir: mkdtempSync(path.join('/dev/shm', 'warden-wycheproof-')) } : {});
  });
  after(async () => w.close());

  /** AEAD files: decrypt ct ‖ tag with the vector IV and AAD. */
  async function aead(file: string, cipher: string, keyAlgorithm: string, tagSizes: number[]) {
    const data = loadWycheproof(file);
    const counter = new VectorCounter(file);
    for (const { group, test } of wycheproofTests(data)) {
      if (group.ivSize !== 96) {
        counter.skip('IV size ≠ 96 bits (Warden uses 12-byte IVs)');
        continue;
      }
      if (!tagSizes.includes(group.tagSize as number)) {
        counter.skip(`tag size ${group.tagSize} bits`);
        continue;
      }
      const key = await secretKey(keyAlgorithm, hex(test.key));
      const aad = hex(test.aad);
      const r = await decrypt(key, cipher, Buffer.concat([hex(test.ct), hex(test.tag)]), {
        initializationVector: b64(hex(test.iv)),
        additionalAuthenticationData: aad.length ? b64(aad) : null,
        tagLength: group.tagSize,
      });
      checkVector(counter, test, decrypted(r, hex(test.msg), `${file} tcId ${test.tcId}`));
    }
    counter.report(data.numberOfTests);
    return counter;
  }

  it('aes_gcm_test.json (AES_GCM, 12-byte IVs, tags of 64..128 bits)', { skip: !hasWycheproof('aes_gcm_test.json') }, async () => {
    const c = await aead('aes_gcm_test.json', 'AES_GCM', 'AES', [64, 96, 104, 112, 120, 128]);
    assert.ok(c.ran >= 190);
  });

  it('chacha20_poly1305_test.json (CHACHA20_AEAD)', { skip: !hasWycheproof('chacha20_poly1305_test.json') }, async () => {
    const c = await aead('chacha20_poly1305_test.json', 'CHACHA20_AEAD', 'ChaCha20', [128]);
    assert.ok(c.ran >= 300);
  });

  for (const [file, cipher, keyAlgorithm] of [['aes_cbc_pkcs5_test.json', 'AES', 'AES'], ['camellia_cbc_pkcs5_test.json', 'CAMELLIA', 'Camellia']]) {
    it(`${file} (${cipher}: CBC with PKCS#5 padding and the vector IV)`, { skip: !hasWycheproof(file) }, async () => {
      const data = loadWycheproof(file);
      const counter = new VectorCounter(file);
      for (const { test } of wycheproofTests(data)) {
        const key = await secretKey(keyAlgorithm, hex(test.key));
        const r = await decrypt(key, cipher, hex(test.ct), { initializationVector: b64(hex(test.iv)) });
        checkVector(counter, test, decrypted(r, hex(test.msg), `${file} tcId ${test.tcId}`));
      }
      counter.report(data.numberOfTests);
      assert.equal(counter.skipped, 0);
    });
  }

  /**
   * AES-KW / AES-KWP. Crypto level: every vector (wrap msg == ct and unwrap ct == msg for valid ones;
   * unwrap must fail for invalid ones). API: /v1/synchronousUnwrap for every vector (an invalid one must
   * be 400/410) where the plaintext is an importable secret-key size, and /v1/wrap of the imported msg
   * for valid ones (deterministic, must equal ct).
   */
  async function keywrap(file: string, method: 'AES_WRAP' | 'AES_WRAP_PAD') {
    const data = loadWycheproof(file);
    const api = new VectorCounter(`${file} (API)`);
    const crypto = new VectorCounter(`${file} (crypto level)`);
    const [wrapFn, unwrapFn] = method === 'AES_WRAP' ? [aesKeyWrap, aesKeyUnwrap] : [aesKeyWrapPad, aesKeyUnwrapPad];
    const keyAlgorithmFor = (len: number) => ([16, 24, 32].includes(len) ? 'AES' : [48, 64].includes(len) ? 'HMACSHA256' : null);
    for (const { test } of wycheproofTests(data)) {
      const kek = hex(test.key);
      const msg = hex(test.msg);
      const ct = hex(test.ct);
      // Crypto level.
      let unwrapped: Buffer | null = null;
      try {
        unwrapped = unwrapFn(kek, ct);
      } catch {
        unwrapped = null;
      }
      let wrapped: Buffer | null = null;
      try {
        wrapped = wrapFn(kek, msg);
      } catch {
        wrapped = null;
      }
      const cryptoOk = unwrapped !== null && unwrapped.equals(msg);
      if (test.result === 'valid') assert.ok(wrapped?.equals(ct), `${file} tcId ${test.tcId}: wrap(msg) == ct`);
      checkVector(crypto, test, cryptoOk);

      // API.
      const keyAlgorithm = keyAlgorithmFor(msg.length);
      if (!keyAlgorithm) {
        api.skip(`plaintext of ${msg.length} bytes is no importable secret key size`);
        continue;
      }
      const kekLabel = await secretKey('AES', kek, { decrypt: false, sign: false, unwrap: true, wrap: true });
      const label = `wp-unwrapped-${++seq}`;
      const r = await w.call('POST', '/v1/synchronousUnwrap', {
        unwrapKeyRequest: { wrappedKey: b64(ct), label, unwrapKeyName: kekLabel, wrapMethod: method, algorithm: keyAlgorithm, attributes: { decrypt: true, sign: false, unwrap: false, extractable: true, sensitive: false }, policy: null },
      }, 'keyOperationToken');
      let ok = false;
      if (r.statusCode === 201) {
        const exported = await w.call('POST', '/v1/key/export/plain', { label });
        ok = Buffer.from(exported.json().secretKey as string, 'base64').equals(msg);
      } else {
        assert.equal(r.statusCode, 400, r.body);
        assert.equal(r.json().errorCode, 410, `${file} tcId ${test.tcId}: ${r.body}`);
      }
      if (test.result === 'valid') {
        const target = await secretKey(keyAlgorithm, msg, { decrypt: true, sign: false, unwrap: false, extractable: true, sensitive: false });
        const wr = await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: target, wrapKeyName: kekLabel, wrapMethod: method } }, 'keyOperationToken');
        assert.equal(wr.statusCode, 200, wr.body);
        assert.deepEqual(Buffer.from(wr.json().wrappedKey as string, 'base64'), ct, `${file} tcId ${test.tcId}: /v1/wrap output`);
      }
      checkVector(api, test, ok);
    }
    crypto.report(data.numberOfTests);
    api.report(data.numberOfTests);
    return api;
  }

  it('aes_wrap_test.json (AES_WRAP, RFC 3394)', { skip: !hasWycheproof('aes_wrap_test.json') }, async () => {
    const api = await keywrap('aes_wrap_test.json', 'AES_WRAP');
    assert.ok(api.ran >= 100);
  });

  it('aes_kwp_test.json (AES_WRAP_PAD, RFC 5649)', { skip: !hasWycheproof('aes_kwp_test.json') }, async () => {
    const api = await keywrap('aes_kwp_test.json', 'AES_WRAP_PAD');
    assert.ok(api.ran >= 90);
  });

  const rsaKey = (group: WycheproofGroup) =>
    keyFor('RSA', { privateKey: b64(hex(group.privateKeyPkcs8)) }, { decrypt: true, sign: false, unwrap: true });

  it('rsa_oaep_2048_sha256_mgf1sha256_test.json (RSA_PADDING_OAEP_WITH_SHA256; RSA_WRAP_OAEP for key-sized messages)', { skip: !hasWycheproof('rsa_oaep_2048_sha256_mgf1sha256_test.json') }, async () => {
    const file = 'rsa_oaep_2048_sha256_mgf1sha256_test.json';
    const data = loadWycheproof(file);
    const counter = new VectorCounter(file);
    let unwraps = 0;
    for (const { group, test } of wycheproofTests(data)) {
      assert.equal(group.sha, 'SHA-256');
      assert.equal(group.mgfSha, 'SHA-256');
      if (test.label !== '') {
        counter.skip('non-empty OAEP label (the API has no label field)');
        continue;
      }
      const key = await rsaKey(group);
      const r = await decrypt(key, 'RSA_PADDING_OAEP_WITH_SHA256', hex(test.ct));
      checkVector(counter, test, decrypted(r, hex(test.msg), `${file} tcId ${test.tcId}`));
      const msg = hex(test.msg);
      if ([16, 24, 32].includes(msg.length) || test.result === 'invalid') {
        const label = `wp-oaep-unwrapped-${++seq}`;
        const u = await w.call('POST', '/v1/synchronousUnwrap', {
          unwrapKeyRequest: { wrappedKey: b64(hex(test.ct)), label, unwrapKeyName: key, wrapMethod: 'RSA_WRAP_OAEP', attributes: { decrypt: true, sign: false, unwrap: false, extractable: true, sensitive: false }, policy: null },
        }, 'keyOperationToken');
        if (test.result === 'valid') {
          assert.equal(u.statusCode, 201, u.body);
          const exported = await w.call('POST', '/v1/key/export/plain', { label });
          assert.deepEqual(Buffer.from(exported.json().secretKey as string, 'base64'), msg);
        } else {
          assert.equal(u.statusCode, 400, u.body);
          assert.equal(u.json().errorCode, 410, u.body);
        }
        unwraps++;
      }
    }
    counter.report(data.numberOfTests);
    console.log(`[wycheproof] ${file}: ${unwraps} vectors also run through /v1/synchronousUnwrap RSA_WRAP_OAEP`);
  });

  it('rsa_pkcs1_2048_test.json (RSA_PADDING_PKCS: valid → the message; invalid → 410 or the implicit-rejection message)', { skip: !hasWycheproof('rsa_pkcs1_2048_test.json') }, async () => {
    const file = 'rsa_pkcs1_2048_test.json';
    const data = loadWycheproof(file);
    const counter = new VectorCounter(file);
    let synthetic = 0;
    let refused = 0;
    for (const { group, test } of wycheproofTests(data)) {
      const key = await rsaKey(group);
      const ct = hex(test.ct);
      const msg = hex(test.msg);
      const r = await decrypt(key, 'RSA_PADDING_PKCS', ct);
      const outcome = decryptedPkcs1(r, group, test, ct, msg);
      if (outcome === 'synthetic') synthetic++;
      if (outcome === 'refused') refused++;
      checkVector(counter, test, outcome === 'message');
    }
    counter.report(data.numberOfTests);
    console.log(`[wycheproof] ${file}: invalid vectors answered with the implicit-rejection message: ${synthetic}, refused with 410 (not an integer below the modulus): ${refused}`);
    assert.ok(synthetic > 0);
  });

  /**
   * A PKCS#1 v1.5 answer is the message, the synthetic message of implicit rejection (recomputed here
   * from the private key, independently of the API), or 410 for ciphertexts that are no integer below n.
   */
  function decryptedPkcs1(r: Reply, group: WycheproofGroup, test: WycheproofTest, ct: Buffer, msg: Buffer): 'message' | 'synthetic' | 'refused' {
    const key = createPrivateKey({ key: hex(group.privateKeyPkcs8), format: 'der', type: 'pkcs8' });
    const k = Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    let expectedSynthetic: Buffer | null = null;
    try {
      const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ct);
      expectedSynthetic = unpadPkcs1Type2(em, implicitRejectionKey(privateExponentHash(key), ct, k));
    } catch {
      expectedSynthetic = null;
    }
    if (r.statusCode !== 200) {
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(r.json().errorCode, 410, r.body);
      assert.ok(ct.length === 0 || ct.length > k || expectedSynthetic === null, `tcId ${test.tcId}: only out-of-range ciphertexts may be refused`);
      return 'refused';
    }
    const payload = Buffer.from(r.json().payload as string, 'base64');
    if (payload.equals(msg) && test.result === 'valid') return 'message';
    assert.ok(expectedSynthetic, `tcId ${test.tcId}: decryptable ciphertext`);
    assert.deepEqual(payload, expectedSynthetic, `tcId ${test.tcId} (${test.comment}): the answer is the implicit-rejection message`);
    return 'synthetic';
  }
});
