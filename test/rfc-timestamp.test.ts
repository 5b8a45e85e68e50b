// RFC 3161 time-stamps (spec §4.10): tokens from the bootstrapped TSA key and from an imported,
// CA-certified key are accepted by `openssl ts -verify`; altered data is not; refusals carry codes.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TSA_POLICY_OID } from '../src/pki/tsp.ts';
import { startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';

const P256 = '1.2.840.10045.3.1.7';
const pemOf = (b64: string) => `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;

describe('RFC 3161 timestamps', () => {
  let w: TestWarden;
  let dir: string;
  const file = (name: string, data?: string | Buffer) => {
    const p = path.join(dir, name);
    if (data !== undefined) writeFileSync(p, data);
    return p;
  };
  const tsVerify = (data: string, token: string, ca: string) =>
    spawnSync('openssl', ['ts', '-verify', '-data', data, '-in', token, '-token_in', '-CAfile', ca], { encoding: 'utf8' });

  before(async () => {
    w = await startTestWarden();
    dir = mkdtempSync(path.join(tmpdir(), 'warden-tsp-'));
  });
  after(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('bootstraps a system TSA key whose certificate has the critical timeStamping EKU', async () => {
    const name = w.config.hsm.rfcTimestampKeyName;
    const attrs = await w.call('POST', '/v1/key/attributes', { label: name });
    assert.equal(attrs.statusCode, 200, attrs.body);
    assert.equal(attrs.json().json.algorithm, 'EC');
    const cert = await w.call('GET', `/v1/certificate/${name}`, undefined, 'keyOperationToken');
    assert.equal(cert.statusCode, 200, cert.body);
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-purpose'], { input: pemOf(cert.json().certificate), encoding: 'utf8' });
    assert.match(text, /X509v3 Extended Key Usage: critical\s+Time Stamping/);
    assert.match(text, /Time Stamp signing : Yes/);
    file('tsa.pem', pemOf(cert.json().certificate));
    // Not usable through the API for anything else, and not deletable.
    const del = await w.call('DELETE', `/v1/key/${name}`);
    assert.equal(del.json().errorCode, 614);
  });

  for (const hashAlgorithm of ['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'SHA-256']) {
    it(`issues a token openssl ts -verify accepts (${hashAlgorithm})`, async () => {
      const data = randomBytes(1000 + Math.floor(Math.random() * 1000));
      const r = await w.call('POST', '/v1/createRfcTimestamp', { payload: data.toString('base64'), hashAlgorithm }, 'keyOperationToken');
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(Object.keys(r.json()), ['timestamp']);
      const token = file(`token-${hashAlgorithm}.der`, Buffer.from(r.json().timestamp, 'base64'));
      const dataFile = file(`data-${hashAlgorithm}.bin`, data);
      const v = tsVerify(dataFile, token, file('tsa.pem'));
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /Verification: OK/);
      // One altered byte in the data: openssl refuses the token.
      data[0] ^= 1;
      const bad = tsVerify(file(`bad-${hashAlgorithm}.bin`, data), token, file('tsa.pem'));
      assert.notEqual(bad.status, 0);
      assert.match(bad.stdout + bad.stderr, /FAILED|imprint/i);
    });
  }

  it('fills TSTInfo as documented (policy, imprint, TSA name, signing-certificate-v2)', async () => {
    const r = await w.call('POST', '/v1/createRfcTimestamp', { payload: 'aGVsbG8=', hashAlgorithm: 'SHA384' }, 'keyOperationToken');
    const token = file('t.der', Buffer.from(r.json().timestamp, 'base64'));
    const text = execFileSync('openssl', ['ts', '-reply', '-in', token, '-token_in', '-text', '-token_out'], { encoding: 'utf8' });
    assert.match(text, new RegExp(`Policy OID: ${TSA_POLICY_OID.replace(/\./g, '\\.')}`));
    assert.match(text, /Hash Algorithm: sha384/);
    assert.match(text, /Nonce: unspecified/);
    assert.match(text, /TSA: DirName:.*Warden RFC 3161 TSA/);
    const cms = execFileSync('openssl', ['cms', '-cmsout', '-print', '-inform', 'DER', '-in', token], { encoding: 'utf8' });
    assert.match(cms, /id-smime-aa-signingCertificateV2/);
    assert.match(cms, /id-smime-ct-TSTInfo/);
  });

  it('refuses unknown hash algorithms (501), bad Base64 (600) and other roles (631)', async () => {
    const bad = await w.call('POST', '/v1/createRfcTimestamp', { payload: 'aGVsbG8=', hashAlgorithm: 'MD5' }, 'keyOperationToken');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errorCode, 501);
    const b64 = await w.call('POST', '/v1/createRfcTimestamp', { payload: 'not base64!', hashAlgorithm: 'SHA256' }, 'keyOperationToken');
    assert.equal(b64.statusCode, 400);
    assert.equal(b64.json().errorCode, 600);
    const role = await w.call('POST', '/v1/createRfcTimestamp', { payload: 'aGVsbG8=', hashAlgorithm: 'SHA256' }, 'keyManagementToken');
    assert.equal(role.statusCode, 401);
    assert.equal(role.json().errorCode, 631);
  });

  it('uses an imported, CA-certified ordinary key named by hsm.rfcTimestampKeyName', async () => {
    const dataDir = tempDataDir();
    let t = await startTestWarden({ dataDir });
    try {
      const mk = async (label: string, spec: Record<string, unknown>, attributes: Record<string, unknown> = { sign: true }) => {
        const r = await t.call('POST', '/v1/key', { label, ...spec, attributes });
        assert.equal(r.statusCode, 201, r.body);
      };
      await mk('tsa-ca', { algorithm: 'EC', curveOid: P256 });
      await mk('my-tsa', { algorithm: 'RSA', keySize: 2048 });
      await mk('my-tsa-nosign', { algorithm: 'RSA', keySize: 2048 }, { decrypt: true });
      const ca = await t.call('POST', '/v1/certificate/synchronous/selfsign', {
        signKeyName: 'tsa-ca', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'TSA root', certificateAuthority: true, keyUsage: ['KEY_CERT_SIGN'], validity: 30,
      }, 'keyOperationToken');
      assert.equal(ca.statusCode, 200, ca.body);
      const csr = await t.call('POST', '/v1/certificate/synchronous/request', {
        signKeyName: 'my-tsa', signatureAlgorithm: 'SHA256_WITH_RSA', standardCertificateAttributes: { commonName: 'My TSA', organizationName: 'Example' },
        keyUsage: ['DIGITAL_SIGNATURE'], extendedKeyUsage: ['TIME_STAMPING'],
      }, 'keyOperationToken');
      assert.equal(csr.statusCode, 200, csr.body);
      const issued = await t.call('POST', '/v1/certificate/synchronous/sign', {
        signKeyName: 'tsa-ca', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'My TSA', certificateSigningRequest: csr.json().certificateSigningRequest,
        keyUsage: ['DIGITAL_SIGNATURE'], extendedKeyUsage: ['TIME_STAMPING'], validity: 30,
      }, 'keyOperationToken');
      assert.equal(issued.statusCode, 200, issued.body);
      const imp = await t.call('POST', '/v1/certificate/import/plain', { label: 'my-tsa', certificate: issued.json().certificate }, 'keyOperationToken');
      assert.equal(imp.statusCode, 200, imp.body);
      await t.close(false);

      t = await startTestWarden({ dataDir, env: { WARDEN_HSM_RFC_TIMESTAMP_KEY_NAME: 'my-tsa' } });
      const data = randomBytes(4096);
      const r = await t.call('POST', '/v1/createRfcTimestamp', { payload: data.toString('base64'), hashAlgorithm: 'SHA512' }, 'keyOperationToken');
      assert.equal(r.statusCode, 200, r.body);
      const v = tsVerify(file('imp.bin', data), file('imp.der', Buffer.from(r.json().timestamp, 'base64')), file('tsa-ca.pem', ca.json().certificate + '\n'));
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /Verification: OK/);
      const attrs = await t.call('POST', '/v1/key/attributes', { label: 'my-tsa' });
      assert.equal(attrs.json().json.keyUsageCount >= 1, true);
      await t.close(false);

      // An ordinary key without a certificate, or without sign, is refused with 614.
      t = await startTestWarden({ dataDir, env: { WARDEN_HSM_RFC_TIMESTAMP_KEY_NAME: 'tsa-ca' } });
      await t.call('DELETE', '/v1/certificate/tsa-ca', undefined, 'keyOperationToken');
      const noCert = await t.call('POST', '/v1/createRfcTimestamp', { payload: 'aGVsbG8=', hashAlgorithm: 'SHA256' }, 'keyOperationToken');
      assert.equal(noCert.statusCode, 400);
      assert.equal(noCert.json().errorCode, 614);
      await t.close(false);
      t = await startTestWarden({ dataDir, env: { WARDEN_HSM_RFC_TIMESTAMP_KEY_NAME: 'my-tsa-nosign' } });
      const noSign = await t.call('POST', '/v1/createRfcTimestamp', { payload: 'aGVsbG8=', hashAlgorithm: 'SHA256' }, 'keyOperationToken');
      assert.equal(noSign.json().errorCode, 614);
    } finally {
      await t.close(true);
    }
  });

  it('keeps the same TSA certificate across restarts', async () => {
    const dataDir = tempDataDir();
    let t = await startTestWarden({ dataDir });
    const first = (await t.call('GET', `/v1/certificate/${t.config.hsm.rfcTimestampKeyName}`, undefined, 'keyOperationToken')).json().certificate;
    await t.close(false);
    t = await startTestWarden({ dataDir });
    const second = (await t.call('GET', `/v1/certificate/${t.config.hsm.rfcTimestampKeyName}`, undefined, 'keyOperationToken')).json().certificate;
    await t.close(true);
    assert.equal(second, first);
  });
});
