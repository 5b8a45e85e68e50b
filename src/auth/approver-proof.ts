// Approver proof of possession (spec multi-authorization §4.2, §4.4, Annex D): an approver — or a
// whitelisted timestamp signer — signs the current ISO-8601 time; Warden checks the skew window, the
// signer's identity and the signature over the timestamp string exactly as sent. Used by the approval
// task endpoints, which take no JWT (README decision 3).
import { constants, createHash, createPublicKey, verify as cryptoVerify, X509Certificate, type KeyObject } from 'node:crypto';
import type { Config } from '../config/schema.ts';
import { WardenError } from '../server/errors.ts';
import { certFingerprint, oneLineDn, readCertificates } from './files.ts';

/** The proof fields of a filter/approval/task body (§4.4). */
export interface ApproverProofInput {
  timestamp?: string | null;
  timestampSignature?: string | null;
  timestampDigestAlgorithm?: string | null;
  approverPublicKey?: string | null;
  approverCertificate?: string | null;
  timestampSigningCertificate?: string | null;
}

export interface ApproverProofOptions {
  /** general.maxTimestampDiffApprovalClient: how old the timestamp may be, in seconds. */
  maxPastSeconds: number;
  /** general.maxFutureTimestampDiffApprovalClient: how far ahead of Warden's clock, in seconds. */
  maxFutureSeconds: number;
  /** general.allowedTimestampSigningCertificates, loaded. */
  allowedTimestampSigners: readonly X509Certificate[];
  now?: () => number;
}

export type VerifiedApproverProof =
  | {
      kind: 'approver';
      /** SPKI DER of the approver key: what policies name and tasks are filtered by. */
      publicKeySpki: Buffer;
      /** sha256:<hex> of the SPKI DER. */
      keyFingerprint: string;
      timestamp: Date;
    }
  | {
      kind: 'timestampSigner';
      signer: { subject: string; fingerprint: string };
      /** The approver the signer asks for (optional narrowing, Annex D), or null for all approvers. */
      approverPublicKeySpki: Buffer | null;
      timestamp: Date;
    };

/** §4.2: the digest enum, plus EdDSA (the Ed25519 sample) meaning "no pre-hash". */
const DIGESTS: Record<string, string | null> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA3-224': 'sha3-224',
  'SHA3-256': 'sha3-256',
  'SHA3-384': 'sha3-384',
  'SHA3-512': 'sha3-512',
  EDDSA: null,
  ED25519: null,
  ED448: null,
};

function digestOf(name: string | null | undefined): string | null {
  if (!name) throw new WardenError(600, 'timestampDigestAlgorithm is required');
  const key = name.trim().toUpperCase().replace(/^SHA(3)?-?(\d{3})$/, (_m, three: string | undefined, bits: string) => `SHA${three ?? ''}-${bits}`);
  if (!(key in DIGESTS)) {
    throw new WardenError(501, `timestampDigestAlgorithm: '${name}' is not one of SHA-224, SHA-256, SHA-384, SHA-512, SHA3-224, SHA3-256, SHA3-384, SHA3-512, EdDSA`);
  }
  return DIGESTS[key];
}

// ISO-8601 with a zone (seen: +00:00, +02:00, .123Z); fractions of any length, offsets with or without colon.
const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:[.,](\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)$/;

export function parseApproverTimestamp(ts: string): Date {
  const m = ISO.exec(ts);
  if (!m) throw new WardenError(600, `timestamp: '${ts.slice(0, 64)}' is not an ISO-8601 date-time with a zone offset`);
  const frac = m[2] ? `.${m[2].slice(0, 3).padEnd(3, '0')}` : '';
  let zone = m[3];
  if (zone !== 'Z') zone = zone.length === 3 ? `${zone}:00` : zone.includes(':') ? zone : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const t = Date.parse(`${m[1]}${frac}${zone}`);
  if (Number.isNaN(t)) throw new WardenError(600, `timestamp: '${ts.slice(0, 64)}' is not a valid date-time`);
  return new Date(t);
}

function b64OrPem(field: string, value: string, code: 407 | 409): Buffer | string {
  const v = value.trim();
  if (v.startsWith('-----BEGIN')) return v;
  if (!/^[A-Za-z0-9+/_\-\s]+={0,2}$/.test(v)) throw new WardenError(code, `${field}: not base64`);
  return Buffer.from(v.replace(/\s/g, ''), v.includes('-') || v.includes('_') ? 'base64url' : 'base64');
}

function parsePublicKey(field: string, value: string): KeyObject {
  try {
    const raw = b64OrPem(field, value, 407);
    return typeof raw === 'string' ? createPublicKey(raw) : createPublicKey({ key: raw, format: 'der', type: 'spki' });
  } catch (e) {
    if (e instanceof WardenError) throw e;
    throw new WardenError(407, `${field}: not a DER SubjectPublicKeyInfo`);
  }
}

function parseCertificate(field: string, value: string): X509Certificate {
  try {
    return new X509Certificate(b64OrPem(field, value, 409));
  } catch (e) {
    if (e instanceof WardenError) throw e;
    throw new WardenError(409, `${field}: not a DER X.509 certificate`);
  }
}

const spkiOf = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });

/**
 * Signature over the UTF-8 bytes of the timestamp as JCA `Signature.sign()` produces it (§4.2): RSA
 * PKCS#1 v1.5 (PSS accepted too), ECDSA/DSA DER (raw r‖s accepted too), Ed25519/Ed448 raw.
 */
function signatureVerifies(key: KeyObject, digest: string | null, data: Buffer, sig: Buffer): boolean {
  const type = key.asymmetricKeyType;
  const isEd = type === 'ed25519' || type === 'ed448';
  if (isEd !== (digest === null)) {
    throw new WardenError(403, isEd ? 'Invalid signature: Ed25519/Ed448 signatures take timestampDigestAlgorithm EdDSA' : 'Invalid signature: EdDSA needs an Ed25519 or Ed448 key');
  }
  try {
    if (isEd) return cryptoVerify(null, data, key, sig);
    if (type === 'rsa') {
      return (
        cryptoVerify(digest, data, { key, padding: constants.RSA_PKCS1_PADDING }, sig) ||
        cryptoVerify(digest, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig)
      );
    }
    if (type === 'rsa-pss') return cryptoVerify(digest, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig);
    if (type === 'ec' || type === 'dsa') {
      if (cryptoVerify(digest, data, { key, dsaEncoding: 'der' }, sig)) return true;
      return sig[0] !== 0x30 && cryptoVerify(digest, data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
  } catch {
    return false;
  }
  return false;
}

const SUPPORTED_KEY_TYPES = new Set(['rsa', 'rsa-pss', 'ec', 'dsa', 'ed25519', 'ed448']);

/** Checks one proof; throws WardenError 600/501/404/405/403/407/409/601 as the spec assigns them. */
export function verifyApproverProof(input: ApproverProofInput, opts: ApproverProofOptions): VerifiedApproverProof {
  if (typeof input.timestamp !== 'string' || input.timestamp === '') throw new WardenError(600, 'timestamp is required');
  if (typeof input.timestampSignature !== 'string' || input.timestampSignature === '') throw new WardenError(600, 'timestampSignature is required');
  const digest = digestOf(input.timestampDigestAlgorithm);
  const at = parseApproverTimestamp(input.timestamp);

  // Identity: a whitelisted timestamp signer, or the approver's key (bare or in a certificate).
  let signerKey: KeyObject;
  let signerCert: X509Certificate | null = null;
  let approverKey: KeyObject | null = input.approverPublicKey ? parsePublicKey('approverPublicKey', input.approverPublicKey) : null;
  if (input.timestampSigningCertificate) {
    signerCert = parseCertificate('timestampSigningCertificate', input.timestampSigningCertificate);
    const cert = signerCert;
    if (!opts.allowedTimestampSigners.some((a) => a.raw.equals(cert.raw))) {
      throw new WardenError(405, 'The timestamp signing certificate is not in general.allowedTimestampSigningCertificates');
    }
    signerKey = signerCert.publicKey;
  } else if (input.approverCertificate) {
    const certKey = parseCertificate('approverCertificate', input.approverCertificate).publicKey;
    if (approverKey && !spkiOf(approverKey).equals(spkiOf(certKey))) {
      throw new WardenError(600, 'approverPublicKey and approverCertificate name different keys');
    }
    approverKey = certKey;
    signerKey = certKey;
  } else if (approverKey) {
    signerKey = approverKey;
  } else {
    throw new WardenError(600, 'approverPublicKey, approverCertificate or timestampSigningCertificate is required');
  }
  if (!SUPPORTED_KEY_TYPES.has(signerKey.asymmetricKeyType ?? '')) {
    throw new WardenError(601, `Unsupported approver key type: ${signerKey.asymmetricKeyType ?? 'unknown'}`);
  }

  // Freshness before the (costlier) signature check.
  const now = opts.now ? opts.now() : Date.now();
  const ageMs = now - at.getTime();
  if (ageMs > opts.maxPastSeconds * 1000) {
    throw new WardenError(404, `timestamp is ${Math.floor(ageMs / 1000)} s old; at most ${opts.maxPastSeconds} s allowed (general.maxTimestampDiffApprovalClient)`);
  }
  if (-ageMs > opts.maxFutureSeconds * 1000) {
    throw new WardenError(404, `timestamp is ${Math.ceil(-ageMs / 1000)} s in the future; at most ${opts.maxFutureSeconds} s allowed (general.maxFutureTimestampDiffApprovalClient)`);
  }

  const sigText = input.timestampSignature.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(sigText)) throw new WardenError(403, 'Invalid signature: timestampSignature is not base64');
  const sig = Buffer.from(sigText, /[-_]/.test(sigText) ? 'base64url' : 'base64');
  if (!signatureVerifies(signerKey, digest, Buffer.from(input.timestamp, 'utf8'), sig)) {
    throw new WardenError(403, 'Invalid signature: timestampSignature does not verify over the timestamp with the given key');
  }

  if (signerCert) {
    return {
      kind: 'timestampSigner',
      signer: { subject: oneLineDn(signerCert.subject), fingerprint: certFingerprint(signerCert) },
      approverPublicKeySpki: approverKey ? spkiOf(approverKey) : null,
      timestamp: at,
    };
  }
  const spki = spkiOf(approverKey as KeyObject);
  return { kind: 'approver', publicKeySpki: spki, keyFingerprint: 'sha256:' + createHash('sha256').update(spki).digest('hex'), timestamp: at };
}

/** The verifier with its options read once from `general` (certificate files are loaded at start). */
export class ApproverProofVerifier {
  private readonly opts: ApproverProofOptions;

  constructor(
    general: Pick<Config['general'], 'maxTimestampDiffApprovalClient' | 'maxFutureTimestampDiffApprovalClient' | 'allowedTimestampSigningCertificates'>,
    now?: () => number,
  ) {
    this.opts = {
      maxPastSeconds: general.maxTimestampDiffApprovalClient,
      maxFutureSeconds: general.maxFutureTimestampDiffApprovalClient,
      allowedTimestampSigners: readCertificates('general.allowedTimestampSigningCertificates', general.allowedTimestampSigningCertificates),
      now,
    };
  }

  verify(input: ApproverProofInput): VerifiedApproverProof {
    return verifyApproverProof(input, this.opts);
  }
}
