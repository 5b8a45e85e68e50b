// `requestSignature` (spec multi-authorization §3.2, TSB 2.2.0): when `general.allowedRequestCertificates`
// is set, every request must carry a signature over the compacted JSON of its inner wrapper object by a
// whitelisted key (415 otherwise). The bytes checked are JSON.stringify of the parsed inner object — the
// compact text Java/Go clients sign, keys in the order sent — and its Go-escaped variant (<, >, & and
// U+2028/9 as \u escapes, what Go's json.Marshal writes), docs/workflow.md.
import { Type } from '@sinclair/typebox';
import { readCertificates } from '../auth/files.ts';
import type { Config } from '../config/schema.ts';
import { WardenError } from '../server/errors.ts';
import { verifyApproverSignature } from './approver-signature.ts';
import { b64Field } from './approver-proof.ts';
import { canonicalSpki } from './policy.ts';

export const RequestSignatureSchema = Type.Optional(
  Type.Union(
    [
      Type.Object({
        signature: Type.String({ maxLength: 65536, description: 'Base64 signature over the compacted JSON of the inner request object' }),
        digestAlgorithm: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()], { description: 'SHA-224 … SHA3-512 (default SHA-256)' })),
        publicKey: Type.String({ maxLength: 65536, description: 'Base64 SPKI of the signer (must belong to general.allowedRequestCertificates)' }),
      }),
      Type.Null(),
    ],
    { description: 'Request signature; required when general.allowedRequestCertificates is set' },
  ),
);

export interface RequestSignature {
  signature: string;
  digestAlgorithm?: string | null;
  publicKey: string;
}

function goEscape(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'));
}

export class RequestSignatureVerifier {
  private readonly allowed: string[];

  constructor(config: Config) {
    this.allowed = readCertificates('general.allowedRequestCertificates', config.general.allowedRequestCertificates).map((c) =>
      canonicalSpki(c.publicKey.export({ type: 'spki', format: 'der' }), 'general.allowedRequestCertificates').toString('base64'),
    );
  }

  get required(): boolean {
    return this.allowed.length > 0;
  }

  /** Checks the signature over `inner` when a whitelist is configured; 415 unsigned or unlisted signer, 403 bad signature. */
  check(inner: unknown, sig: RequestSignature | null | undefined): void {
    if (!this.required) return;
    if (!sig) throw new WardenError(415, 'This Warden requires a requestSignature by an allowed request-signing certificate');
    const spki = canonicalSpki(b64Field('requestSignature.publicKey', sig.publicKey), 'requestSignature.publicKey');
    if (!this.allowed.includes(spki.toString('base64'))) throw new WardenError(415, 'requestSignature.publicKey is not an allowed request signer');
    const signature = b64Field('requestSignature.signature', sig.signature);
    const compact = JSON.stringify(inner);
    const ok = [compact, goEscape(compact)].some((text) => verifyApproverSignature(spki, Buffer.from(text, 'utf8'), signature, sig.digestAlgorithm));
    if (!ok) throw new WardenError(403, 'requestSignature does not verify over the request');
  }
}
