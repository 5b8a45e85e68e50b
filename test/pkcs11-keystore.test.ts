// The PKCS#11 keystore on SoftHSM (issue 9, docs/hsm.md): keys generated and imported onto the token,
// signatures made there and checked by openssl, the token seal (an edited row is 701), refusals (611)
// for what the token cannot do, the token's own release rules, recovery after the library is
// finalised under the pool, and the session pool under concurrency.
// warden-test-db: any
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, createPublicKey, randomBytes, verify as nodeVerify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SOFTHSM_LIBRARY, provisionToken, type TestToken } from './helpers/softhsm.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import type { Pkcs11KeyStore } from '../src/keystore/pkcs11/keystore.ts';

const b64 = (b: Buffer) => b.toString('base64');
const P256 = '1.2.840.10045.3.1.7';

describe('PKCS#11 keystore (SoftHSM)', { skip: SOFTHSM_LIBRARY ? false : 'SoftHSM is not installed' }, () => {
  let w: TestWarden;
  let token: TestToken;
  let dir: string;
  const ko = (url: string, body: unknown) => w.call('POST', url, body, 'keyOperationToken');
  const keystore = () => w.runtime.services.keystore as unknown as Pkcs11KeyStore;
  const sign = (key: string, alg: string, payload: Buffer, signatureType?: string) =>
    ko('/v1/synchronousSign', { signRequest: { payload: b64(payload), payloadType: 'UNSPECIFIED', signKeyName: key, signatureAlgorithm: alg, ...(signatureType ? { signatureType } : {}) } });
  const verify = async (key: string, alg: string, payload: Buffer, signature: Buffer) => {
    const r = await ko('/v1/verify', { verifySignatureRequest: { signKeyName: key, signatureAlgorithm: alg, payload: b64(payload), signature: b64(signature) } });
    assert.equal(r.statusCode, 200, r.body);
    return r.json().signatureValid as boolean;
  };
  const create = (body: Record<string, unknown>) => w.call('POST', '/v1/key', body);
  const publicKeyOf = async (label: string) => Buffer.from((await w.call('POST', '/v1/key/attributes', { label })).json().json.publicKey as string, 'base64');
  function expectError(r: { statusCode: number; body: string }, status: number, code: number) {
    assert.equal(r.statusCode, status, r.body);
    assert.equal(JSON.parse(r.body).errorCode, code, r.body);
  }

  before(async () => {
    token = provisionToken();
    dir = mkdtempSync(path.join(tmpdir(), 'warden-p11-'));
    w = await startTestWarden({ env: { ...token.env, WARDEN_KEYSTORE_PKCS11_SESSIONS: '2' } });
  });
  after(async () => {
    await w?.close();
    try {
      token?.wipe();
    } catch {
      // finalizeForTest re-numbered SoftHSM's slots: the token directory goes with the process anyway
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('opens the token, creates the seal key and reports the pkcs11 type', async () => {
    assert.equal(w.runtime.services.keystore.type, 'pkcs11');
    assert.equal(keystore().pool.tokenLabel, token.label);
  });

  it('signs ECDSA P-256 on the token (pre-hash + CKM_ECDSA); openssl verifies the DER signature', async () => {
    assert.equal((await create({ label: 'ec', algorithm: 'EC', curveOid: P256, attributes: { sign: true } })).statusCode, 201);
    const payload = Buffer.from('signed on the token');
    const r = await sign('ec', 'SHA256_WITH_ECDSA', payload);
    assert.equal(r.statusCode, 200, r.body);
    const sig = Buffer.from(r.json().signature, 'base64');
    assert.equal(sig[0], 0x30);
    const spki = await publicKeyOf('ec');
    writeFileSync(path.join(dir, 'ec.pem'), createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }));
    writeFileSync(path.join(dir, 'data'), payload);
    writeFileSync(path.join(dir, 'ec.sig'), sig);
    const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', path.join(dir, 'ec.pem'), '-signature', path.join(dir, 'ec.sig'), path.join(dir, 'data')]).toString();
    assert.match(out, /Verified OK/);
    assert.equal(await verify('ec', 'SHA256_WITH_ECDSA', payload, sig), true);
    assert.equal(await verify('ec', 'SHA256_WITH_ECDSA', Buffer.from('other'), sig), false);
    const raw = await sign('ec', 'SHA384_WITH_ECDSA', payload, 'RAW');
    assert.equal(Buffer.from(raw.json().signature, 'base64').length, 64);
  });

  it('signs RSA PKCS#1 v1.5 and PSS on the token; openssl verifies both', async () => {
    assert.equal((await create({ label: 'rsa', algorithm: 'RSA', keySize: 2048, attributes: { sign: true, decrypt: true } })).statusCode, 201);
    const payload = randomBytes(100);
    writeFileSync(path.join(dir, 'data'), payload);
    writeFileSync(path.join(dir, 'rsa.pem'), createPublicKey({ key: await publicKeyOf('rsa'), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }));
    for (const [alg, opts] of [['SHA256_WITH_RSA', []], ['SHA256_WITH_RSA_PSS', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32']]] as const) {
      const r = await sign('rsa', alg, payload);
      assert.equal(r.statusCode, 200, r.body);
      writeFileSync(path.join(dir, 'rsa.sig'), Buffer.from(r.json().signature, 'base64'));
      const out = execFileSync('openssl', ['dgst', '-sha256', ...opts, '-verify', path.join(dir, 'rsa.pem'), '-signature', path.join(dir, 'rsa.sig'), path.join(dir, 'data')]).toString();
      assert.match(out, /Verified OK/, alg);
    }
    // NONESHA256_WITH_RSA: the DigestInfo is added by Warden, CKM_RSA_PKCS pads: same signature as SHA256_WITH_RSA.
    const digest = (await import('node:crypto')).createHash('sha256').update(payload).digest();
    const pre = await sign('rsa', 'NONESHA256_WITH_RSA', digest);
    assert.equal(pre.statusCode, 200, pre.body);
    assert.equal(await verify('rsa', 'SHA256_WITH_RSA', payload, Buffer.from(pre.json().signature, 'base64')), true);
  });

  it('signs Ed25519 on the token (CKM_EDDSA)', async () => {
    assert.equal((await create({ label: 'ed', algorithm: 'ED', attributes: { sign: true } })).statusCode, 201);
    const payload = Buffer.from('ed25519 on a token');
    const r = await sign('ed', 'EDDSA', payload);
    assert.equal(r.statusCode, 200, r.body);
    const sig = Buffer.from(r.json().signature, 'base64');
    assert.equal(nodeVerify(null, payload, createPublicKey({ key: await publicKeyOf('ed'), format: 'der', type: 'spki' }), sig), true);
  });

  it('AES-GCM and AES-CBC run on the token and round-trip; a wrong tag is 410', async () => {
    assert.equal((await create({ label: 'aes', algorithm: 'AES', keySize: 256, attributes: { encrypt: true, decrypt: true } })).statusCode, 201);
    const payload = randomBytes(45);
    for (const cipherAlgorithm of ['AES_GCM', 'AES', 'AES_ECB', 'AES_CTR']) {
      const e = await ko('/v1/encrypt', { encryptRequest: { payload: b64(payload), encryptKeyName: 'aes', cipherAlgorithm } });
      assert.equal(e.statusCode, 200, `${cipherAlgorithm}: ${e.body}`);
      const { encryptedPayload, initializationVector } = e.json();
      const d = await ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload, decryptKeyName: 'aes', cipherAlgorithm, initializationVector } });
      assert.equal(d.statusCode, 200, `${cipherAlgorithm}: ${d.body}`);
      assert.deepEqual(Buffer.from(d.json().payload, 'base64'), payload, cipherAlgorithm);
      if (cipherAlgorithm === 'AES_GCM') {
        const bad = Buffer.from(encryptedPayload, 'base64');
        bad[bad.length - 1] ^= 1;
        expectError(await ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(bad), decryptKeyName: 'aes', cipherAlgorithm, initializationVector } }), 400, 410);
      }
    }
  });

  it('RSA-OAEP: encrypted with the public key, decrypted on the token; OAEP-SHA-256 is refused by SoftHSM 2.6 (611)', async () => {
    const payload = randomBytes(32);
    const oaep = async (cipherAlgorithm: string) => {
      const e = await ko('/v1/encrypt', { encryptRequest: { payload: b64(payload), encryptKeyName: 'rsa', cipherAlgorithm } });
      assert.equal(e.statusCode, 200, e.body);
      return ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: e.json().encryptedPayload, decryptKeyName: 'rsa', cipherAlgorithm, initializationVector: null } });
    };
    const d = await oaep('RSA_PADDING_OAEP_WITH_SHA1');
    assert.equal(d.statusCode, 200, d.body);
    assert.deepEqual(Buffer.from(d.json().payload, 'base64'), payload);
    // SoftHSM 2.6.1 implements OAEP with SHA-1 only (CKR_ARGUMENTS_BAD otherwise): refused, not done in software.
    expectError(await oaep('RSA_PADDING_OAEP_WITH_SHA256'), 400, 611);
  });

  it('HMAC-SHA256 with an imported key runs on the token and matches node:crypto', async () => {
    const secret = randomBytes(32);
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'mac', algorithm: 'HMACSHA256', secretKey: b64(secret), attributes: { sign: true, verify: true } });
    assert.equal(imp.statusCode, 201, imp.body);
    const msg = Buffer.from('mac me');
    const r = await ko('/v1/synchronousHmac', { hmacRequest: { keyName: 'mac', payload: b64(msg) } });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(Buffer.from(r.json().keyedHash, 'base64'), createHmac('sha256', secret).update(msg).digest());
  });

  it('an imported EC key signs on the token like a generated one', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'ec-imp', algorithm: 'EC', privateKey: b64(pair.privateKey.export({ type: 'pkcs8', format: 'der' })), attributes: { sign: true } });
    assert.equal(imp.statusCode, 201, imp.body);
    const payload = Buffer.from('imported');
    const sig = Buffer.from((await sign('ec-imp', 'SHA256_WITH_ECDSA', payload)).json().signature, 'base64');
    assert.equal(nodeVerify('sha256', payload, pair.publicKey, sig), true);
  });

  it('refuses what the token cannot hold or do with 611, never in software', async () => {
    expectError(await create({ label: 'chacha', algorithm: 'ChaCha20', attributes: { decrypt: true } }), 400, 611);
    expectError(await create({ label: 'mldsa', algorithm: 'ML-DSA-44', attributes: { sign: true } }), 400, 611);
    expectError(await create({ label: 'bip', algorithm: 'EC', curveOid: '1.3.132.0.10', attributes: { sign: true, derive: true, bip32: true } }), 400, 611);
    // RFC 6979 nonces and Ethereum recovery ids need the private scalar: refused, not done in software.
    expectError(await sign('ec', 'SHA256_WITH_ECDSA_DETERMINISTIC', Buffer.from('x')), 400, 611);
    // Nothing was left behind on the token for the refused keys.
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: 'chacha' })).statusCode, 404);
  });

  it('export follows the token: extractable non-sensitive keys come out, the others are 614', async () => {
    expectError(await w.call('POST', '/v1/key/export/plain', { label: 'aes' }), 400, 614);
    assert.equal((await create({ label: 'aes-x', algorithm: 'AES', keySize: 128, attributes: { decrypt: true, extractable: true, sensitive: false } })).statusCode, 201);
    const exp = await w.call('POST', '/v1/key/export/plain', { label: 'aes-x' });
    assert.equal(exp.statusCode, 200, exp.body);
    const secret = Buffer.from(exp.json().secretKey, 'base64');
    assert.equal(secret.length, 16);
    const attrs = (await w.call('POST', '/v1/key/attributes', { label: 'aes' })).json().json.attributes;
    assert.equal(attrs.alwaysSensitive, true);
    assert.equal(attrs.neverExtractable, true);
  });

  it('a row edited in the database (attributes, policy, label) fails with 701: the seal is the token\'s', async () => {
    const db = w.runtime.store.db;
    const row = await db.selectFrom('keys').select(['attributes', 'sealed']).where('label', '=', 'ec').executeTakeFirstOrThrow();
    assert.equal(Buffer.from(row.sealed as Buffer)[0], 2, 'sealed by the token seal key');
    const attrs = JSON.parse(row.attributes);
    await db.updateTable('keys').set({ attributes: JSON.stringify({ ...attrs, extractable: true, sensitive: false }) }).where('label', '=', 'ec').execute();
    expectError(await sign('ec', 'SHA256_WITH_ECDSA', Buffer.from('x')), 500, 701);
    expectError(await w.call('POST', '/v1/key/export/plain', { label: 'ec' }), 500, 701);
    await db.updateTable('keys').set({ attributes: row.attributes }).where('label', '=', 'ec').execute();
    assert.equal((await sign('ec', 'SHA256_WITH_ECDSA', Buffer.from('x'))).statusCode, 200);
  });

  it('recovers when the library is finalised under the pool (one retry after re-initialising)', async () => {
    const before = keystore().pool.resets;
    keystore().pool.finalizeForTest();
    const r = await sign('rsa', 'SHA256_WITH_RSA', Buffer.from('after a reset'));
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(keystore().pool.resets, before + 1);
  });

  it('runs 40 concurrent signatures over a pool of 2 sessions, every one valid', async () => {
    const payloads = Array.from({ length: 40 }, (_, i) => Buffer.from(`concurrent ${i}`));
    const t0 = performance.now();
    const sigs = await Promise.all(payloads.map((p, i) => sign(i % 2 ? 'rsa' : 'ec', i % 2 ? 'SHA256_WITH_RSA' : 'SHA256_WITH_ECDSA', p)));
    const ms = performance.now() - t0;
    for (const [i, r] of sigs.entries()) {
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(await verify(i % 2 ? 'rsa' : 'ec', i % 2 ? 'SHA256_WITH_RSA' : 'SHA256_WITH_ECDSA', payloads[i], Buffer.from(r.json().signature, 'base64')), true);
    }
    console.log(`[pkcs11] 40 concurrent signs (RSA-2048 + P-256) over 2 sessions: ${ms.toFixed(0)} ms`);
  });

  it('delete destroys the token object; the label can be created again', async () => {
    assert.equal((await create({ label: 'gone', algorithm: 'EC', curveOid: P256, attributes: { sign: true, destroyable: true } })).statusCode, 201);
    const del = await w.call('DELETE', '/v1/key/gone');
    assert.equal(del.statusCode, 200, del.body);
    assert.equal((await create({ label: 'gone', algorithm: 'EC', curveOid: P256, attributes: { sign: true, destroyable: true } })).statusCode, 201);
    assert.equal((await sign('gone', 'SHA256_WITH_ECDSA', Buffer.from('again'))).statusCode, 200);
  });
});
