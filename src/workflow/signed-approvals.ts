// Pre-collected approvals for the synchronous endpoints (`signedApprovals`, spec multi-authorization
// §3.7): each entry is Base64 of the JSON an approver would POST to /v1/approval, minus the task id —
// {approvalToBeSigned, signature, approvalDigestAlgorithm, approverPublicKey | approverCertificate}
// (docs/workflow.md). All entries must sign the same challenge; the keystore checks the rest.
import type { PolicyAuthorization } from '../keystore/interface.ts';
import { canonical } from '../keystore/software/seal.ts';
import { WardenError } from '../server/errors.ts';
import type { ApprovalEvidence } from './authorization.ts';
import { approverIdOf, b64Field } from './approver-proof.ts';
import { OPERATION, type RequestType } from './challenge.ts';

export function evidenceFromSignedApprovals(list: readonly string[] | null | undefined): ApprovalEvidence | null {
  if (!list || list.length === 0) return null;
  let challenge: Buffer | null = null;
  const approvals: ApprovalEvidence['approvals'] = [];
  list.forEach((entry, i) => {
    const field = `signedApprovals[${i}]`;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(b64Field(field, entry).toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof WardenError) throw e;
      throw new WardenError(600, `${field} is not Base64 of an approval JSON object`);
    }
    if (typeof o !== 'object' || o === null || typeof o.approvalToBeSigned !== 'string' || typeof o.signature !== 'string') {
      throw new WardenError(600, `${field} needs approvalToBeSigned and signature`);
    }
    const c = b64Field(`${field}.approvalToBeSigned`, o.approvalToBeSigned);
    if (challenge && !challenge.equals(c)) throw new WardenError(600, 'Every signedApprovals entry must sign the same approvalToBeSigned');
    challenge = c;
    const id = approverIdOf({
      approverPublicKey: typeof o.approverPublicKey === 'string' ? o.approverPublicKey : null,
      approverCertificate: typeof o.approverCertificate === 'string' ? o.approverCertificate : null,
    });
    if (!id) throw new WardenError(600, `${field} needs approverPublicKey or approverCertificate`);
    approvals.push({
      publicKey: Buffer.from(id, 'base64'),
      signature: b64Field(`${field}.signature`, o.signature),
      digestAlgorithm: typeof o.approvalDigestAlgorithm === 'string' ? o.approvalDigestAlgorithm : null,
    });
  });
  return { challenge: challenge as unknown as Buffer, approvals };
}

/**
 * The keystore authorization of a synchronous call: the operation and payload it performs, its
 * parameters (canonical JSON, compared only when the challenge carries a parameters element) and the
 * caller's pre-collected approvals. Without signedApprovals the keystore still lets plain keys and
 * keys whose rule needs no approvals through.
 */
export function syncAuthorization(type: RequestType, payload: Buffer, params: Record<string, unknown>, signedApprovals: readonly string[] | null | undefined): PolicyAuthorization {
  return {
    operation: OPERATION[type],
    payload,
    parameters: Buffer.from(canonical(params), 'utf8'),
    evidence: evidenceFromSignedApprovals(signedApprovals),
  };
}
