// File encryption (spec §4.9): multipart round trips (edge sizes, a 20 MB file streamed over real
// HTTP), an independent decryptor written from docs/file-encryption.md, and every way a container
// can be broken (truncated, reordered, extended, flipped, foreign key, bad header) → 410/623 with
// no plaintext; plus the key, password, role and upload-limit refusals.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHash, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, randomBytes } from 'node:crypto';
import http from 'node:http';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { ROLE_KEYS, startTestWarden, type TestWarden } from './helpers/runtime.ts';

const P384 = '1.3.132.0.34';
const CHUNK = 64 * 1024;
const HEADER = 115;

interface Part {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer | string;
}

function multipart(parts: Part[]): { body: Buffer; contentType: string } {
  const boundary = `----warden${randomBytes(8).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"${p.filename ? `; filename="${p.filename}"` : ''}\r\n`;
    if (p.contentType) head += `Content-Type: ${p.contentType}\r\n`;
    chunks.push(Buffer.from(head + '\r\n'), Buffer.isBuffer(p.data) ? p.data : Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

const encReq = (encryptKeyName: string, extra: Record<string, unknown> = {}) => JSON.stringify({ fileEncryptRequest: { encryptKeyName, ...extra } });
const decReq = (decryptKeyName: string, keyPassword?: unknown) => JSON.stringify({ fileDecryptRequest: { decryptKeyName, ...(keyPassword !== undefined ? { keyPassword } : {}) } });

describe('file encryption', () => {
  let w: TestWarden;

  const send = (url: string, parts: Part[], role: keyof typeof ROLE_KEYS = 'keyOperationToken') => {
    const { body, contentType } = multipart(parts);
    return w.app.inject({ method: 'POST', url, headers: { 'x-api-key': ROLE_KEYS[role], 'content-type': contentType }, payload: body });
  };
  const encrypt = async (key: string, data: Buffer, extra: Record<string, unknown> = {}) => {
    const r = await send('/v1/fileEncrypt', [
      { name: 'SignedFileEncryptRequestDto', contentType: 'application/json', data: encReq(key, extra) },
      { name: 'file', filename: 'report.pdf', contentType: 'application/octet-stream', data },
    ]);
    assert.equal(r.statusCode, 200, r.body.slice(0, 500));
    return r.rawPayload;
  };
  const decrypt = (key: string, data: Buffer, password: unknown = ['p', 'w']) =>
    send('/v1/synchronousFileDecrypt', [
      { name: 'SignedFileDecryptRequestDto', data: decReq(key, password) },
      { name: 'file', filename: 'report.pdf.encrypted', data },
    ]);
  const assertError = (r: { statusCode: number; body: string; headers: Record<string, unknown> }, status: number, code: number) => {
    assert.equal(r.statusCode, status, r.body.slice(0, 300));
    assert.match(String(r.headers['content-type']), /application\/json/);
    assert.equal(JSON.parse(r.body).errorCode, code, r.body);
  };
  const spoolDir = () => path.join(w.dataDir, 'tmp', 'file-encryption');
  /** The spool file goes when the server side of the response closes, which may trail the client's 'end'. */
  const spoolEmpty = async () => {
    for (let i = 0; i < 100 && readdirSync(spoolDir()).length; i++) await new Promise((r) => setTimeout(r, 10));
    return readdirSync(spoolDir());
  };

  async function key(label: string, spec: Record<string, unknown>, attributes: Record<string, unknown>, password?: string) {
    const r = await w.call('POST', '/v1/key', { label, ...spec, attributes, ...(password ? { password: [...password] } : {}) });
    assert.equal(r.statusCode, 201, r.body);
  }

  before(async () => {
    w = await startTestWarden();
    await key('fe', { algorithm: 'EC', curveOid: P384 }, { derive: true, decrypt: true, extractable: true, sensitive: false }, 'pw');
    await key('fe-other', { algorithm: 'EC', curveOid: P384 }, { derive: true, decrypt: true }, 'pw');
    await key('fe-noderive', { algorithm: 'EC', curveOid: P384 }, { decrypt: true, sign: true }, 'pw');
    await key('fe-p256', { algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7' }, { derive: true }, 'pw');
    await key('fe-aes', { algorithm: 'AES', keySize: 256 }, { decrypt: true, derive: true }, 'pw');
  });
  after(async () => w.close());

  it('round-trips files of edge sizes (empty, one byte, one chunk, one chunk + 1, several chunks)', async () => {
    for (const size of [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17]) {
      const data = randomBytes(size);
      const enc = await encrypt('fe', data, { keyPassword: ['p', 'w'] });
      assert.equal(enc.subarray(0, 4).toString('ascii'), 'WFEC');
      const chunks = Math.max(1, Math.ceil(size / CHUNK));
      assert.equal(enc.length, HEADER + size + 16 * chunks, `container size for ${size}`);
      const dec = await decrypt('fe', enc);
      assert.equal(dec.statusCode, 200, dec.body.slice(0, 300));
      assert.equal(dec.headers['content-type'], 'application/octet-stream');
      assert.match(String(dec.headers['content-disposition']), /filename="report\.pdf"/);
      assert.ok(dec.rawPayload.equals(data), `plaintext of ${size} bytes`);
    }
    assert.deepEqual(await spoolEmpty(), [], 'spool files are removed after the response');
  });

  it('writes the container exactly as docs/file-encryption.md describes (independent decryptor)', async () => {
    const data = randomBytes(2 * CHUNK + 5);
    const enc = await encrypt('fe', data, { keyPassword: 'pw' });
    const exported = await w.call('POST', '/v1/key/export/plain', { label: 'fe', password: 'pw' });
    assert.equal(exported.statusCode, 200, exported.body);
    const priv = createPrivateKey({ key: Buffer.from(exported.json().privateKey, 'base64'), format: 'der', type: 'pkcs8' });
    const spki = Buffer.from(exported.json().publicKey, 'base64');
    // Header: "WFEC", version 1, suite 1, chunk size (BE32), key id, ephemeral point.
    const header = enc.subarray(0, HEADER);
    assert.equal(header[4], 1);
    assert.equal(header[5], 1);
    assert.equal(header.readUInt32BE(6), CHUNK);
    assert.ok(header.subarray(10, 18).equals(createHash('sha256').update(spki).digest().subarray(0, 8)));
    const point = header.subarray(18, HEADER);
    const eph = createPublicKey({ key: { kty: 'EC', crv: 'P-384', x: point.subarray(1, 49).toString('base64url'), y: point.subarray(49).toString('base64url') }, format: 'jwk' });
    const z = diffieHellman({ privateKey: priv, publicKey: eph });
    const okm = Buffer.from(hkdfSync('sha384', z, Buffer.alloc(0), Buffer.concat([Buffer.from('warden/file-encryption/v1'), header]), 39));
    const body = enc.subarray(HEADER);
    const out: Buffer[] = [];
    for (let off = 0, i = 0; off < body.length; off += CHUNK + 16, i++) {
      const sealed = body.subarray(off, Math.min(off + CHUNK + 16, body.length));
      const last = off + CHUNK + 16 >= body.length;
      const nonce = Buffer.concat([okm.subarray(32), Buffer.from([i >>> 24, (i >>> 16) & 255, (i >>> 8) & 255, i & 255, last ? 1 : 0])]);
      const d = createDecipheriv('aes-256-gcm', okm.subarray(0, 32), nonce);
      d.setAuthTag(sealed.subarray(sealed.length - 16));
      out.push(d.update(sealed.subarray(0, sealed.length - 16)), d.final());
    }
    assert.ok(Buffer.concat(out).equals(data));
  });

  it('refuses truncated, reordered, extended and altered files with 410/623 and no plaintext', async () => {
    const data = Buffer.alloc(3 * CHUNK + 100, 'SECRET-PLAINTEXT ');
    const enc = await encrypt('fe', data, { keyPassword: 'pw' });
    const sealed = CHUNK + 16;
    const cases: Array<[string, Buffer, number]> = [
      ['truncated inside the last chunk', enc.subarray(0, enc.length - 10), 410],
      ['truncated at a chunk boundary', enc.subarray(0, HEADER + 2 * sealed), 410],
      ['truncated to the first chunk', enc.subarray(0, HEADER + sealed), 410],
      ['truncated to the header', enc.subarray(0, HEADER), 410],
      ['truncated inside the header', enc.subarray(0, 50), 623],
      ['empty file', Buffer.alloc(0), 623],
      ['chunks 0 and 1 swapped', Buffer.concat([enc.subarray(0, HEADER), enc.subarray(HEADER + sealed, HEADER + 2 * sealed), enc.subarray(HEADER, HEADER + sealed), enc.subarray(HEADER + 2 * sealed)]), 410],
      ['a chunk dropped', Buffer.concat([enc.subarray(0, HEADER + sealed), enc.subarray(HEADER + 2 * sealed)]), 410],
      ['bytes appended', Buffer.concat([enc, Buffer.from('more')]), 410],
      ['a whole chunk appended', Buffer.concat([enc, enc.subarray(HEADER, HEADER + sealed)]), 410],
      ['bad magic', Buffer.concat([Buffer.from('XFEC'), enc.subarray(4)]), 623],
      ['unknown version', Buffer.concat([enc.subarray(0, 4), Buffer.from([9]), enc.subarray(5)]), 623],
      ['chunk size out of range', Buffer.concat([enc.subarray(0, 6), Buffer.from([0, 0, 0, 1]), enc.subarray(10)]), 623],
      ['chunk size altered (in range)', Buffer.concat([enc.subarray(0, 6), Buffer.from([0, 0, 0x80, 0]), enc.subarray(10)]), 410],
      ['ephemeral point off the curve', Buffer.concat([enc.subarray(0, 20), Buffer.from([enc[20] ^ 1]), enc.subarray(21)]), 623],
      ['key id altered', Buffer.concat([enc.subarray(0, 10), Buffer.from([enc[10] ^ 1]), enc.subarray(11)]), 410],
    ];
    for (const [flip] of [[HEADER + 5], [HEADER + sealed + 100], [enc.length - 1], [enc.length - 20]]) {
      const b = Buffer.from(enc);
      b[flip] ^= 0x01;
      cases.push([`byte ${flip} flipped`, b, 410]);
    }
    for (const [name, file, code] of cases) {
      const r = await decrypt('fe', file);
      assertError(r, 400, code);
      assert.ok(!r.body.includes('SECRET-PLAINTEXT'), `${name}: no plaintext in the answer`);
    }
    assert.deepEqual(readdirSync(spoolDir()), [], 'refused uploads leave no spool file');
  });

  it('refuses a file encrypted for another key (410), wrong passwords (620) and unsuitable keys (614/607/613/650)', async () => {
    const enc = await encrypt('fe', Buffer.from('for fe only'), { keyPassword: 'pw' });
    assertError(await decrypt('fe-other', enc), 400, 410);
    assertError(await decrypt('fe', enc, 'wrong'), 400, 620);
    assertError(await decrypt('fe', enc, null), 400, 620);
    assertError(await decrypt('fe-noderive', enc), 400, 614);
    assertError(await decrypt('fe-p256', enc), 400, 607);
    assertError(await decrypt('fe-aes', enc), 400, 613);
    assertError(await decrypt('missing', enc), 404, 650);
    const encBody = (k: string, extra: Record<string, unknown> = { keyPassword: 'pw' }) => [
      { name: 'SignedFileEncryptRequestDto', data: encReq(k, extra) },
      { name: 'file', filename: 'x', data: 'data' },
    ];
    assertError(await send('/v1/fileEncrypt', encBody('fe-noderive')), 400, 614);
    assertError(await send('/v1/fileEncrypt', encBody('fe-p256')), 400, 607);
    assertError(await send('/v1/fileEncrypt', encBody('fe-aes')), 400, 613);
    assertError(await send('/v1/fileEncrypt', encBody('missing')), 404, 650);
    assertError(await send('/v1/fileEncrypt', encBody('fe', {})), 400, 620);
  });

  it('encrypts for an imported public key (encrypt attribute) that the private-key holder decrypts', async () => {
    const pub = await w.call('POST', '/v1/key/attributes', { label: 'fe', password: 'pw' });
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'fe-pub', algorithm: 'EC', publicKey: pub.json().json.publicKey });
    assert.equal(imp.statusCode, 201, imp.body);
    const enc = await encrypt('fe-pub', Buffer.from('to the holder of fe'));
    const dec = await decrypt('fe', enc, 'pw');
    assert.equal(dec.statusCode, 200, dec.body);
    assert.equal(dec.body, 'to the holder of fe');
    assertError(await decrypt('fe-pub', enc, null), 400, 614);
  });

  it('checks the multipart request: role (631), content type (415), part order, missing parts, bad JSON (621)', async () => {
    const parts = [{ name: 'req', data: encReq('fe', { keyPassword: 'pw' }) }, { name: 'file', filename: 'f', data: 'x' }];
    assertError(await send('/v1/fileEncrypt', parts, 'keyManagementToken'), 401, 631);
    assertError(await w.call('POST', '/v1/fileEncrypt', { fileEncryptRequest: { encryptKeyName: 'fe' } }, 'keyOperationToken'), 415, 600);
    assertError(await send('/v1/fileEncrypt', [parts[1], parts[0]]), 400, 600);
    assertError(await send('/v1/fileEncrypt', [parts[0]]), 400, 600);
    assertError(await send('/v1/fileEncrypt', [parts[1]]), 400, 600);
    assertError(await send('/v1/fileEncrypt', [{ name: 'req', data: '{"fileEncryptRequest": ' }, parts[1]]), 400, 621);
    assertError(await send('/v1/fileEncrypt', [{ name: 'req', contentType: 'application/json', data: '{nope' }, parts[1]]), 400, 621);
    assertError(await send('/v1/fileEncrypt', [{ name: 'req', data: '{"fileEncryptRequest": {}}' }, parts[1]]), 400, 600);
    // The request part may also arrive as a small file part with a JSON content type (Spring clients).
    const asFile = await send('/v1/fileEncrypt', [{ name: 'SignedFileEncryptRequestDto', filename: 'blob', contentType: 'application/json', data: encReq('fe', { keyPassword: 'pw' }) }, parts[1]]);
    assert.equal(asFile.statusCode, 200, asFile.body);
  });

  it('enforces server.fileUploadLimitBytes (413)', async () => {
    const small = await startTestWarden({ env: { WARDEN_SERVER_FILE_UPLOAD_LIMIT_BYTES: '4096' } });
    try {
      await small.call('POST', '/v1/key', { label: 'k', algorithm: 'EC', curveOid: P384, attributes: { derive: true } });
      const { body, contentType } = multipart([{ name: 'r', data: encReq('k') }, { name: 'file', filename: 'f', data: randomBytes(10_000) }]);
      const r = await small.app.inject({ method: 'POST', url: '/v1/fileEncrypt', headers: { 'x-api-key': ROLE_KEYS.keyOperationToken, 'content-type': contentType }, payload: body });
      assertError(r, 413, 600);
      const ok = multipart([{ name: 'r', data: encReq('k') }, { name: 'file', filename: 'f', data: randomBytes(4000) }]);
      const r2 = await small.app.inject({ method: 'POST', url: '/v1/fileEncrypt', headers: { 'x-api-key': ROLE_KEYS.keyOperationToken, 'content-type': ok.contentType }, payload: ok.body });
      assert.equal(r2.statusCode, 200, r2.body);
      // Without a Content-Length (chunked upload) the multipart file limit still applies.
      await small.app.listen({ port: 0, host: '127.0.0.1' });
      const port = (small.app.server.address() as AddressInfo).port;
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ port, method: 'POST', path: '/v1/fileEncrypt', headers: { 'x-api-key': ROLE_KEYS.keyOperationToken, 'content-type': contentType, 'transfer-encoding': 'chunked' } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(status, 413);
    } finally {
      await small.close();
    }
  });

  it('streams a 20 MB file over HTTP both ways without holding it whole', async () => {
    await w.app.listen({ port: 0, host: '127.0.0.1' });
    const port = (w.app.server.address() as AddressInfo).port;
    const SIZE = 20 * 1024 * 1024;
    // Deterministic pseudo-random content from AES-CTR, generated on the fly and hashed as it goes.
    const genKey = randomBytes(32);
    function* content(): Generator<Buffer> {
      const c = createCipheriv('aes-256-ctr', genKey, Buffer.alloc(16));
      for (let off = 0; off < SIZE; off += 256 * 1024) yield c.update(Buffer.alloc(Math.min(256 * 1024, SIZE - off)));
    }
    const expected = createHash('sha256');
    for (const b of content()) expected.update(b);
    const expectedDigest = expected.digest('hex');

    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 20);
    const upload = (url: string, request: string, body: () => Iterable<Buffer> | AsyncIterable<Buffer>, sink: (chunk: Buffer) => void) =>
      new Promise<number>((resolve, reject) => {
        const boundary = 'warden-stream-boundary';
        const req = http.request({
          port, agent: false, method: 'POST', path: url,
          headers: { 'x-api-key': ROLE_KEYS.keyOperationToken, 'content-type': `multipart/form-data; boundary=${boundary}`, 'transfer-encoding': 'chunked' },
        }, (res) => {
          res.on('data', (c: Buffer) => sink(c));
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.on('error', reject);
        (async () => {
          req.write(`--${boundary}\r\nContent-Disposition: form-data; name="request"\r\n\r\n${request}\r\n`);
          req.write(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`);
          for await (const chunk of body()) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
          req.end(`\r\n--${boundary}--\r\n`);
        })().catch(reject);
      });
    try {
      const encrypted: Buffer[] = [];
      const t0 = Date.now();
      const s1 = await upload('/v1/fileEncrypt', encReq('fe', { keyPassword: 'pw' }), content, (c) => encrypted.push(c));
      const t1 = Date.now();
      assert.equal(s1, 200);
      const container = Buffer.concat(encrypted);
      encrypted.length = 0;
      assert.equal(container.length, HEADER + SIZE + 16 * (SIZE / CHUNK));
      const got = createHash('sha256');
      let received = 0;
      const s2 = await upload('/v1/synchronousFileDecrypt', decReq('fe', 'pw'), function* () {
        for (let off = 0; off < container.length; off += 256 * 1024) yield container.subarray(off, off + 256 * 1024);
      }, (c) => {
        received += c.length;
        got.update(c);
      });
      const t2 = Date.now();
      assert.equal(s2, 200);
      assert.equal(received, SIZE);
      assert.equal(got.digest('hex'), expectedDigest);
      console.log(`# 20 MiB: encrypt ${t1 - t0} ms, decrypt (verify + decrypt) ${t2 - t1} ms, peak arrayBuffers ${(peak / 1048576).toFixed(1)} MiB (incl. the test's own 20 MiB container copy)`);
    } finally {
      clearInterval(sampler);
    }
    assert.deepEqual(await spoolEmpty(), []);
  });

  it('regression: a refused upload over HTTP does not leave its connection hanging (graceful shutdown waited for it)', async () => {
    const port = (w.app.server.address() as AddressInfo).port;
    const { body, contentType } = multipart([{ name: 'r', data: encReq('missing') }, { name: 'file', filename: 'f', data: randomBytes(3 * 1024 * 1024) }]);
    const connections = () => new Promise<number>((r) => w.app.server.getConnections((_e, n) => r(n)));
    const baseline = await connections();
    for (const keepAlive of [false, true]) {
      const agent = new http.Agent({ keepAlive });
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ port, agent, method: 'POST', path: '/v1/fileEncrypt', headers: { 'x-api-key': ROLE_KEYS.keyOperationToken, 'content-type': contentType } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(status, 404);
      agent.destroy();
      let open = -1;
      for (let i = 0; i < 200 && open !== baseline; i++) {
        open = await connections();
        if (open !== baseline) await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(open, baseline, `no connection left open (keepAlive ${keepAlive})`);
    }
  });
});
