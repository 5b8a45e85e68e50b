// Certificate endpoints (spec §4.12): CSRs, self-signed and CA-issued certificates cross-checked
// with the openssl CLI (req -verify, verify -CAfile, x509 -text), import/get/delete, client quirks
// (comma-joined usages, fireblocks bodies) and the error codes of every refusal.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const P256 = '1.2.840.10045.3.1.7';
const SECP256K1 = '1.3.132.0.10';

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input });
}

/** openssl that is expected to succeed; returns stdout+stderr (req -verify prints to stderr). */
function opensslAll(args: string[]): string {
  return execFileSync('sh', ['-c', `openssl ${args.map((a) => `'${a}'`).join(' ')} 2>&1`], { encoding: 'utf8' });
}

describe('certificates', () => {
  let w: TestWarden;
  let dir: string;
  const file = (name: string, text?: string) => {
    const p = path.join(dir, name);
    if (text !== undefined) writeFileSync(p, text);
    return p;
  };

  async function createKey(label: string, spec: Record<string, unknown>, attributes: Record<string, unknown> = { sign: true }, password?: string) {
    const r = await w.call('POST', '/v1/key', { label, ...spec, attributes, ...(password ? { password: [...password] } : {}) });
    assert.equal(r.statusCode, 201, r.body);
  }

  before(async () => {
    w = await startTestWarden();
    dir = mkdtempSync(path.join(tmpdir(), 'warden-cert-'));
    await createKey('csr-rsa', { algorithm: 'RSA', keySize: 2048 });
    await createKey('ca-ec', { algorithm: 'EC', curveOid: P256 });
    await createKey('ca-k1', { algorithm: 'EC', curveOid: SECP256K1 });
    await createKey('ca-rsa', { algorithm: 'RSA', keySize: 2048 }, { sign: true }, 'ca-pass');
    await createKey('no-sign', { algorithm: 'EC', curveOid: P256 }, { decrypt: true });
    await createKey('ed-key', { algorithm: 'ED' });
  });
  after(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a CSR that openssl verifies, with subject, critical KU/EKU and SKI, and attaches a self-signed certificate', async () => {
    const none = await w.call('GET', '/v1/certificate/csr-rsa', undefined, 'keyOperationToken');
    assert.equal(none.statusCode, 404);
    assert.equal(none.json().errorCode, 622);
    const r = await w.call('POST', '/v1/certificate/synchronous/request', {
      signKeyName: 'csr-rsa',
      signatureAlgorithm: 'SHA256_WITH_RSA',
      validity: 30,
      standardCertificateAttributes: {
        commonName: 'csr.example.com', country: 'CH', stateOrProvinceName: 'Zurich', locality: 'Zurich', organizationName: 'Example AG',
        organizationUnitName: 'PKI', organizationIdentifier: 'VATCH-CHE123456789', email: 'pki@example.com', title: null, surname: null,
        givenName: null, initials: null, pseudonym: null, generationQualifier: null,
      },
      keyUsage: ['DIGITAL_SIGNATURE,KEY_ENCIPHERMENT'],
      extendedKeyUsage: ['SERVER_AUTH, CLIENT_AUTH'],
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    const { label, certificateSigningRequest: pem } = r.json();
    assert.equal(label, 'csr-rsa');
    assert.match(pem, /^-----BEGIN NEW CERTIFICATE REQUEST-----\n/);
    assert.ok(pem.endsWith('\n-----END NEW CERTIFICATE REQUEST-----\n'));
    const lines = pem.trim().split('\n').slice(1, -1);
    assert.ok(lines.slice(0, -1).every((l: string) => l.length === 64), '64-column body');
    assert.ok(lines[lines.length - 1].length <= 64);
    const p = file('csr-rsa.pem', pem);
    assert.match(opensslAll(['req', '-verify', '-in', p, '-noout']), /verify OK/i);
    const text = openssl(['req', '-in', p, '-noout', '-text']);
    assert.match(text, /C ?= ?CH, ST ?= ?Zurich, L ?= ?Zurich, O ?= ?Example AG, OU ?= ?PKI, organizationIdentifier ?= ?VATCH-CHE123456789, CN ?= ?csr\.example\.com, emailAddress ?= ?pki@example\.com/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /X509v3 Extended Key Usage: critical\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /X509v3 Subject Key Identifier/);
    assert.match(text, /sha256WithRSAEncryption/);

    const got = await w.call('GET', '/v1/certificate/csr-rsa', undefined, 'keyManagementToken');
    assert.equal(got.statusCode, 200, got.body);
    assert.equal(got.json().label, 'csr-rsa');
    const certText = openssl(['x509', '-noout', '-text'], `-----BEGIN CERTIFICATE-----\n${got.json().certificate}\n-----END CERTIFICATE-----\n`);
    assert.match(certText, /Subject: .*CN ?= ?csr\.example\.com/);
    assert.match(certText, /Issuer: .*CN ?= ?csr\.example\.com/);
    // The self-signed certificate is not replaced by a second CSR.
    const again = await w.call('POST', '/v1/certificate/synchronous/request', {
      signKeyName: 'csr-rsa', signatureAlgorithm: 'SHA512_WITH_RSA', standardCertificateAttributes: { commonName: 'other' },
    }, 'keyOperationToken');
    assert.equal(again.statusCode, 200, again.body);
    const got2 = await w.call('GET', '/v1/certificate/csr-rsa', undefined, 'keyOperationToken');
    assert.equal(got2.json().certificate, got.json().certificate);
  });

  it('offers the CSR as a file download', async () => {
    const r = await w.call('POST', '/v1/certificate/synchronous/request/download', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', standardCertificateAttributes: { commonName: 'download' },
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['content-type'], 'application/pkcs10');
    assert.match(String(r.headers['content-disposition']), /attachment; filename="ca-ec\.csr"/);
    assert.match(opensslAll(['req', '-verify', '-noout', '-in', file('dl.csr', r.body)]), /verify OK/i);
    // That CSR attached a self-signed certificate to ca-ec; the self-sign below replaces it.
  });

  let caPem = '';
  it('self-signs a CA certificate (CA:TRUE) that openssl verifies against itself', async () => {
    const r = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', validity: 3650, commonName: 'Warden Test CA',
      certificateAuthority: true, keyUsage: ['KEY_CERT_SIGN', 'CRL_SIGN'], extendedKeyUsage: [],
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    const { label, certificate } = r.json();
    assert.equal(label, 'ca-ec');
    const lines = certificate.split('\n');
    assert.equal(lines.length, 3, 'Base64 body on one line');
    assert.equal(lines[0], '-----BEGIN CERTIFICATE-----');
    assert.equal(lines[2], '-----END CERTIFICATE-----');
    caPem = certificate + '\n';
    const ca = file('ca.pem', caPem);
    const text = openssl(['x509', '-in', ca, '-noout', '-text']);
    assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE/);
    assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(text, /ecdsa-with-SHA256/);
    assert.match(text, /Not After : .*20(3[5-9])/);
    assert.match(opensslAll(['verify', '-CAfile', ca, ca]), /: OK/);
    const got = await w.call('GET', '/v1/certificate/ca-ec', undefined, 'keyOperationToken');
    assert.equal(got.json().certificate, lines[1], 'stored with the key');
  });

  it('serves the release-1.17.0 alias path and fireblocks-style bodies (CN in standardCertificateAttributes, plain-string password)', async () => {
    const r = await w.call('POST', '/v1/certificate/synchronous/create/selfSigned', {
      signKeyName: 'ca-rsa', keyPassword: 'ca-pass', signatureAlgorithm: 'SHA384_WITH_RSA', validity: 365, certificateAuthority: true,
      standardCertificateAttributes: { commonName: 'ca-rsa' }, keyUsage: ['KEY_CERT_SIGN'], extendedKeyUsage: ['ANY_EXTENDED_KEY_USAGE'],
    }, 'keyManagementToken');
    assert.equal(r.statusCode, 200, r.body);
    const p = file('ca-rsa.pem', r.json().certificate + '\n');
    const text = openssl(['x509', '-in', p, '-noout', '-text']);
    assert.match(text, /sha384WithRSAEncryption/);
    assert.match(text, /Subject: CN ?= ?ca-rsa/);
    assert.match(text, /Any Extended Key Usage/);
    assert.match(opensslAll(['verify', '-CAfile', p, p]), /: OK/);
  });

  it('issues a certificate for an openssl-made CSR that openssl verifies against the CA (P-256, secp256k1, RSA CAs)', async () => {
    const leafKey = file('leaf.key');
    const leafCsr = file('leaf.csr');
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', leafKey, '-out', leafCsr, '-subj', '/CN=ignored by the CA/O=Requester']);
    const csrText = readFileSync(leafCsr, 'utf8');

    const r = await w.call('POST', '/v1/certificate/synchronous/sign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA384_WITH_ECDSA', commonName: 'leaf.example.com', certificateAuthority: false,
      certificateSigningRequest: csrText, keyUsage: ['DIGITAL_SIGNATURE,KEY_ENCIPHERMENT'], extendedKeyUsage: ['SERVER_AUTH,CLIENT_AUTH'],
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.json().label, 'ca-ec');
    const leaf = file('leaf.pem', r.json().certificate + '\n');
    const ca = file('ca.pem', caPem);
    assert.match(opensslAll(['verify', '-CAfile', ca, leaf]), /leaf\.pem: OK/);
    const text = openssl(['x509', '-in', leaf, '-noout', '-text']);
    assert.match(text, /Subject: CN ?= ?leaf\.example\.com\n/);
    assert.match(text, /Issuer: CN ?= ?Warden Test CA\n/);
    assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /X509v3 Extended Key Usage: critical\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    assert.match(text, /X509v3 Authority Key Identifier/);
    assert.match(text, /X509v3 Subject Key Identifier/);
    assert.match(text, /ecdsa-with-SHA384/);
    const days = (Date.parse(openssl(['x509', '-in', leaf, '-noout', '-enddate']).split('=')[1]) - Date.now()) / 86_400_000;
    assert.ok(days > 3649 && days <= 3650, `default validity 3650 days, got ${days}`);
    // The leaf public key is the CSR's.
    assert.equal(openssl(['x509', '-in', leaf, '-noout', '-pubkey']), openssl(['pkey', '-in', leafKey, '-pubout']));

    // secp256k1 CA (a curve WebCrypto lacks), fireblocks body with validity + CN in attributes, EC leaf CSR.
    const ca1 = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-k1', signatureAlgorithm: 'SHA256_WITH_ECDSA', validity: 100, commonName: 'k1 CA', certificateAuthority: true, keyUsage: ['KEY_CERT_SIGN'],
    }, 'keyOperationToken');
    assert.equal(ca1.statusCode, 200, ca1.body);
    const k1ca = file('k1ca.pem', ca1.json().certificate + '\n');
    const ecCsr = file('ec.csr');
    openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', file('ec.key'), '-out', ecCsr, '-subj', '/CN=x']);
    const s1 = await w.call('POST', '/v1/certificate/synchronous/sign', {
      signKeyName: 'ca-k1', signatureAlgorithm: 'SHA256_WITH_ECDSA', standardCertificateAttributes: { commonName: 'ec-leaf' }, validity: 365,
      certificateAuthority: false, certificateSigningRequest: readFileSync(ecCsr, 'utf8'), keyUsage: ['DIGITAL_SIGNATURE'], extendedKeyUsage: ['ANY_EXTENDED_KEY_USAGE'],
    }, 'keyManagementToken');
    assert.equal(s1.statusCode, 200, s1.body);
    const ecLeaf = file('ecleaf.pem', s1.json().certificate + '\n');
    assert.match(opensslAll(['verify', '-CAfile', k1ca, ecLeaf]), /: OK/);
    const days1 = (Date.parse(openssl(['x509', '-in', ecLeaf, '-noout', '-enddate']).split('=')[1]) - Date.now()) / 86_400_000;
    assert.ok(days1 > 364 && days1 <= 365, `validity field honoured, got ${days1}`);

    // RSA CA with a password, a CSR given as Base64 DER with a PSS signature.
    const pssCsr = file('pss.csr');
    openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('pss.key'), '-out', pssCsr, '-subj', '/CN=pss', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sha256']);
    const pssDer = execFileSync('openssl', ['req', '-in', pssCsr, '-outform', 'DER']).toString('base64');
    const s2 = await w.call('POST', '/v1/certificate/synchronous/sign', {
      signKeyName: 'ca-rsa', keyPassword: ['c', 'a', '-', 'p', 'a', 's', 's'], signatureAlgorithm: 'SHA256_WITH_RSA', commonName: 'pss-leaf',
      certificateSigningRequest: pssDer, keyUsage: [''], extendedKeyUsage: [''],
    }, 'keyOperationToken');
    assert.equal(s2.statusCode, 200, s2.body);
    assert.match(opensslAll(['verify', '-CAfile', file('ca-rsa.pem'), file('pssleaf.pem', s2.json().certificate + '\n')]), /: OK/);
  });

  it('refuses bad CSRs (628), CA keys without a certificate (409) and algorithm/key mismatches (607)', async () => {
    const csr = readFileSync(file('leaf.csr'), 'utf8');
    const derBytes = execFileSync('openssl', ['req', '-in', file('leaf.csr'), '-outform', 'DER']);
    const tampered = Buffer.from(derBytes);
    tampered[40] ^= 0x01; // inside the subject: the self-signature no longer verifies
    const bad = await w.call('POST', '/v1/certificate/synchronous/sign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'x', certificateSigningRequest: tampered.toString('base64'),
    }, 'keyOperationToken');
    assert.equal(bad.statusCode, 400);
    assert.equal(bad.json().errorCode, 628);
    const garbage = await w.call('POST', '/v1/certificate/synchronous/sign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'x', certificateSigningRequest: 'not a csr',
    }, 'keyOperationToken');
    assert.equal(garbage.json().errorCode, 628);

    await createKey('ca-nocert', { algorithm: 'EC', curveOid: P256 });
    const noCert = await w.call('POST', '/v1/certificate/synchronous/sign', {
      signKeyName: 'ca-nocert', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'x', certificateSigningRequest: csr,
    }, 'keyOperationToken');
    assert.equal(noCert.statusCode, 400);
    assert.equal(noCert.json().errorCode, 409);

    const mismatch = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_RSA', commonName: 'x',
    }, 'keyOperationToken');
    assert.equal(mismatch.statusCode, 400);
    assert.equal(mismatch.json().errorCode, 607);

    const unknownUsage = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'x', keyUsage: ['DIGITAL_SIGNATURE,FLY'],
    }, 'keyOperationToken');
    assert.equal(unknownUsage.statusCode, 400);
    assert.equal(unknownUsage.json().errorCode, 501);

    const badAlg = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA1_WITH_ECDSA', commonName: 'x',
    }, 'keyOperationToken');
    assert.equal(badAlg.json().errorCode, 501);

    const noCn = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA',
    }, 'keyOperationToken');
    assert.equal(noCn.statusCode, 400);
    assert.equal(noCn.json().errorCode, 600);

    const badCountry = await w.call('POST', '/v1/certificate/synchronous/request', {
      signKeyName: 'ca-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', standardCertificateAttributes: { commonName: 'x', country: 'Switzerland' },
    }, 'keyOperationToken');
    assert.equal(badCountry.json().errorCode, 600);
  });

  it('writes notAfter from 2050 on as GeneralizedTime (RFC 5280 §4.1.2.5)', async () => {
    const r = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-k1', signatureAlgorithm: 'SHA512_WITH_ECDSA', commonName: 'long-lived', validity: 36500,
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    const end = openssl(['x509', '-noout', '-enddate'], r.json().certificate + '\n');
    assert.equal(new Date(end.trim().split('=')[1]).getUTCFullYear(), new Date(Date.now() + 36500 * 86_400_000).getUTCFullYear());
    const tooLong = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ca-k1', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'x', validity: 36501,
    }, 'keyOperationToken');
    assert.equal(tooLong.json().errorCode, 600);
  });

  it('self-signs with an Ed25519 key (EDDSA extension)', async () => {
    const r = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'ed-key', signatureAlgorithm: 'EDDSA', commonName: 'ed', certificateAuthority: true, keyUsage: ['KEY_CERT_SIGN'],
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    const p = file('ed.pem', r.json().certificate + '\n');
    assert.match(openssl(['x509', '-in', p, '-noout', '-text']), /ED25519/);
    assert.match(opensslAll(['verify', '-CAfile', p, p]), /: OK/);
  });

  it('imports, reads and deletes the certificate of a key', async () => {
    const caDerB64 = caPem.split('\n')[1];
    // Importing the CA certificate onto its own key (PEM armor tolerated).
    const ok = await w.call('POST', '/v1/certificate/import/plain', { label: 'ca-ec', certificate: caPem }, 'keyOperationToken');
    assert.equal(ok.statusCode, 200, ok.body);
    assert.deepEqual(ok.json(), { label: 'ca-ec', certificate: caDerB64 });
    // A certificate of another key is refused.
    const leafB64 = readFileSync(file('leaf.pem'), 'utf8').split('\n')[1];
    const wrong = await w.call('POST', '/v1/certificate/import/plain', { label: 'ca-ec', certificate: leafB64 }, 'keyOperationToken');
    assert.equal(wrong.statusCode, 400);
    assert.equal(wrong.json().errorCode, 600);
    const garbage = await w.call('POST', '/v1/certificate/import/plain', { label: 'ca-ec', certificate: 'AAAA' }, 'keyOperationToken');
    assert.equal(garbage.json().errorCode, 626);
    const missing = await w.call('POST', '/v1/certificate/import/plain', { label: 'nope', certificate: caDerB64 }, 'keyOperationToken');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().errorCode, 650);
    // The Go client's body has a trailing comma: not JSON, answered 400/621 (documented decision).
    const goBody = `{\n  "label": "ca-ec",\n  "certificate": "${caDerB64}",\n  }`;
    const go = await w.call('POST', '/v1/certificate/import/plain', goBody, 'keyOperationToken');
    assert.equal(go.statusCode, 400);
    assert.equal(go.json().errorCode, 621);

    const got = await w.call('GET', '/v1/certificate/ca-ec', undefined, 'keyOperationToken');
    assert.deepEqual(got.json(), { label: 'ca-ec', certificate: caDerB64 });
    const del = await w.call('DELETE', '/v1/certificate/ca-ec', undefined, 'keyOperationToken');
    assert.equal(del.statusCode, 200, del.body);
    assert.deepEqual(del.json(), {});
    const gone = await w.call('GET', '/v1/certificate/ca-ec', undefined, 'keyOperationToken');
    assert.equal(gone.statusCode, 404);
    assert.equal(gone.json().errorCode, 622);
    // The key itself is still there and usable.
    const attrs = await w.call('POST', '/v1/key/attributes', { label: 'ca-ec' });
    assert.equal(attrs.statusCode, 200);
  });

  it('lets anyone read but nobody change the certificate of a system key', async () => {
    const att = await w.call('GET', `/v1/certificate/${w.config.hsm.attestationKeyName}`, undefined, 'keyOperationToken');
    assert.equal(att.statusCode, 200, att.body);
    const del = await w.call('DELETE', `/v1/certificate/${w.config.hsm.attestationKeyName}`, undefined, 'keyOperationToken');
    assert.equal(del.statusCode, 400);
    assert.equal(del.json().errorCode, 614);
    const self = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: w.config.hsm.attestationKeyName, signatureAlgorithm: 'SHA256_WITH_RSA', commonName: 'forged',
    }, 'keyOperationToken');
    assert.equal(self.statusCode, 400);
    assert.equal(self.json().errorCode, 614);
  });

  it('answers the error codes of roles (631), missing keys (650), wrong passwords (620) and keys without sign (614)', async () => {
    const body = { signKeyName: 'ca-rsa', keyPassword: ['c', 'a', '-', 'p', 'a', 's', 's'], signatureAlgorithm: 'SHA256_WITH_RSA', commonName: 'x' };
    const role = await w.call('POST', '/v1/certificate/synchronous/selfsign', body, 'serviceToken');
    assert.equal(role.statusCode, 401);
    assert.equal(role.json().errorCode, 631);
    const noKey = await w.call('GET', '/v1/certificate/ca-ec', undefined, null);
    assert.equal(noKey.statusCode, 401);
    assert.equal(noKey.json().errorCode, 416);
    const missing = await w.call('POST', '/v1/certificate/synchronous/selfsign', { ...body, signKeyName: 'nope' }, 'keyOperationToken');
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.json().errorCode, 650);
    const wrongPw = await w.call('POST', '/v1/certificate/synchronous/selfsign', { ...body, keyPassword: 'wrong' }, 'keyOperationToken');
    assert.equal(wrongPw.statusCode, 400);
    assert.equal(wrongPw.json().errorCode, 620);
    const noPw = await w.call('POST', '/v1/certificate/synchronous/request', {
      signKeyName: 'ca-rsa', signatureAlgorithm: 'SHA256_WITH_RSA', standardCertificateAttributes: { commonName: 'x' },
    }, 'keyOperationToken');
    assert.equal(noPw.json().errorCode, 620);
    const noSign = await w.call('POST', '/v1/certificate/synchronous/selfsign', {
      signKeyName: 'no-sign', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'x',
    }, 'keyOperationToken');
    assert.equal(noSign.statusCode, 400);
    assert.equal(noSign.json().errorCode, 614);
    const noSignCsr = await w.call('POST', '/v1/certificate/synchronous/request', {
      signKeyName: 'no-sign', signatureAlgorithm: 'SHA256_WITH_ECDSA', standardCertificateAttributes: { commonName: 'x' },
    }, 'keyOperationToken');
    assert.equal(noSignCsr.json().errorCode, 614);
    const missingGet = await w.call('GET', '/v1/certificate/nope', undefined, 'keyOperationToken');
    assert.equal(missingGet.statusCode, 404);
    assert.equal(missingGet.json().errorCode, 650);
    const missingDel = await w.call('DELETE', '/v1/certificate/nope', undefined, 'keyOperationToken');
    assert.equal(missingDel.json().errorCode, 650);
  });
});
