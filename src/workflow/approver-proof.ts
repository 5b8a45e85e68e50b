// Approver proof of possession on the task endpoints (spec multi-authorization §4.2): a fresh timestamp
// signed with the approver's key (public key or certificate), or with a whitelisted timestamp signer's
// certificate (`general.allowedTimestampSigningCertificates`, Annex D), which may list and reject the
// tasks of any approver but never approve.
import { X509Certificate } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { Config } from '../config/schema.ts';
import { readCertificates } from '../auth/files.ts';
import { WardenError } from '../server/errors.ts';
import { verifyApproverSignature } from './approver-signature.ts';
import type { ApproverIdentity } from './engine.ts';
import { canonicalSpki, certificateSpki } from './policy.ts';

const B64 = (description: string) => Type.Optional(Type.Union([Type.String({ maxLength: 65536, description }), Type.Null()]));

/** The proof fields of every task endpoint body (filter, reject). */
export const ApproverProofFields = {
  timestamp: Type.String({ minLength: 1, maxLength: 64, description: 'Current time, ISO-8601 (e.g. 2024-08-14T20:02:58+02:00)' }),
  timestampSignature: Type.String({ minLength: 1, maxLength: 65536, description: 'Base64 signature over the UTF-8 bytes of timestamp exactly as sent' }),
  timestampDigestAlgorithm: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()], { description: 'SHA-224 … SHA3-512, or EdDSA (default SHA-256)' })),
  approverPublicKey: B64('Base64 DER SubjectPublicKeyInfo of the approver'),
  approverCertificate: B64('Base64 DER certificate of the approver'),
  timestampSigningCertificate: B64('Base64 DER certificate of a whitelisted timestamp signer (general.allowedTimestampSigningCertificates)'),
};
export const ApproverProofSchema = Type.Object(ApproverProofFields);
export type ApproverProof = Static<typeof ApproverProofSchema>;

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

export function b64Field(field: string, value: string): Buffer {
  const v = value.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/[\r\n]/g, '');
  if (!B64_RE.test(v) || v.length % 4 !== 0) throw new WardenError(600, `${field} is not valid Base64`);
  return Buffer.from(v, 'base64');
}

/** The approver identity (canonical Base64 SPKI) named by approverPublicKey or approverCertificate, or null. */
export function approverIdOf(body: { approverPublicKey?: string | null; approverCertificate?: string | null }): string | null {
  if (body.approverPublicKey) return canonicalSpki(b64Field('approverPublicKey', body.approverPublicKey), 'approverPublicKey').toString('base64');
  if (body.approverCertificate) return certificateSpki(b64Field('approverCertificate', body.approverCertificate), 'approverCertificate').toString('base64');
  return null;
}

export class ApproverProofVerifier {
  private readonly signers: Buffer[];

  constructor(
    private readonly config: Config,
    private readonly now: () => number,
  ) {
    this.signers = readCertificates('general.allowedTimestampSigningCertificates', config.general.allowedTimestampSigningCertificates).map((c) => Buffer.from(c.raw));
  }

  /** Checks the proof; 404 stale/future timestamp, 403 bad signature, 405 signer not whitelisted. */
  verify(p: ApproverProof): ApproverIdentity {
    const t = Date.parse(p.timestamp);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(p.timestamp) || Number.isNaN(t)) throw new WardenError(600, 'timestamp is not an ISO-8601 date-time');
    const now = this.now();
    const g = this.config.general;
    if (now - t > g.maxTimestampDiffApprovalClient * 1000) throw new WardenError(404, `timestamp is more than ${g.maxTimestampDiffApprovalClient} s old`);
    if (t - now > g.maxFutureTimestampDiffApprovalClient * 1000) throw new WardenError(404, `timestamp is more than ${g.maxFutureTimestampDiffApprovalClient} s in the future`);

    let signer: Buffer;
    let identity: ApproverIdentity;
    if (p.timestampSigningCertificate) {
      const der = b64Field('timestampSigningCertificate', p.timestampSigningCertificate);
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(der);
      } catch {
        throw new WardenError(409, 'timestampSigningCertificate is not a DER X.509 certificate');
      }
      if (!this.signers.some((s) => s.equals(Buffer.from(cert.raw)))) throw new WardenError(405, 'timestampSigningCertificate is not an allowed timestamp signer');
      signer = cert.publicKey.export({ type: 'spki', format: 'der' });
      identity = { kind: 'timestampSigner', approver: approverIdOf(p) };
    } else {
      const id = approverIdOf(p);
      if (!id) throw new WardenError(600, 'approverPublicKey, approverCertificate or timestampSigningCertificate is required');
      signer = Buffer.from(id, 'base64');
      identity = { kind: 'approver', approver: id };
    }
    const signature = b64Field('timestampSignature', p.timestampSignature);
    if (!verifyApproverSignature(signer, Buffer.from(p.timestamp, 'utf8'), signature, p.timestampDigestAlgorithm)) {
      throw new WardenError(403, 'timestampSignature does not verify over the timestamp');
    }
    return identity;
  }
}
