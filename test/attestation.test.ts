// Attestation (spec §2.4, §3.11, §3.12, README decisions 6 and 8; docs/attestation.md): the xml and
// xmlSignature of every attributes response verify with `openssl dgst -sha256 -verify` against the
// public key of GET /v1/attestation/certificate; the keyAttestation zip unpacks and its README's
// openssl command works; POST /v1/attestation/key returns the KeyAttestationDto.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { unzipSync, strFromU8 } from 'fflate';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { openssl, workDir } from './helpers/core-tools.ts';

type Body = Record<string, unknown>;
interface Reply {
  statusCode: number;
  body: string;
  json(): Body;
}

function assertError(r: Reply, status: number, code: number): void {
  assert.equal(r.statusCode, status, `expected ${status}/${code}, got ${r.statusCode}: ${r.body}`);
  assert.equal(r.json().errorCode, code, r.body);
}

const P256 = '1.2.840.10045.3.1.7';

describe('attestation', () => {
  let w: TestWarden;
  const dir = workDir('warden-attest-');
  let pubPem: string;
  let certDer: Buffer;
  let n = 0;

  /** Verifies `xml` against the Base64 `signature` with the openssl CLI; returns openssl's verdict. */
  const opensslVerify = (xml: string | Buffer, signatureB64: string): { ok: boolean; out: string } => {
    const id = ++n;
    writeFileSync(path.join(dir, `x${id}.xml`), xml);
    writeFileSync(path.join(dir, `x${id}.sig`), Buffer.from(signatureB64, 'base64'));
    const r = openssl(['dgst', '-sha256', '-verify', 'attestation-pub.pem', '-signature', `x${id}.sig`, `x${id}.xml`], { cwd: dir });
    return { ok: r.status === 0 && /Verified OK/.test(r.stdout), out: r.stdout + r.stderr };
  };

  before(async () => {
    w = await startTestWarden();
    const r = await w.call('GET', '/v1/attestation/certificate');
    assert.equal(r.statusCode, 200, r.body);
    const chain = r.json().attestationCertificateChain as string[];
    assert.equal(chain.length, 1);
    certDer = Buffer.from(chain[0], 'base64');
    writeFileSync(path.join(dir, 'attestation.der'), certDer);
    const x = openssl(['x509', '-inform', 'DER', '-in', 'attestation.der', '-pubkey', '-noout', '-out', 'attestation-pub.pem'], { cwd: dir });
    assert.equal(x.status, 0, x.stderr);
    pubPem = readFileSync(path.join(dir, 'attestation-pub.pem'), 'utf8');
  });
  after(async () => w.close());

  describe('GET /v1/attestation/certificate', () => {
    it('is an X.509 certificate of the attestation key (RSA 2048, digitalSignature)', async () => {
      const t = openssl(['x509', '-inform', 'DER', '-in', 'attestation.der', '-text', '-noout'], { cwd: dir });
      assert.equal(t.status, 0, t.stderr);
      assert.match(t.stdout, /Subject: CN ?= ?Warden attestation key attestation-key/);
      assert.match(t.stdout, /Public-Key: \(2048 bit\)/);
      assert.match(t.stdout, /Digital Signature/);
      const attrs = (await w.call('POST', '/v1/key/attributes', { label: 'attestation-key' })).json().json as Body;
      const spki = createPublicKey(pubPem).export({ type: 'spki', format: 'der' });
      assert.equal(attrs.publicKey, spki.toString('base64'));
      assert.ok(new X509Certificate(certDer).verify(createPublicKey(pubPem)), 'self-signed');
    });

    it('wrong role → 401/631, missing key → 401/416', async () => {
      assertError(await w.call('GET', '/v1/attestation/certificate', undefined, 'serviceToken'), 401, 631);
      assertError(await w.call('GET', '/v1/attestation/certificate', undefined, null), 401, 416);
    });
  });

  describe('xml + xmlSignature of the attributes responses', () => {
    it('verify with openssl dgst -sha256 -verify for create, attributes and import responses', async () => {
      const created = await w.call('POST', '/v1/key', { label: 'att-ec', algorithm: 'EC', curveOid: P256, attributes: { sign: true } });
      const read = await w.call('POST', '/v1/key/attributes', { label: 'att-ec' });
      const imported = await w.call('POST', '/v1/key/import/plain', { label: 'att-imp', algorithm: 'AES', secretKey: 'AAECAwQFBgcICQoLDA0ODw==', attributes: { decrypt: true } });
      for (const r of [created, read, imported]) {
        assert.ok(r.statusCode < 300, r.body);
        const b = r.json();
        assert.equal(b.attestationKeyName, 'attestation-key');
        const v = opensslVerify(b.xml as string, b.xmlSignature as string);
        assert.ok(v.ok, v.out);
      }
    });

    it('a changed byte in the xml fails verification', async () => {
      const b = (await w.call('POST', '/v1/key/attributes', { label: 'att-ec' })).json();
      const xml = (b.xml as string).replace('<sign>true</sign>', '<sign>fals</sign>');
      assert.notEqual(xml, b.xml);
      const v = opensslVerify(xml, b.xmlSignature as string);
      assert.equal(v.ok, false);
      assert.match(v.out, /Verification failure/);
    });

    it('the xml describes the key exactly (docs/attestation.md format)', async () => {
      const b = (await w.call('POST', '/v1/key/attributes', { label: 'att-ec' })).json();
      const json = b.json as Body & { attributes: Record<string, boolean> };
      const xml = b.xml as string;
      assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<private_key creation="generated">\n'), xml);
      assert.ok(xml.endsWith('</private_key>\n'));
      const el = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1];
      assert.equal(el('label'), 'att-ec');
      assert.equal(el('create_time'), json.createTime);
      assert.equal(el('attest_time'), json.attestTime);
      assert.equal(el('key_use_count'), String(json.keyUsageCount));
      assert.equal(el('algorithm'), 'EC');
      assert.equal(el('algorithm_oid'), '1.2.840.10045.2.1');
      assert.equal(el('curve_oid'), P256);
      assert.equal(el('key_size'), undefined);
      assert.equal(el('public_key'), json.publicKey);
      const names: Array<[string, string]> = [
        ['decrypt', 'decrypt'], ['sign', 'sign'], ['unwrap', 'unwrap'], ['derive', 'derive'], ['sensitive', 'sensitive'], ['always_sensitive', 'alwaysSensitive'],
        ['extractable', 'extractable'], ['never_extractable', 'neverExtractable'], ['modifiable', 'modifiable'], ['copyable', 'copyable'], ['destroyable', 'destroyable'],
      ];
      for (const [x, j] of names) assert.equal(el(x), String(json.attributes[j]), x);
    });

    it('secret keys: root secret_key, key_size, no public_key; imported keys: creation="imported"', async () => {
      const b = (await w.call('POST', '/v1/key/attributes', { label: 'att-imp' })).json();
      const xml = b.xml as string;
      assert.match(xml, /<secret_key creation="imported">/);
      assert.match(xml, /<key_size>128<\/key_size>/);
      assert.doesNotMatch(xml, /<public_key>/);
      const publicKey = ((await w.call('POST', '/v1/key/attributes', { label: 'att-ec' })).json().json as Body).publicKey;
      const pub = (await w.call('POST', '/v1/key/import/plain', { label: 'att-pub', algorithm: 'EC', publicKey })).json();
      assert.match(pub.xml as string, /<public_key creation="imported">/);
    });

    it('escapes XML metacharacters in labels (apostrophe as &apos;)', async () => {
      const label = `it's <a> & "b"`;
      const r = await w.call('POST', '/v1/key', { label, algorithm: 'AES', keySize: 128, attributes: { decrypt: true } });
      assert.equal(r.statusCode, 201, r.body);
      const xml = r.json().xml as string;
      assert.match(xml, /<label>it&apos;s &lt;a&gt; &amp; &quot;b&quot;<\/label>/);
      assert.ok(opensslVerify(xml, r.json().xmlSignature as string).ok);
    });

    it('key_use_count in the xml follows keyUsageCount', async () => {
      const b = (await w.call('POST', '/v1/key/attributes', { label: 'attestation-key' })).json();
      const count = (b.json as Body).keyUsageCount as number;
      assert.ok(count >= 1, 'the attestation key counts its own signatures');
      assert.match(b.xml as string, new RegExp(`<key_use_count>${count}</key_use_count>`));
    });
  });

  describe('POST /v1/key/keyAttestation (zip)', () => {
    it('unpacks to xml, sig, pem, certificate and README; the README command verifies', async () => {
      const label = 'att-zip';
      await w.call('POST', '/v1/key', { label, algorithm: 'ED', attributes: { sign: true }, password: ['p'] });
      const r = await w.app.inject({ method: 'POST', url: '/v1/key/keyAttestation', headers: { 'x-api-key': 'test-km-key', 'content-type': 'application/json' }, payload: JSON.stringify({ label, password: ['p'] }) });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.headers['content-type'], 'application/zip');
      assert.match(String(r.headers['content-disposition']), /attachment; filename="att-zip_attestation.zip"/);
      const files = unzipSync(new Uint8Array(r.rawPayload));
      assert.deepEqual(Object.keys(files).sort(), ['README_Warden_Attestation.md', 'Warden_Attestation.crt', `${label}.pem`, `${label}.sig`, `${label}.xml`].sort());
      const zdir = workDir('warden-zip-');
      for (const [name, data] of Object.entries(files)) writeFileSync(path.join(zdir, name), data);
      const xml = strFromU8(files[`${label}.xml`]);
      assert.match(xml, /<label>att-zip<\/label>/);
      assert.equal(strFromU8(files[`${label}.pem`]), pubPem, 'the .pem is the attestation public key');
      const crt = new X509Certificate(Buffer.from(files['Warden_Attestation.crt']));
      assert.ok(crt.raw.equals(certDer), 'the .crt is the attestation certificate');

      const readme = strFromU8(files['README_Warden_Attestation.md']);
      const cmd = /^\s+(openssl dgst .+)$/m.exec(readme)?.[1];
      assert.ok(cmd, readme);
      const v = openssl(cmd.split(/\s+/).slice(1), { cwd: zdir });
      assert.equal(v.status, 0, v.stdout + v.stderr);
      assert.match(v.stdout, /Verified OK/);
    });

    it('labels with odd characters get safe file names that still verify', async () => {
      const label = "odd label's & <x>";
      await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: { sign: true } });
      const r = await w.app.inject({ method: 'POST', url: '/v1/key/keyAttestation', headers: { 'x-api-key': 'test-km-key', 'content-type': 'application/json' }, payload: JSON.stringify({ label }) });
      assert.equal(r.statusCode, 200, r.body);
      const files = unzipSync(new Uint8Array(r.rawPayload));
      const base = 'odd_label_s____x_';
      assert.ok(files[`${base}.xml`], Object.keys(files).join(','));
      const zdir = workDir('warden-zip-');
      for (const [name, data] of Object.entries(files)) writeFileSync(path.join(zdir, name), data);
      const v = openssl(['dgst', '-sha256', '-verify', `${base}.pem`, '-signature', `${base}.sig`, `${base}.xml`], { cwd: zdir });
      assert.match(v.stdout, /Verified OK/, v.stderr);
    });

    it('unknown 650, wrong password 620, bad JSON 621, missing label 600, roles 631/416', async () => {
      assertError(await w.call('POST', '/v1/key/keyAttestation', { label: 'nope' }), 404, 650);
      assertError(await w.call('POST', '/v1/key/keyAttestation', { label: 'att-zip', password: 'q' }), 400, 620);
      assertError(await w.call('POST', '/v1/key/keyAttestation', { label: 'att-zip' }), 400, 620);
      assertError(await w.call('POST', '/v1/key/keyAttestation', '{'), 400, 621);
      assertError(await w.call('POST', '/v1/key/keyAttestation', {}), 400, 600);
      assertError(await w.call('POST', '/v1/key/keyAttestation', { label: 'att-zip' }, 'keyOperationToken'), 401, 631);
      assertError(await w.call('POST', '/v1/key/keyAttestation', { label: 'att-zip' }, null), 401, 416);
    });
  });

  describe('POST /v1/attestation/key', () => {
    it('returns the KeyAttestationDto; its signature verifies with openssl', async () => {
      await w.call('POST', '/v1/key', { label: 'att-dto', algorithm: 'RSA', keySize: 2048, attributes: { sign: true, decrypt: true }, password: 'pw' });
      const r = await w.call('POST', '/v1/attestation/key', { label: 'att-dto', password: [...'pw'] });
      assert.equal(r.statusCode, 200, r.body);
      const b = r.json();
      assert.deepEqual(Object.keys(b).sort(), ['attestationKeyName', 'signingKeyAttestationCertificate', 'signingKeyAttestationSignatureBase64', 'signingKeyAttestationXml', 'signingKeyPublicKey']);
      assert.equal(b.attestationKeyName, 'attestation-key');
      const v = opensslVerify(b.signingKeyAttestationXml as string, b.signingKeyAttestationSignatureBase64 as string);
      assert.ok(v.ok, v.out);
      const attrs = (await w.call('POST', '/v1/key/attributes', { label: 'att-dto', password: 'pw' })).json().json as Body;
      const pem = b.signingKeyPublicKey as string;
      assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n/);
      assert.equal(createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('base64'), attrs.publicKey);
      const chain = b.signingKeyAttestationCertificate as string[];
      assert.equal(chain.length, 1);
      assert.ok(new X509Certificate(chain[0]).raw.equals(certDer));
    });

    it('secret keys have signingKeyPublicKey null', async () => {
      const r = await w.call('POST', '/v1/attestation/key', { label: 'att-imp' });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.json().signingKeyPublicKey, null);
    });

    it('unknown 650, wrong password 620, bad JSON 621, types 600, roles 631/416', async () => {
      assertError(await w.call('POST', '/v1/attestation/key', { label: 'nope' }), 404, 650);
      assertError(await w.call('POST', '/v1/attestation/key', { label: 'att-dto', password: 'x' }), 400, 620);
      assertError(await w.call('POST', '/v1/attestation/key', '[1,'), 400, 621);
      assertError(await w.call('POST', '/v1/attestation/key', { label: 1 }), 400, 600);
      assertError(await w.call('POST', '/v1/attestation/key', { label: 'att-dto' }, 'serviceToken'), 401, 631);
      assertError(await w.call('POST', '/v1/attestation/key', { label: 'att-dto' }, null), 401, 416);
    });
  });
});
