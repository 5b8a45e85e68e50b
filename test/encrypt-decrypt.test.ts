// POST /v1/encrypt and /v1/synchronousDecrypt with symmetric keys: every cipher × key size round trip,
// the §4.4 response layout, node:crypto and `openssl enc` cross-checks both ways, and the error codes.
// On the PKCS#11 keystore: AES on the token; Camellia, TDEA and ChaCha20 keys are refused (400/611).
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import { CIPHERS, type SymmetricCipher } from '../src/crypto/ciphers/registry.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { ON_TOKEN, assertRefusedOnToken, refusedOnToken } from './helpers/keystore-under-test.ts';

const b64 = (b: Buffer) => b.toString('base64');
const unb64 = (s: string | null) => (s === null ? null : Buffer.from(s, 'base64'));

/** Key sizes (bytes) each symmetric family supports. */
const SIZES: Record<string, number[]> = { AES: [16, 24, 32], Camellia: [16, 24, 32], TDEA: [24], ChaCha20: [32] };
/** Key families the keystore under test holds (all on software; the token refuses some, asserted below). */
const usable = (family: string) => !refusedOnToken({ key: family });
const SYMMETRIC = CIPHERS.filter((c): c is SymmetricCipher => c.kind === 'symmetric' && usable(c.keyAlgorithm));

/** `openssl enc` names for the ciphers the CLI supports (no AEAD modes in `enc`). */
function opensslName(cipher: SymmetricCipher, keyBytes: number): string | null {
  if (cipher.aead) return null;
  return cipher.nodeName(keyBytes);
}

function openssl(args: string[], input: Buffer): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function opensslIv(cipher: SymmetricCipher, iv: Buffer): Buffer {
  // openssl's chacha20 IV is the 32-bit little-endian counter followed by the 96-bit nonce.
  return cipher.mode === 'chacha20' ? Buffer.concat([Buffer.alloc(4), iv]) : iv;
}

describe('encrypt / decrypt with symmetric keys', () => {
  let w: TestWarden;
  const keys = new Map<string, Buffer>();
  const ko = (url: string, body: unknown) => w.call('POST', url, body, 'keyOperationToken');
  const encrypt = (key: string, cipherAlgorithm: string, payload: Buffer, extra: Record<string, unknown> = {}) =>
    ko('/v1/encrypt', { encryptRequest: { payload: b64(payload), encryptKeyName: key, cipherAlgorithm, ...extra } });
  const decrypt = (key: string, cipherAlgorithm: string, data: Buffer, iv: Buffer | null, extra: Record<string, unknown> = {}) =>
    ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(data), decryptKeyName: key, cipherAlgorithm, initializationVector: iv ? b64(iv) : null, ...extra } });
  const keyLabel = (alg: string, bytes: number) => `${alg.toLowerCase()}-${bytes * 8}`;

  async function importSecret(label: string, algorithm: string, secret: Buffer, attributes: Record<string, unknown> = { decrypt: true, sign: false, unwrap: false }, password?: string) {
    const r = await w.call('POST', '/v1/key/import/plain', { label, algorithm, secretKey: b64(secret), attributes, ...(password ? { password: [...password] } : {}) });
    assert.equal(r.statusCode, 201, r.body);
  }

  function expectError(r: { statusCode: number; body: string }, status: number, code: number) {
    assert.equal(r.statusCode, status, r.body);
    assert.equal(JSON.parse(r.body).errorCode, code, r.body);
  }
  /** status/code for a key of `family`; 404/650 where the token refused that family (the key was never stored). */
  function expectErrorFor(family: string, r: { statusCode: number; body: string }, status: number, code: number) {
    if (usable(family)) expectError(r, status, code);
    else expectError(r, 404, 650);
  }

  before(async () => {
    // Many calls with fsync'ed commits: keep the data dir in RAM when the host has /dev/shm.
    w = await startTestWarden(existsSync('/dev/shm') ? { dataDir: mkdtempSync(path.join('/dev/shm', 'warden-enc-data-')) } : {});
    for (const [alg, sizes] of Object.entries(SIZES)) {
      for (const bytes of sizes) {
        const secret = randomBytes(bytes);
        if (!usable(alg)) {
          const r = await w.call('POST', '/v1/key/import/plain', { label: keyLabel(alg, bytes), algorithm: alg, secretKey: b64(secret), attributes: { decrypt: true } });
          assertRefusedOnToken(r, `import of a ${alg} key`);
          continue;
        }
        keys.set(keyLabel(alg, bytes), secret);
        await importSecret(keyLabel(alg, bytes), alg, secret);
      }
    }
  });

  it('every symmetric family is created and imported, or refused with 400/611 on the token', async () => {
    for (const [alg, sizes] of Object.entries(SIZES)) {
      const r = await w.call('POST', '/v1/key', { label: `gen-${alg}`, algorithm: alg, keySize: (sizes[0] as number) * 8, attributes: { decrypt: true } });
      if (usable(alg)) assert.equal(r.statusCode, 201, `${alg}: ${r.body}`);
      else {
        assertRefusedOnToken(r, `generation of a ${alg} key`);
        expectError(await w.call('POST', '/v1/key/attributes', { label: `gen-${alg}` }), 404, 650);
      }
    }
    assert.equal(usable('AES'), true, 'AES always runs on the keystore under test');
  });
  after(async () => w.close());

  it('round-trips every symmetric cipher with every key size (and checks the layout with node:crypto)', async () => {
    let n = 0;
    for (const cipher of SYMMETRIC) {
      for (const bytes of SIZES[cipher.keyAlgorithm]) {
        const label = keyLabel(cipher.keyAlgorithm, bytes);
        const key = keys.get(label) as Buffer;
        const lengths = cipher.padding === 'none' && cipher.blockSize > 1 ? [0, cipher.blockSize, cipher.blockSize * 4] : [0, 1, 17, 100];
        for (const len of lengths) {
          const plain = randomBytes(len);
          const aad = cipher.aead ? randomBytes(20) : null;
          const e = await encrypt(label, cipher.name, plain, aad ? { additionalAuthenticationData: b64(aad) } : {});
          assert.equal(e.statusCode, 200, `${cipher.name}/${bytes * 8}: ${e.body}`);
          const j = e.json();
          const data = unb64(j.encryptedPayload) as Buffer;
          const iv = unb64(j.initializationVector);
          if (cipher.ivLength === 0) assert.equal(iv, null, `${cipher.name}: no IV`);
          else assert.equal(iv?.length, cipher.ivLength, `${cipher.name}: IV length`);
          if (cipher.aead) {
            assert.equal(unb64(j.messageAuthenticationCode)?.length, 16);
            assert.deepEqual(Buffer.concat([unb64(j.encryptedPayloadWithoutMessageAuthenticationCode) as Buffer, unb64(j.messageAuthenticationCode) as Buffer]), data);
          } else {
            assert.equal(j.messageAuthenticationCode, null);
            assert.deepEqual(unb64(j.encryptedPayloadWithoutMessageAuthenticationCode), data);
          }
          // Independent decryption with node:crypto from the known key bytes.
          const nodeIv = iv ? opensslIv(cipher, iv) : null;
          let independent: Buffer;
          if (cipher.aead) {
            const d = createDecipheriv(cipher.nodeName(bytes) as CipherGCMTypes, key, nodeIv as Buffer, { authTagLength: 16 });
            d.setAuthTag(data.subarray(data.length - 16));
            d.setAAD(aad as Buffer);
            independent = Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
          } else {
            const d = createDecipheriv(cipher.nodeName(bytes), key, nodeIv);
            d.setAutoPadding(cipher.padding === 'pkcs5');
            independent = Buffer.concat([d.update(data), d.final()]);
          }
          assert.deepEqual(independent, plain, `${cipher.name}/${bytes * 8}: node:crypto decrypts what Warden encrypted`);
          const d = await decrypt(label, cipher.name, data, iv, aad ? { additionalAuthenticationData: b64(aad) } : {});
          assert.equal(d.statusCode, 200, `${cipher.name}/${bytes * 8}: ${d.body}`);
          assert.deepEqual(unb64(d.json().payload), plain);
          n++;
        }
      }
    }
    console.log(`[encrypt-decrypt] ${n} symmetric round trips over ${SYMMETRIC.length} ciphers`);
    assert.ok(n >= (ON_TOKEN ? 50 : 100));
  });

  it('cross-checks with `openssl enc` both ways (CBC, ECB, CTR, no-padding, Camellia, TDEA, ChaCha20)', async () => {
    let n = 0;
    for (const cipher of SYMMETRIC) {
      for (const bytes of SIZES[cipher.keyAlgorithm]) {
        const name = opensslName(cipher, bytes);
        if (!name) continue;
        const label = keyLabel(cipher.keyAlgorithm, bytes);
        const key = keys.get(label) as Buffer;
        const plain = randomBytes(cipher.padding === 'none' && cipher.blockSize > 1 ? cipher.blockSize * 3 : 45);
        const base = [`-${name}`, '-K', key.toString('hex')];
        const nopad = cipher.padding === 'none' ? ['-nopad'] : [];

        // Warden encrypts, openssl decrypts.
        const e = (await encrypt(label, cipher.name, plain)).json();
        const iv = unb64(e.initializationVector);
        const ivArgs = iv ? ['-iv', opensslIv(cipher, iv).toString('hex')] : [];
        const there = openssl(['enc', '-d', ...base, ...ivArgs, ...nopad], unb64(e.encryptedPayload) as Buffer);
        assert.deepEqual(there, plain, `${name}: openssl decrypts Warden's ciphertext`);

        // openssl encrypts, Warden decrypts.
        const myIv = cipher.ivLength ? randomBytes(cipher.ivLength) : null;
        const myIvArgs = myIv ? ['-iv', opensslIv(cipher, myIv).toString('hex')] : [];
        const ct = openssl(['enc', '-e', ...base, ...myIvArgs, ...nopad], plain);
        const d = await decrypt(label, cipher.name, ct, myIv);
        assert.equal(d.statusCode, 200, `${name}: ${d.body}`);
        assert.deepEqual(unb64(d.json().payload), plain, `${name}: Warden decrypts openssl's ciphertext`);
        n++;
      }
    }
    console.log(`[encrypt-decrypt] ${n} openssl enc cross-checks (both directions each)`);
    assert.equal(n, 3 * 4 + (usable('Camellia') ? 3 * 3 : 0) + (usable('TDEA') ? 3 : 0) + (usable('ChaCha20') ? 1 : 0));
  });

  it('AES_GCM follows the documented layout: 12-byte IV, ciphertext ‖ tag, split fields, tagLength 64..128', async () => {
    const plain = Buffer.from('18 bytes of secret');
    for (const tagLength of [undefined, 0, 64, 96, 104, 112, 120, 128]) {
      const r = await encrypt('aes-256', 'AES_GCM', plain, tagLength === undefined ? {} : { tagLength });
      assert.equal(r.statusCode, 200, r.body);
      const j = r.json();
      const tagBytes = (tagLength || 128) / 8;
      assert.equal(unb64(j.encryptedPayload)?.length, 18 + tagBytes);
      assert.equal(unb64(j.encryptedPayloadWithoutMessageAuthenticationCode)?.length, 18);
      assert.equal(unb64(j.messageAuthenticationCode)?.length, tagBytes);
      assert.equal(unb64(j.initializationVector)?.length, 12);
      // Independent check with node:crypto (AES-256-GCM, the tag length in bytes).
      const c = createCipheriv('aes-256-gcm', keys.get('aes-256') as Buffer, unb64(j.initializationVector) as Buffer, { authTagLength: tagBytes });
      const expected = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
      assert.deepEqual(unb64(j.encryptedPayload), expected);
      const d = await decrypt('aes-256', 'AES_GCM', expected, unb64(j.initializationVector), tagLength === undefined ? {} : { tagLength });
      assert.equal(d.statusCode, 200, d.body);
      assert.deepEqual(unb64(d.json().payload), plain);
    }
  });

  it('accepts the Go client body (tagLength 128, AAD null, password array omitted)', async () => {
    const r = await w.call('POST', '/v1/encrypt', JSON.stringify({ encryptRequest: { payload: b64(Buffer.from('go')), encryptKeyName: 'aes-128', cipherAlgorithm: 'AES_GCM', tagLength: 128, additionalAuthenticationData: null } }), 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    const j = r.json();
    const d = await w.call('POST', '/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: j.encryptedPayload, decryptKeyName: 'aes-128', cipherAlgorithm: 'AES_GCM', initializationVector: j.initializationVector, tagLength: 128, additionalAuthenticationData: null } }, 'keyOperationToken');
    assert.equal(d.statusCode, 200, d.body);
    assert.equal(Buffer.from(d.json().payload, 'base64').toString(), 'go');
  });

  describe('errors', () => {
    before(async () => {
      await importSecret('enc-only', 'AES', randomBytes(32), { encrypt: true, decrypt: false, sign: false, unwrap: false });
      await importSecret('dec-only', 'AES', randomBytes(32), { encrypt: false, decrypt: true, sign: false, unwrap: false });
      await importSecret('with-password', 'AES', randomBytes(32), { decrypt: true, sign: false, unwrap: false }, 'secret');
      const r = await w.call('POST', '/v1/key', { label: 'rsa-for-gcm', algorithm: 'RSA', keySize: 1024, attributes: { decrypt: true, sign: false, unwrap: false } });
      assert.equal(r.statusCode, 201, r.body);
    });

    it('wrong tag, wrong AAD, wrong IV, truncated data → 400/410', async () => {
      for (const [cipher, key] of [['AES_GCM', 'aes-128'], ['CHACHA20_AEAD', 'chacha20-256']].filter(([, k]) => keys.has(k as string))) {
        const aad = Buffer.from('header');
        const j = (await encrypt(key, cipher, Buffer.from('attack at dawn'), { additionalAuthenticationData: b64(aad) })).json();
        const data = unb64(j.encryptedPayload) as Buffer;
        const iv = unb64(j.initializationVector) as Buffer;
        const flipped = Buffer.from(data);
        flipped[flipped.length - 1] ^= 1;
        expectError(await decrypt(key, cipher, flipped, iv, { additionalAuthenticationData: b64(aad) }), 400, 410);
        expectError(await decrypt(key, cipher, data, iv, { additionalAuthenticationData: b64(Buffer.from('Header')) }), 400, 410);
        expectError(await decrypt(key, cipher, data, iv), 400, 410);
        const otherIv = Buffer.from(iv);
        otherIv[0] ^= 1;
        expectError(await decrypt(key, cipher, data, otherIv, { additionalAuthenticationData: b64(aad) }), 400, 410);
        expectError(await decrypt(key, cipher, data.subarray(0, 10), iv, { additionalAuthenticationData: b64(aad) }), 400, 410);
      }
      // A GCM ciphertext with a 96-bit tag does not verify as a 128-bit one.
      const j = (await encrypt('aes-128', 'AES_GCM', Buffer.from('x'), { tagLength: 96 })).json();
      expectError(await decrypt('aes-128', 'AES_GCM', unb64(j.encryptedPayload) as Buffer, unb64(j.initializationVector), { tagLength: 128 }), 400, 410);
    });

    it('bad PKCS#5 padding and partial blocks → 400/410', async () => {
      const key = keys.get('aes-128') as Buffer;
      const iv = randomBytes(16);
      const c = createCipheriv('aes-128-cbc', key, iv);
      c.setAutoPadding(false);
      const badPadding = Buffer.concat([c.update(Buffer.alloc(16, 0x11)), c.final()]);
      expectError(await decrypt('aes-128', 'AES', badPadding, iv), 400, 410);
      expectError(await decrypt('aes-128', 'AES_CBC_NO_PADDING', randomBytes(20), iv), 400, 410);
      expectError(await decrypt('aes-128', 'AES_ECB', randomBytes(15), null), 400, 410);
    });

    it('bad tagLength → 400/624 on encrypt and decrypt', async () => {
      for (const tagLength of [8, 32, 100, 136, 256, -1]) {
        expectError(await encrypt('aes-128', 'AES_GCM', Buffer.from('x'), { tagLength }), 400, 624);
        expectError(await decrypt('aes-128', 'AES_GCM', randomBytes(32), randomBytes(12), { tagLength }), 400, 624);
      }
      expectError(await encrypt('chacha20-256', 'CHACHA20_AEAD', Buffer.from('x'), { tagLength: 96 }), 400, 624);
    });

    it('missing or wrong-size IV → 400/600; payload not a block multiple without padding → 400/612', async () => {
      expectError(await decrypt('aes-128', 'AES', randomBytes(16), null), 400, 600);
      expectError(await decrypt('aes-128', 'AES_CTR', randomBytes(16), randomBytes(12)), 400, 600);
      expectError(await decrypt('aes-128', 'AES_GCM', randomBytes(32), randomBytes(16)), 400, 600);
      expectError(await encrypt('aes-128', 'AES_CBC_NO_PADDING', randomBytes(15)), 400, 612);
      expectErrorFor('TDEA', await encrypt('tdea-192', 'TDEA_CBC_NO_PADDING', randomBytes(12)), 400, 612);
    });

    it('key attributes: encrypt needs `encrypt`, decrypt needs `decrypt` → 400/614', async () => {
      expectError(await encrypt('dec-only', 'AES_GCM', Buffer.from('x')), 400, 614);
      expectError(await decrypt('enc-only', 'AES_GCM', randomBytes(32), randomBytes(12)), 400, 614);
      const ok = (await encrypt('enc-only', 'AES_GCM', Buffer.from('x'))).statusCode;
      assert.equal(ok, 200);
    });

    it('key password: missing or wrong → 400/620, right → 200', async () => {
      expectError(await encrypt('with-password', 'AES', Buffer.from('x')), 400, 620);
      expectError(await encrypt('with-password', 'AES', Buffer.from('x'), { keyPassword: ['n', 'o'] }), 400, 620);
      assert.equal((await encrypt('with-password', 'AES', Buffer.from('x'), { keyPassword: [...'secret'] })).statusCode, 200);
      assert.equal((await encrypt('with-password', 'AES', Buffer.from('x'), { keyPassword: 'secret' })).statusCode, 200);
    });

    it('unknown cipher → 400/501; cipher of another key algorithm → 400/607; unknown key → 404/650', async () => {
      expectError(await encrypt('aes-128', 'AES_XTS', Buffer.from('x')), 400, 501);
      expectError(await encrypt('aes-128', 'ML-KEM-768', Buffer.from('x')), 400, 501);
      expectError(await encrypt('rsa-for-gcm', 'AES_GCM', Buffer.from('x')), 400, 607);
      expectError(await decrypt('rsa-for-gcm', 'AES_GCM', randomBytes(32), randomBytes(12)), 400, 607);
      expectError(await encrypt('aes-128', 'RSA_PADDING_OAEP', Buffer.from('x')), 400, 607);
      expectError(await encrypt('aes-128', 'CAMELLIA', Buffer.from('x')), 400, 607);
      expectErrorFor('Camellia', await encrypt('camellia-128', 'AES', Buffer.from('x')), 400, 607);
      expectErrorFor('ChaCha20', await encrypt('chacha20-256', 'AES_GCM', Buffer.from('x')), 400, 607);
      expectError(await encrypt('no-such-key', 'AES_GCM', Buffer.from('x')), 404, 650);
    });

    it('wrong role → 401/631; no key → 401/416; malformed body → 400/600 or 621', async () => {
      const body = { encryptRequest: { payload: b64(Buffer.from('x')), encryptKeyName: 'aes-128', cipherAlgorithm: 'AES_GCM' } };
      expectError(await w.call('POST', '/v1/encrypt', body, 'keyManagementToken'), 401, 631);
      expectError(await w.call('POST', '/v1/synchronousDecrypt', { decryptRequest: {} }, 'serviceToken'), 401, 631);
      expectError(await w.call('POST', '/v1/encrypt', body, null), 401, 416);
      expectError(await encrypt('aes-128', 'AES_GCM', Buffer.from('x'), { payload: 'not base64!' }), 400, 600);
      expectError(await ko('/v1/encrypt', { encryptRequest: { encryptKeyName: 'aes-128', cipherAlgorithm: 'AES_GCM' } }), 400, 600);
      expectError(await w.call('POST', '/v1/encrypt', '{"encryptRequest":', 'keyOperationToken'), 400, 621);
    });
  });
});
