// Approver proof of possession (spec multi-authorization §4.2): the signed ISO-8601 timestamp with RSA,
// EC, DSA, Ed25519 keys (signatures made by the openssl CLI exactly as the spec's recipe, and by node),
// every digest of the enum, the skew windows (404), bad signatures (403), unlisted signer certificates
// (405), malformed inputs (600/501/407/409) and unsupported key types (601).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApproverProofVerifier, parseApproverTimestamp, verifyApproverProof, type ApproverProofInput, type ApproverProofOptions } from '../src/auth/approver-proof.ts';
import { WardenError } from '../src/server/errors.ts';

const NOW = Date.parse('2024-08-14T18:02:58Z');
const TS = '2024-08-14T20:02:58+02:00'; // = NOW, in the spec's sample form
const opts = (o: Partial<ApproverProofOptions> = {}): ApproverProofOptions => ({ maxPastSeconds: 600, maxFutureSeconds: 0, allowedTimestampSigners: [], now: () => NOW, ...o });
const spkiB64 = (k: KeyObject) => k.export({ format: 'der', type: 'spki' }).toString('base64');

function expectCode(fn: () => unknown, code: number, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof WardenError, String(e));
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  });
}

let dir: string;
const openssl = (args: string[], input?: string) => execFileSync('openssl', args, { input, cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'warden-proof-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A key pair written as PEM for openssl, with the public key for the proof. */
function keyFile(name: string, genArgs: string[]): { pem: string; publicKey: string } {
  const pem = path.join(dir, `${name}.pem`);
  openssl([...genArgs, '-out', pem]);
  const pub = openssl(['pkey', '-in', pem, '-pubout', '-outform', 'DER']).toString('base64');
  return { pem, publicKey: pub };
}

/** `echo -n $TS | openssl dgst -<digest> -sign key.pem | base64` (spec §4.2). */
function opensslSign(pem: string, digest: string, ts = TS): string {
  return openssl(['dgst', `-${digest}`, '-sign', pem], ts).toString('base64');
}

describe('approver proof: keys and digests (openssl CLI signatures)', () => {
  const digests: [string, string][] = [
    ['SHA-224', 'sha224'], ['SHA-256', 'sha256'], ['SHA-384', 'sha384'], ['SHA-512', 'sha512'],
    ['SHA3-224', 'sha3-224'], ['SHA3-256', 'sha3-256'], ['SHA3-384', 'sha3-384'], ['SHA3-512', 'sha3-512'],
  ];
  let count = 0;
  const families: [string, string[]][] = [
    ['RSA-2048', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']],
    ['EC P-256', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['EC P-384', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384']],
    ['EC secp256k1', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1']],
  ];
  for (const [name, gen] of families) {
    it(`${name}: every digest of the enum`, () => {
      const k = keyFile(name.replace(/\W/g, ''), gen);
      for (const [wire, dgst] of digests) {
        const proof = { timestamp: TS, timestampSignature: opensslSign(k.pem, dgst), timestampDigestAlgorithm: wire, approverPublicKey: k.publicKey };
        const r = verifyApproverProof(proof, opts());
        assert.equal(r.kind, 'approver');
        assert.equal(r.timestamp.getTime(), NOW);
        count++;
        // The same signature under another digest name does not verify.
        expectCode(() => verifyApproverProof({ ...proof, timestampDigestAlgorithm: wire === 'SHA-256' ? 'SHA-512' : 'SHA-256' }, opts()), 403);
      }
    });
  }

  it('DSA-2048 with SHA-256 (openssl)', () => {
    const params = path.join(dir, 'dsa-params.pem');
    openssl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:2048', '-out', params]);
    const k = keyFile('dsa', ['genpkey', '-paramfile', params]);
    const r = verifyApproverProof({ timestamp: TS, timestampSignature: opensslSign(k.pem, 'sha256'), timestampDigestAlgorithm: 'SHA-256', approverPublicKey: k.publicKey }, opts());
    assert.equal(r.kind, 'approver');
    count++;
  });

  it('Ed25519 with EdDSA (openssl pkeyutl -rawin), the form of the spec sample', () => {
    const k = keyFile('ed', ['genpkey', '-algorithm', 'ED25519']);
    const tsFile = path.join(dir, 'ts.txt');
    writeFileSync(tsFile, TS);
    const sig = openssl(['pkeyutl', '-sign', '-rawin', '-inkey', k.pem, '-in', tsFile]).toString('base64');
    for (const name of ['EdDSA', 'Ed25519']) {
      assert.equal(verifyApproverProof({ timestamp: TS, timestampSignature: sig, timestampDigestAlgorithm: name, approverPublicKey: k.publicKey }, opts()).kind, 'approver');
    }
    expectCode(() => verifyApproverProof({ timestamp: TS, timestampSignature: sig, timestampDigestAlgorithm: 'SHA-256', approverPublicKey: k.publicKey }, opts()), 403, /EdDSA/);
    count++;
  });

  it('ran every combination', () => {
    console.log(`approver proof: ${count} openssl-signed proofs verified`);
    assert.equal(count, 4 * 8 + 2);
  });
});

describe('approver proof: identity, time window and failures', () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const sign = (ts: string, key = ec.privateKey, hash: string | null = 'sha256', dsaEncoding: 'der' | 'ieee-p1363' = 'der') =>
    cryptoSign(hash, Buffer.from(ts), { key, dsaEncoding }).toString('base64');
  const proof = (o: Partial<ApproverProofInput> = {}): ApproverProofInput => ({
    timestamp: TS, timestampSignature: sign(TS), timestampDigestAlgorithm: 'SHA-256', approverPublicKey: spkiB64(ec.publicKey), ...o,
  });

  it('returns the approver key (SPKI) and its fingerprint', () => {
    const r = verifyApproverProof(proof(), opts());
    assert.equal(r.kind, 'approver');
    if (r.kind !== 'approver') return;
    assert.deepEqual(r.publicKeySpki, ec.publicKey.export({ format: 'der', type: 'spki' }));
    assert.match(r.keyFingerprint, /^sha256:[0-9a-f]{64}$/);
  });

  it('parses the timestamp forms seen in the wild', () => {
    assert.equal(parseApproverTimestamp('2023-10-30T17:30:24+00:00').toISOString(), '2023-10-30T17:30:24.000Z');
    assert.equal(parseApproverTimestamp('2024-08-14T20:02:58+02:00').toISOString(), '2024-08-14T18:02:58.000Z');
    assert.equal(parseApproverTimestamp('2024-08-14T18:02:58.123Z').toISOString(), '2024-08-14T18:02:58.123Z');
    assert.equal(parseApproverTimestamp('2024-08-14T18:02:58.123456789Z').toISOString(), '2024-08-14T18:02:58.123Z');
    assert.equal(parseApproverTimestamp('2024-08-14T20:02:58+0200').toISOString(), '2024-08-14T18:02:58.000Z');
    for (const bad of ['2024-08-14 18:02:58Z', '2024-08-14T18:02:58', 'yesterday', '1723658578', '2024-13-40T99:99:99Z']) {
      expectCode(() => parseApproverTimestamp(bad), 600);
    }
  });

  it('enforces maxTimestampDiffApprovalClient (default 600 s) → 404', () => {
    const at = (secondsAgo: number) => new Date(NOW - secondsAgo * 1000).toISOString();
    for (const ok of [0, 1, 599, 600]) assert.equal(verifyApproverProof(proof({ timestamp: at(ok), timestampSignature: sign(at(ok)) }), opts()).kind, 'approver', `${ok}`);
    expectCode(() => verifyApproverProof(proof({ timestamp: at(601), timestampSignature: sign(at(601)) }), opts()), 404, /601 s old/);
    expectCode(() => verifyApproverProof(proof({ timestamp: at(3600), timestampSignature: sign(at(3600)) }), opts({ maxPastSeconds: 60 })), 404);
  });

  it('enforces maxFutureTimestampDiffApprovalClient (default 0 s) → 404', () => {
    const ahead = new Date(NOW + 5000).toISOString();
    expectCode(() => verifyApproverProof(proof({ timestamp: ahead, timestampSignature: sign(ahead) }), opts()), 404, /in the future/);
    assert.equal(verifyApproverProof(proof({ timestamp: ahead, timestampSignature: sign(ahead) }), opts({ maxFutureSeconds: 5 })).kind, 'approver');
  });

  it('verifies the bytes exactly as sent: the same instant in another form is 403', () => {
    expectCode(() => verifyApproverProof(proof({ timestamp: '2024-08-14T18:02:58Z' }), opts()), 403);
    expectCode(() => verifyApproverProof(proof({ timestamp: '2024-08-14T18:02:58.000Z' }), opts()), 403);
  });

  it('403 for a flipped signature bit, another key, garbage', () => {
    const sig = Buffer.from(sign(TS), 'base64');
    sig[sig.length - 1] ^= 1;
    expectCode(() => verifyApproverProof(proof({ timestampSignature: sig.toString('base64') }), opts()), 403);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expectCode(() => verifyApproverProof(proof({ timestampSignature: sign(TS, other.privateKey) }), opts()), 403);
    expectCode(() => verifyApproverProof(proof({ timestampSignature: '!!!' }), opts()), 403);
    expectCode(() => verifyApproverProof(proof({ timestampSignature: 'AAAA' }), opts()), 403);
  });

  it('accepts raw r‖s ECDSA and RSA-PSS signatures too', () => {
    assert.equal(verifyApproverProof(proof({ timestampSignature: sign(TS, ec.privateKey, 'sha256', 'ieee-p1363') }), opts()).kind, 'approver');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pss = cryptoSign('sha256', Buffer.from(TS), { key: rsa.privateKey, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: 32 }).toString('base64');
    assert.equal(verifyApproverProof(proof({ timestampSignature: pss, approverPublicKey: spkiB64(rsa.publicKey) }), opts()).kind, 'approver');
  });

  it('takes the key from approverCertificate; refuses a certificate naming another key than approverPublicKey', () => {
    const pem = path.join(dir, 'approver.pem');
    const crt = path.join(dir, 'approver.crt');
    writeFileSync(pem, ec.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    openssl(['req', '-x509', '-key', pem, '-subj', '/CN=approver', '-days', '1', '-out', crt]);
    const der = new X509Certificate(readFileSync(crt)).raw.toString('base64');
    assert.equal(verifyApproverProof(proof({ approverPublicKey: null, approverCertificate: der }), opts()).kind, 'approver');
    assert.equal(verifyApproverProof(proof({ approverCertificate: der }), opts()).kind, 'approver');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    expectCode(() => verifyApproverProof(proof({ approverPublicKey: spkiB64(other.publicKey), approverCertificate: der }), opts()), 600, /different keys/);
  });

  it('timestamp signers: listed → timestampSigner (optionally narrowed to one approver), unlisted → 405', () => {
    const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = path.join(dir, 'signer.pem');
    const crt = path.join(dir, 'signer.crt');
    writeFileSync(pem, signer.privateKey.export({ format: 'pem', type: 'pkcs8' }));
    openssl(['req', '-x509', '-key', pem, '-subj', '/CN=notification-service', '-days', '1', '-out', crt]);
    const cert = new X509Certificate(readFileSync(crt));
    const p = proof({ approverPublicKey: null, timestampSigningCertificate: cert.raw.toString('base64'), timestampSignature: sign(TS, signer.privateKey) });
    const verifier = new ApproverProofVerifier(
      { maxTimestampDiffApprovalClient: 600, maxFutureTimestampDiffApprovalClient: 0, allowedTimestampSigningCertificates: [`file:${crt}`] },
      () => NOW,
    );
    const r = verifier.verify(p);
    assert.equal(r.kind, 'timestampSigner');
    if (r.kind === 'timestampSigner') {
      assert.equal(r.signer.subject, 'CN=notification-service');
      assert.equal(r.approverPublicKeySpki, null);
    }
    const narrowed = verifier.verify({ ...p, approverPublicKey: spkiB64(ec.publicKey) });
    assert.ok(narrowed.kind === 'timestampSigner' && narrowed.approverPublicKeySpki?.equals(ec.publicKey.export({ format: 'der', type: 'spki' })));
    expectCode(() => verifyApproverProof(p, opts()), 405);
    // A listed signer whose signature was made by another key is still 403.
    expectCode(() => verifier.verify({ ...p, timestampSignature: sign(TS) }), 403);
  });

  it('600 for missing fields, 501 for an unknown digest, 407/409 for unparseable keys and certificates, 601 for X25519', () => {
    expectCode(() => verifyApproverProof(proof({ timestamp: null }), opts()), 600, /timestamp is required/);
    expectCode(() => verifyApproverProof(proof({ timestampSignature: '' }), opts()), 600);
    expectCode(() => verifyApproverProof(proof({ timestampDigestAlgorithm: null }), opts()), 600);
    expectCode(() => verifyApproverProof(proof({ approverPublicKey: null }), opts()), 600, /is required/);
    expectCode(() => verifyApproverProof(proof({ timestampDigestAlgorithm: 'MD5' }), opts()), 501);
    expectCode(() => verifyApproverProof(proof({ timestampDigestAlgorithm: 'SHA-1' }), opts()), 501);
    expectCode(() => verifyApproverProof(proof({ approverPublicKey: 'AAECAwQ=' }), opts()), 407);
    expectCode(() => verifyApproverProof(proof({ approverPublicKey: '%%%' }), opts()), 407);
    expectCode(() => verifyApproverProof(proof({ approverPublicKey: null, approverCertificate: 'AAECAwQ=' }), opts()), 409);
    const x = generateKeyPairSync('x25519');
    expectCode(() => verifyApproverProof(proof({ approverPublicKey: spkiB64(x.publicKey) }), opts()), 601);
    // Lenient spellings of the digest name.
    assert.equal(verifyApproverProof(proof({ timestampDigestAlgorithm: 'SHA256' }), opts()).kind, 'approver');
    assert.equal(verifyApproverProof(proof({ timestampDigestAlgorithm: 'sha-256' }), opts()).kind, 'approver');
  });
});
