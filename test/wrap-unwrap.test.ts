// POST /v1/wrap and /v1/synchronousUnwrap: the 14 methods round-trip (the unwrapped key reports the
// original algorithm, alwaysSensitive/neverExtractable false), README decision 7 checked byte for byte
// with node:crypto, RSA wraps checked with `openssl pkeyutl`, and the error codes. On the PKCS#11
// keystore wraps run on the token (C_WrapKey/C_UnwrapKey); what it cannot do is asserted as 400/611.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, createCipheriv, createDecipheriv, createPrivateKey, createPublicKey, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { implicitRejectionKey, privateExponentHash, unpadPkcs1Type2 } from '../src/crypto/ciphers/implicit-rejection.ts';
import { WRAP_METHODS, WRAP_METHOD_NAMES } from '../src/crypto/wrapping/registry.ts';
import { ON_TOKEN, assertRefusedOnToken, refusedOnToken } from './helpers/keystore-under-test.ts';
import { trimDerPadding } from '../src/crypto/wrapping/wrap.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const b64 = (b: Buffer) => b.toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64');
const EXPORTABLE = { extractable: true, sensitive: false };
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
const KWP_IV = Buffer.from('A65959A6', 'hex');

describe('wrap / unwrap', () => {
  let w: TestWarden;
  let dir: string;
  const kek = randomBytes(32);
  const secret = randomBytes(32);
  let rsaKek: { privateKey: KeyObject; publicKey: KeyObject };
  const ko = (url: string, body: unknown) => w.call('POST', url, body, 'keyOperationToken');
  const wrap = (keyToBeWrapped: string, wrapKeyName: string, wrapMethod: string, extra: Record<string, unknown> = {}) =>
    ko('/v1/wrap', { wrapKeyRequest: { keyToBeWrapped, wrapKeyName, wrapMethod, ...extra } });
  const unwrap = (wrappedKey: Buffer, label: string, unwrapKeyName: string, wrapMethod: string, extra: Record<string, unknown> = {}) =>
    ko('/v1/synchronousUnwrap', {
      unwrapKeyRequest: { wrappedKey: b64(wrappedKey), label, unwrapKeyName, wrapMethod, attributes: { decrypt: true, sign: true, unwrap: false, ...EXPORTABLE }, policy: null, ...extra },
    });
  const exportPlain = async (label: string) => {
    const r = await w.call('POST', '/v1/key/export/plain', { label });
    assert.equal(r.statusCode, 200, r.body);
    return r.json() as { privateKey: string | null; publicKey: string | null; secretKey: string | null };
  };
  function expectError(r: { statusCode: number; body: string }, status: number, code: number) {
    assert.equal(r.statusCode, status, r.body);
    assert.equal(JSON.parse(r.body).errorCode, code, r.body);
  }
  async function km(url: string, body: unknown, status = 201) {
    const r = await w.call('POST', url, body);
    assert.equal(r.statusCode, status, r.body);
    return r;
  }

  before(async () => {
    // Many calls with fsync'ed commits: keep the data dir in RAM when the host has /dev/shm.
    w = await startTestWarden(existsSync('/dev/shm') ? { dataDir: mkdtempSync(path.join('/dev/shm', 'warden-wrap-data-')) } : {});
    dir = mkdtempSync(path.join(tmpdir(), 'warden-wrap-'));
    rsaKek = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await km('/v1/key/import/plain', { label: 'kek', algorithm: 'AES', secretKey: b64(kek), attributes: { decrypt: false, sign: false, unwrap: true, wrap: true } });
    await km('/v1/key/import/plain', {
      label: 'rsa-kek', algorithm: 'RSA', privateKey: b64(rsaKek.privateKey.export({ type: 'pkcs8', format: 'der' })),
      attributes: { decrypt: false, sign: false, unwrap: true, wrap: true },
    });
    await km('/v1/key/import/plain', { label: 'rsa-kek-public', algorithm: 'RSA', publicKey: b64(rsaKek.publicKey.export({ type: 'spki', format: 'der' })) });
    await km('/v1/key/import/plain', { label: 'aes-target', algorithm: 'AES', secretKey: b64(secret), attributes: { decrypt: true, sign: false, unwrap: false, ...EXPORTABLE } });
    const asym = { decrypt: false, sign: true, unwrap: false, ...EXPORTABLE };
    await km('/v1/key', { label: 'ec-target', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: asym });
    await km('/v1/key', { label: 'ec-k1-target', algorithm: 'EC', curveOid: '1.3.132.0.10', attributes: asym });
    await km('/v1/key', { label: 'rsa-target', algorithm: 'RSA', keySize: 2048, attributes: asym });
    await km('/v1/key', { label: 'ed-target', algorithm: 'ED', curveOid: '1.3.101.112', attributes: asym });
    if (refusedOnToken({ key: 'DSA' })) assertRefusedOnToken(await w.call('POST', '/v1/key', { label: 'dsa-target', algorithm: 'DSA', keySize: 2048, attributes: asym }), 'DSA key');
    else await km('/v1/key', { label: 'dsa-target', algorithm: 'DSA', keySize: 2048, attributes: asym });
    await km('/v1/key', { label: 'locked', algorithm: 'AES', keySize: 256, attributes: { decrypt: true, sign: false, unwrap: false } });
    await km('/v1/key', { label: 'no-wrap', algorithm: 'AES', keySize: 256, attributes: { decrypt: true, sign: false, unwrap: false, wrap: false } });
  });
  after(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips every AES and RSA method but BLS; the new key reports the original algorithm and is never "always sensitive"', async () => {
    const cases: Array<[string, string, string]> = [
      ['AES_WRAP', 'aes-target', 'kek'], ['AES_WRAP_PAD', 'aes-target', 'kek'],
      ['AES_WRAP_RSA', 'rsa-target', 'kek'], ['AES_WRAP_PAD_RSA', 'rsa-target', 'kek'],
      ['AES_WRAP_EC', 'ec-target', 'kek'], ['AES_WRAP_PAD_EC', 'ec-target', 'kek'],
      ['AES_WRAP_EC', 'ec-k1-target', 'kek'], ['AES_WRAP_PAD_EC', 'ec-k1-target', 'kek'],
      ['AES_WRAP_ED', 'ed-target', 'kek'], ['AES_WRAP_PAD_ED', 'ed-target', 'kek'],
      ['AES_WRAP_DSA', 'dsa-target', 'kek'], ['AES_WRAP_PAD_DSA', 'dsa-target', 'kek'],
      ['RSA_WRAP_PAD', 'aes-target', 'rsa-kek'], ['RSA_WRAP_OAEP', 'aes-target', 'rsa-kek'],
      ['RSA_WRAP_PAD', 'aes-target', 'rsa-kek-public'], ['RSA_WRAP_OAEP', 'aes-target', 'rsa-kek-public'],
    ];
    const methods = new Set<string>();
    for (const [i, [method, target, wrapping]] of cases.entries()) {
      const r = await wrap(target, wrapping, method);
      methods.add(method);
      // The token refused the DSA key itself (asserted in before()): nothing to wrap.
      if (target === 'dsa-target' && refusedOnToken({ key: 'DSA' })) {
        expectError(r, 404, 650);
        continue;
      }
      if (refusedOnToken({ wrap: method })) {
        assertRefusedOnToken(r, `${method} of ${target}`);
        continue;
      }
      assert.equal(r.statusCode, 200, `${method} ${target}: ${r.body}`);
      const wrapped = unb64(r.json().wrappedKey);
      const original = await exportPlain(target);
      const label = `unwrapped-${i}`;
      const u = await unwrap(wrapped, label, wrapping === 'rsa-kek-public' ? 'rsa-kek' : wrapping, method);
      assert.equal(u.statusCode, 201, `${method} ${target}: ${u.body}`);
      const json = u.json().json;
      const originalAttrs = (await km('/v1/key/attributes', { label: target }, 200)).json().json;
      assert.equal(json.algorithm, originalAttrs.algorithm, `${method}: algorithm of the unwrapped key`);
      assert.equal(json.curveOid, originalAttrs.curveOid);
      assert.equal(json.keySize, originalAttrs.keySize);
      assert.equal(json.attributes.alwaysSensitive, false);
      assert.equal(json.attributes.neverExtractable, false);
      assert.match(u.json().xml, /creation="imported"/);
      const copy = await exportPlain(label);
      assert.deepEqual(copy, original, `${method} ${target}: the unwrapped key is the original key`);
    }
    console.log(`[wrap-unwrap] ${cases.length} wrap → unwrap round trips over ${methods.size} methods`);
    // Every AES and RSA method but the two BLS ones (BLS keys come with another issue).
    assert.equal(methods.size, WRAP_METHODS.filter((m) => ['AES', 'RSA'].includes(m.wrappingAlgorithm) && m.target !== 'BLS').length);
  });

  it('AES wraps are RFC 3394 / RFC 5649 of the raw secret or the (zero-padded, decision 7) PKCS#8 DER', async () => {
    const kw = createCipheriv('id-aes256-wrap', kek, KW_IV);
    const expected = Buffer.concat([kw.update(secret), kw.final()]);
    assert.deepEqual(unb64((await wrap('aes-target', 'kek', 'AES_WRAP')).json().wrappedKey), expected);
    const kwp = createCipheriv('id-aes256-wrap-pad', kek, KWP_IV);
    assert.deepEqual(unb64((await wrap('aes-target', 'kek', 'AES_WRAP_PAD')).json().wrappedKey), Buffer.concat([kwp.update(secret), kwp.final()]));
    for (const [target, alg] of [['ec-target', 'EC'], ['rsa-target', 'RSA'], ['ed-target', 'ED'], ['dsa-target', 'DSA']]) {
      if (refusedOnToken({ key: alg })) continue; // never created (asserted in before())
      const pkcs8 = unb64((await exportPlain(target)).privateKey as string);
      const w1 = await wrap(target, 'kek', `AES_WRAP_${alg}`);
      if (refusedOnToken({ wrap: `AES_WRAP_${alg}` })) assertRefusedOnToken(w1, `AES_WRAP_${alg}`);
      else {
        const d = createDecipheriv('id-aes256-wrap', kek, KW_IV);
        const plain = Buffer.concat([d.update(unb64(w1.json().wrappedKey)), d.final()]);
        assert.equal(plain.length % 8, 0);
        // The token writes its own PKCS#8 of the key (an EC one without the optional public key): it
        // decodes to the same private key, so compare the keys, and the bytes where the writer is ours.
        const inner = trimDerPadding(plain);
        assert.ok(plain.subarray(inner.length).every((b) => b === 0), `AES_WRAP_${alg} pads with zeros`);
        const publicOf = (der: Buffer) => createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'der' });
        if (ON_TOKEN) assert.deepEqual(publicOf(inner), publicOf(pkcs8), `AES_WRAP_${alg} carries the key (same public key derived)`);
        else assert.deepEqual(inner, pkcs8, `AES_WRAP_${alg} carries the PKCS#8 DER`);
      }
      const w2 = await wrap(target, 'kek', `AES_WRAP_PAD_${alg}`);
      if (refusedOnToken({ wrap: `AES_WRAP_PAD_${alg}` })) {
        assertRefusedOnToken(w2, `AES_WRAP_PAD_${alg}`);
        continue;
      }
      const dp = createDecipheriv('id-aes256-wrap-pad', kek, KWP_IV);
      const unpadded = Buffer.concat([dp.update(unb64(w2.json().wrappedKey)), dp.final()]);
      assert.deepEqual(unpadded, pkcs8, `AES_WRAP_PAD_${alg} carries the exact PKCS#8 DER`);
    }
  });

  it('RSA wraps interoperate with `openssl pkeyutl` (PKCS#1 v1.5; OAEP SHA-256 + MGF1-SHA-256) both ways', async () => {
    const priv = path.join(dir, 'kek.pem');
    const pub = path.join(dir, 'kek-pub.pem');
    writeFileSync(priv, rsaKek.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(pub, rsaKek.publicKey.export({ type: 'spki', format: 'pem' }));
    const opts: Record<string, string[]> = {
      RSA_WRAP_PAD: ['-pkeyopt', 'rsa_padding_mode:pkcs1'],
      RSA_WRAP_OAEP: ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha256', '-pkeyopt', 'rsa_mgf1_md:sha256'],
    };
    for (const [method, o] of Object.entries(opts)) {
      if (refusedOnToken({ wrap: method })) {
        assertRefusedOnToken(await wrap('aes-target', 'rsa-kek', method), `${method} wrap`);
        const theirs = execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', pub, ...o], { input: randomBytes(24) });
        assertRefusedOnToken(await unwrap(theirs, `from-openssl-${method}`, 'rsa-kek', method), `${method} unwrap`);
        continue;
      }
      const wrapped = unb64((await wrap('aes-target', 'rsa-kek', method)).json().wrappedKey);
      assert.deepEqual(execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', priv, ...o], { input: wrapped }), secret, `${method}: openssl unwraps`);
      const foreign = randomBytes(24);
      const theirs = execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', pub, ...o], { input: foreign });
      const u = await unwrap(theirs, `from-openssl-${method}`, 'rsa-kek', method);
      assert.equal(u.statusCode, 201, u.body);
      assert.equal(u.json().json.algorithm, 'AES');
      assert.equal(u.json().json.keySize, 192);
      assert.deepEqual(unb64((await exportPlain(`from-openssl-${method}`)).secretKey as string), foreign);
    }
  });

  it('symmetric algorithms other than AES are named with unwrapKeyRequest.algorithm (Warden extension)', async () => {
    const cases: Array<[string, Buffer, string | undefined, string]> = [
      ['chacha', randomBytes(32), 'ChaCha20', 'ChaCha20'],
      ['camellia', randomBytes(16), 'Camellia', 'Camellia'],
      ['hmac', randomBytes(64), 'HMACSHA256', 'HMACSHA256'],
      ['default-aes', randomBytes(24), undefined, 'AES'],
    ];
    for (const [name, bytes, algorithm, reported] of cases) {
      const k = createCipheriv('id-aes256-wrap-pad', kek, KWP_IV);
      const wrapped = Buffer.concat([k.update(bytes), k.final()]);
      const u = await unwrap(wrapped, `sym-${name}`, 'kek', 'AES_WRAP_PAD', algorithm ? { algorithm } : {});
      if (refusedOnToken({ key: reported })) {
        assertRefusedOnToken(u, `unwrap into a ${reported} key`);
        continue;
      }
      assert.equal(u.statusCode, 201, u.body);
      assert.equal(u.json().json.algorithm, reported);
      assert.deepEqual(unb64((await exportPlain(`sym-${name}`)).secretKey as string), bytes);
    }
    const k = createCipheriv('id-aes256-wrap-pad', kek, KWP_IV);
    const wrapped64 = Buffer.concat([k.update(randomBytes(64)), k.final()]);
    expectError(await unwrap(wrapped64, 'sym-unnamed', 'kek', 'AES_WRAP_PAD'), 400, 600);
    expectError(await unwrap(wrapped64, 'sym-ec', 'kek', 'AES_WRAP_PAD', { algorithm: 'EC' }), 400, 600);
  });

  it('trimDerPadding reads short- and long-form DER lengths and leaves raw keys alone', () => {
    const der = Buffer.concat([Buffer.from([0x30, 0x82, 0x01, 0x00]), randomBytes(256)]);
    assert.deepEqual(trimDerPadding(Buffer.concat([der, Buffer.alloc(4)])), der);
    const short = Buffer.from([0x30, 0x03, 1, 2, 3]);
    assert.deepEqual(trimDerPadding(Buffer.concat([short, Buffer.alloc(3)])), short);
    const raw = randomBytes(32);
    raw[0] = 0x42;
    assert.deepEqual(trimDerPadding(raw), raw);
    const notPadding = Buffer.from([0x30, 0x03, 1, 2, 3, 0, 0, 9]);
    assert.deepEqual(trimDerPadding(notPadding), notPadding);
  });

  describe('errors', () => {
    it('only extractable keys can be wrapped → 400/614; the wrapping key needs `wrap`, the unwrapping key `unwrap` → 400/614', async () => {
      expectError(await wrap('locked', 'kek', 'AES_WRAP'), 400, 614);
      expectError(await wrap('aes-target', 'no-wrap', 'AES_WRAP'), 400, 614);
      const wrapped = unb64((await wrap('aes-target', 'kek', 'AES_WRAP')).json().wrappedKey);
      expectError(await unwrap(wrapped, 'x-no-unwrap', 'no-wrap', 'AES_WRAP'), 400, 614);
      expectError(await unwrap(randomBytes(256), 'x-public', 'rsa-kek-public', 'RSA_WRAP_OAEP'), 400, 614);
    });

    it('the method must fit the wrapping key (400/607) and the wrapped key (400/613), BLS methods included', async () => {
      expectError(await wrap('aes-target', 'rsa-kek', 'AES_WRAP'), 400, 607);
      expectError(await wrap('aes-target', 'kek', 'RSA_WRAP_OAEP'), 400, 607);
      expectError(await wrap('ec-target', 'kek', 'AES_WRAP_RSA'), 400, 613);
      expectError(await wrap('aes-target', 'kek', 'AES_WRAP_EC'), 400, 613);
      expectError(await wrap('ec-target', 'kek', 'AES_WRAP'), 400, 613);
      expectError(await wrap('ec-target', 'rsa-kek', 'RSA_WRAP_PAD'), 400, 613);
      expectError(await wrap('ec-target', 'kek', 'AES_WRAP_BLS'), 400, 613);
      expectError(await wrap('ed-target', 'kek', 'AES_WRAP_PAD_BLS'), 400, 613);
      expectError(await unwrap(randomBytes(40), 'x-607', 'rsa-kek', 'AES_WRAP_PAD'), 400, 607);
      // An authentic blob unwrapped with the wrong asymmetric method names the mismatch.
      const [ecMethod, rsaMethod] = refusedOnToken({ wrap: 'AES_WRAP_PAD_EC' }) ? ['AES_WRAP_EC', 'AES_WRAP_RSA'] : ['AES_WRAP_PAD_EC', 'AES_WRAP_PAD_RSA'];
      const ecBlob = unb64((await wrap('ec-target', 'kek', ecMethod)).json().wrappedKey);
      expectError(await unwrap(ecBlob, 'x-613', 'kek', rsaMethod), 400, 613);
    });

    it('passwords of both keys are checked → 400/620', async () => {
      await km('/v1/key/import/plain', { label: 'pw-target', algorithm: 'AES', secretKey: b64(randomBytes(16)), password: [...'pw'], attributes: { decrypt: true, sign: false, unwrap: false, extractable: true } });
      expectError(await wrap('pw-target', 'kek', 'AES_WRAP'), 400, 620);
      assert.equal((await wrap('pw-target', 'kek', 'AES_WRAP', { keyToBeWrappedPassword: [...'pw'] })).statusCode, 200);
      expectError(await wrap('aes-target', 'kek', 'AES_WRAP', { wrapKeyPassword: [...'nope'] }), 400, 620);
      const wrapped = unb64((await wrap('aes-target', 'kek', 'AES_WRAP')).json().wrappedKey);
      expectError(await unwrap(wrapped, 'x-pw', 'kek', 'AES_WRAP', { unwrapKeyPassword: 'nope' }), 400, 620);
    });

    it('tampered or mis-keyed wrapped keys → 400/410 (AES integrity check; OAEP; PKCS#1 via implicit rejection)', async () => {
      for (const method of ['AES_WRAP', 'AES_WRAP_PAD', 'AES_WRAP_PAD_EC', 'AES_WRAP_EC', 'RSA_WRAP_OAEP']) {
        const target = method.endsWith('_EC') ? 'ec-target' : 'aes-target';
        const wrapping = method.startsWith('RSA') ? 'rsa-kek' : 'kek';
        if (refusedOnToken({ wrap: method })) {
          assertRefusedOnToken(await wrap(target, wrapping, method), method);
          continue;
        }
        const wrapped = unb64((await wrap(target, wrapping, method)).json().wrappedKey);
        wrapped[wrapped.length - 1] ^= 0x01;
        expectError(await unwrap(wrapped, `tampered-${method}`, wrapping, method), 400, 410);
      }
      expectError(await unwrap(randomBytes(12), 'x-short', 'kek', 'AES_WRAP'), 400, 410);
    });

    it('RSA_WRAP_PAD with a bad padding answers like a wrong key: implicit rejection, then 410 unless the synthetic bytes form a key', async () => {
      // Implicit rejection turns a bad padding into a deterministic synthetic message; whether it is
      // 16/24/32 bytes long (then it becomes a key) is unpredictable without the private key.
      const priv = rsaKek.privateKey;
      const dHash = privateExponentHash(priv);
      let rejected: Buffer | null = null;
      let accepted: Buffer | null = null;
      for (let i = 0; i < 5000 && (!rejected || !accepted); i++) {
        const ct = publicEncrypt({ key: rsaKek.publicKey, padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.from([0, 1]), randomBytes(254)]));
        const em = privateDecrypt({ key: priv, padding: constants.RSA_NO_PADDING }, ct);
        const len = unpadPkcs1Type2(em, implicitRejectionKey(dHash, ct, 256)).length;
        if ([16, 24, 32].includes(len)) accepted ??= ct;
        else rejected ??= ct;
      }
      assert.ok(rejected && accepted, 'found both kinds of bad-padding ciphertexts');
      expectError(await unwrap(rejected, 'pkcs1-rejected', 'rsa-kek', 'RSA_WRAP_PAD'), 400, 410);
      const r = await unwrap(accepted, 'pkcs1-synthetic', 'rsa-kek', 'RSA_WRAP_PAD');
      // The token has no implicit rejection: every bad padding is the same 410 there.
      if (ON_TOKEN) expectError(r, 400, 410);
      else assert.equal(r.statusCode, 201, r.body);
    });

    it('label taken → 400/608; a policy on an unwrapped secret key → 400/606; ML-KEM methods → 400/501; unknown key → 404/650; wrong role → 401/631', async () => {
      const wrapped = unb64((await wrap('aes-target', 'kek', 'AES_WRAP')).json().wrappedKey);
      expectError(await unwrap(wrapped, 'aes-target', 'kek', 'AES_WRAP'), 400, 608);
      expectError(await unwrap(wrapped, 'with-policy', 'kek', 'AES_WRAP', { policy: { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null } }), 400, 606);
      expectError(await unwrap(wrapped, 'bad/label', 'kek', 'AES_WRAP'), 400, 610);
      // Names outside the registry (the ML-KEM ones too, as long as this build does not implement them) are 501.
      for (const m of ['ML-KEM-512', 'ML-KEM-768', 'ML-KEM-1024', 'AES_WRAP_XYZ'].filter((n) => !WRAP_METHOD_NAMES.includes(n))) {
        expectError(await wrap('aes-target', 'kek', m), 400, 501);
        expectError(await unwrap(wrapped, 'x-mlkem', 'kek', m), 400, 501);
      }
      expectError(await wrap('no-such-key', 'kek', 'AES_WRAP'), 404, 650);
      expectError(await wrap('aes-target', 'no-such-kek', 'AES_WRAP'), 404, 650);
      expectError(await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: 'aes-target', wrapKeyName: 'kek', wrapMethod: 'AES_WRAP' } }, 'keyManagementToken'), 401, 631);
      expectError(await w.call('POST', '/v1/synchronousUnwrap', { unwrapKeyRequest: {} }, 'serviceToken'), 401, 631);
      expectError(await ko('/v1/synchronousUnwrap', { unwrapKeyRequest: { wrappedKey: b64(wrapped), label: 'x', unwrapKeyName: 'kek', wrapMethod: 'AES_WRAP' } }), 400, 600);
    });

    it('the Go client unwrap body (attributes, policy null, 201)', async () => {
      const wrapped = (await wrap('aes-target', 'kek', 'AES_WRAP')).json().wrappedKey;
      const body = `{"unwrapKeyRequest":{"wrappedKey":"${wrapped}","label":"go-unwrapped","unwrapKeyName":"kek","wrapMethod":"AES_WRAP","attributes":{"decrypt":true,"sign":false,"unwrap":false,"encrypt":true,"verify":false,"wrap":false,"derive":false,"bip32":false,"extractable":true,"modifiable":true,"destroyable":true,"sensitive":false},"policy":null}}`;
      const r = await w.call('POST', '/v1/synchronousUnwrap', body, 'keyOperationToken');
      assert.equal(r.statusCode, 201, r.body);
      assert.equal(r.json().json.algorithm, 'AES');
      assert.equal(r.json().json.attributes.extractable, true);
    });
  });
});
