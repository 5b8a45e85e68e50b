// HMAC-SHA256: /v1/synchronousHmac and the verifyHmacRequest form of /v1/verify, cross-checked with
// `openssl dgst -mac HMAC`, plus the refusals (key type, attribute, role, Base64, size).
// The same on the PKCS#11 keystore (CKM_SHA256_HMAC on the token).
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { TempFiles, openssl } from './helpers/signature-keys.ts';

describe('HMAC-SHA256', () => {
  let w: TestWarden;
  const files = new TempFiles();
  const secret = randomBytes(32);
  before(async () => {
    w = await startTestWarden();
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'mac', algorithm: 'HMACSHA256', secretKey: secret.toString('base64'), attributes: { sign: true, verify: true } });
    assert.equal(imp.statusCode, 201, imp.body);
    for (const body of [
      { label: 'mac-gen', algorithm: 'HMACSHA256', attributes: { sign: true } },
      { label: 'mac-nosign', algorithm: 'HMACSHA256', attributes: { sign: false, verify: true } },
      { label: 'mac-pw', algorithm: 'HMACSHA256', password: 'pw', attributes: { sign: true } },
      { label: 'aes', algorithm: 'AES', keySize: 256, attributes: { sign: true, decrypt: true } },
      { label: 'ec', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true } },
    ]) {
      const r = await w.call('POST', '/v1/key', body);
      assert.equal(r.statusCode, 201, r.body);
    }
  });
  after(async () => {
    await w.close();
    files.remove();
  });

  const hmac = (keyName: string, payload: Buffer | string, role: Parameters<TestWarden['call']>[3] = 'keyOperationToken', extra: Record<string, unknown> = {}) =>
    w.call('POST', '/v1/synchronousHmac', { hmacRequest: { keyName, payload: typeof payload === 'string' ? payload : payload.toString('base64'), ...extra } }, role);
  const verify = (keyName: string, payload: Buffer, signature: Buffer, extra: Record<string, unknown> = {}) =>
    w.call('POST', '/v1/verify', { verifyHmacRequest: { keyName, payload: payload.toString('base64'), signature: signature.toString('base64'), ...extra } }, 'keyOperationToken');

  it('matches openssl dgst -mac HMAC for sizes 0..64 KiB', async () => {
    for (const n of [0, 1, 55, 64, 1024, 65536]) {
      const msg = randomBytes(n);
      const r = await hmac('mac', msg);
      assert.equal(r.statusCode, 200, r.body);
      const tag = Buffer.from(r.json().keyedHash, 'base64');
      assert.equal(tag.length, 32);
      const out = await openssl(['dgst', '-sha256', '-mac', 'HMAC', '-macopt', `hexkey:${secret.toString('hex')}`, '-hex', files.write(msg)]);
      assert.ok(out.ok, out.stderr);
      assert.equal(out.stdout.trim().split(' ').pop(), tag.toString('hex'), `${n} bytes`);
      const v = await verify('mac', msg, tag);
      assert.equal(v.statusCode, 200);
      assert.deepEqual(v.json(), { signatureValid: true });
    }
  });

  it('a wrong, truncated or extended tag, or another payload, is 200 false', async () => {
    const msg = randomBytes(100);
    const tag = Buffer.from((await hmac('mac', msg)).json().keyedHash, 'base64');
    const flipped = Buffer.from(tag);
    flipped[7] ^= 1;
    for (const bad of [flipped, tag.subarray(0, 16), tag.subarray(0, 31), Buffer.concat([tag, Buffer.from([0])]), Buffer.alloc(0)]) {
      const v = await verify('mac', msg, bad);
      assert.equal(v.statusCode, 200, v.body);
      assert.equal(v.json().signatureValid, false);
    }
    assert.equal((await verify('mac', randomBytes(100), tag)).json().signatureValid, false);
    assert.equal((await verify('mac-gen', msg, tag)).json().signatureValid, false, 'another key');
  });

  it('generated HMAC keys are consistent between hmac and verify', async () => {
    const msg = randomBytes(10);
    const tag = Buffer.from((await hmac('mac-gen', msg)).json().keyedHash, 'base64');
    assert.equal((await verify('mac-gen', msg, tag)).json().signatureValid, true);
  });

  it('refusals: other key types 613/607, no sign attribute 614, password 620, missing key 650', async () => {
    const code = async (r: Promise<{ statusCode: number; json(): { errorCode: number } }>, status: number, errorCode: number) => {
      const x = await r;
      assert.equal(x.statusCode, status);
      assert.equal(x.json().errorCode, errorCode);
    };
    await code(hmac('ec', Buffer.from('x')), 400, 613);
    await code(hmac('aes', Buffer.from('x')), 400, 607);
    await code(verify('ec', Buffer.from('x'), Buffer.alloc(32)), 400, 613);
    await code(verify('aes', Buffer.from('x'), Buffer.alloc(32)), 400, 607);
    await code(hmac('mac-nosign', Buffer.from('x')), 400, 614);
    await code(hmac('mac-pw', Buffer.from('x')), 400, 620);
    assert.equal((await hmac('mac-pw', Buffer.from('x'), 'keyOperationToken', { keyPassword: ['p', 'w'] })).statusCode, 200);
    await code(hmac('nope', Buffer.from('x')), 404, 650);
    await code(verify('nope', Buffer.from('x'), Buffer.alloc(32)), 404, 650);
  });

  it('refusals: role 631, Base64 600, size 612, malformed body 600', async () => {
    const r1 = await hmac('mac', Buffer.from('x'), 'keyManagementToken');
    assert.equal(r1.statusCode, 401);
    assert.equal(r1.json().errorCode, 631);
    const r2 = await hmac('mac', 'abc');
    assert.equal(r2.statusCode, 400);
    assert.equal(r2.json().errorCode, 600);
    const r3 = await hmac('mac', randomBytes(65537));
    assert.equal(r3.statusCode, 400);
    assert.equal(r3.json().errorCode, 612);
    const r4 = await w.call('POST', '/v1/synchronousHmac', { hmacRequest: { payload: 'AA==' } }, 'keyOperationToken');
    assert.equal(r4.statusCode, 400);
    assert.equal(r4.json().errorCode, 600);
    const r5 = await w.call('POST', '/v1/verify', { verifyHmacRequest: { keyName: 'mac', payload: 'AA==', signature: '%%' } }, 'keyOperationToken');
    assert.equal(r5.statusCode, 400);
    assert.equal(r5.json().errorCode, 600);
  });
});
