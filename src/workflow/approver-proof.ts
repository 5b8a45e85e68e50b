// Approver proof of possession on the task endpoints (spec multi-authorization §4.2): the body fields,
// and the auth module's verifier (a fresh timestamp signed with the approver's key, or by a whitelisted
// timestamp signer, Annex D, who may list and reject any approver's tasks but never approve) mapped to
// the approver identity the workflow keys tasks by (canonical Base64 SPKI).
import { Type, type Static } from '@sinclair/typebox';
import type { Config } from '../config/schema.ts';
import { ApproverProofVerifier as AuthProofVerifier } from '../auth/approver-proof.ts';
import { WardenError } from '../server/errors.ts';
import type { ApproverIdentity } from './engine.ts';
import { canonicalSpki, certificateSpki } from './policy.ts';

const B64 = (description: string) => Type.Optional(Type.Union([Type.String({ maxLength: 65536, description }), Type.Null()]));

/** The proof fields of every task endpoint body (filter, reject). */
export const ApproverProofFields = {
  timestamp: Type.String({ minLength: 1, maxLength: 64, description: 'Current time, ISO-8601 (e.g. 2024-08-14T20:02:58+02:00)' }),
  timestampSignature: Type.String({ minLength: 1, maxLength: 65536, description: 'Base64 signature over the UTF-8 bytes of timestamp exactly as sent' }),
  timestampDigestAlgorithm: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()], { description: 'SHA-224 … SHA3-512, or EdDSA (required)' })),
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

/** The auth module's proof verifier (src/auth/approver-proof.ts), answering in workflow identities. */
export class ApproverProofVerifier {
  private readonly inner: AuthProofVerifier;

  constructor(config: Config, now: () => number) {
    this.inner = new AuthProofVerifier(config.general, now);
  }

  /** Checks the proof; 404 stale/future timestamp, 403 bad signature, 405 signer not whitelisted. */
  verify(p: ApproverProof): ApproverIdentity {
    const v = this.inner.verify(p);
    if (v.kind === 'approver') return { kind: 'approver', approver: canonicalSpki(v.publicKeySpki).toString('base64') };
    return { kind: 'timestampSigner', approver: v.approverPublicKeySpki ? canonicalSpki(v.approverPublicKeySpki).toString('base64') : null };
  }
}
