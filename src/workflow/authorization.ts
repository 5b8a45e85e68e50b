// The keystore's own check of approval evidence against the rule sealed with the key (spec multi-
// authorization §1 "the HSM re-checks"): the challenge names this operation, key, payload and parameters,
// its timestamp was signed by the keystore's timestamp key, the approvers are listed in the rule, their
// signatures verify, a token's groups reach their quorum over distinct approvers and its time-lock elapsed.
import { createHash, verify } from 'node:crypto';
import { WardenError } from '../server/errors.ts';
import { verifyApproverSignature } from './approver-signature.ts';
import { ECDSA_SHA256_OID, parseChallenge, type ParsedChallenge, type PayloadPart } from './challenge.ts';
import { approverId, canonicalSpki, satisfiedWithoutApprovals, type Rule } from './policy.ts';
import { TlvError } from './tlv.ts';

export interface EvidenceApproval {
  /** DER SPKI of the approver. */
  publicKey: Buffer;
  signature: Buffer;
  digestAlgorithm: string | null;
}

/** The challenge and the approvals over it: what the workflow hands the keystore to unlock a policy key. */
export interface ApprovalEvidence {
  challenge: Buffer;
  approvals: EvidenceApproval[];
}

export interface AuthorizationCheck {
  label: string;
  rule: Rule | null;
  /** Operation codes the action may carry (a use action: any of USE_OPERATIONS; block: 2 …). */
  operation: number;
  part: PayloadPart;
  /** When the challenge carries a parameters element it must equal these bytes. */
  parameters: Buffer | null;
  evidence: ApprovalEvidence | null;
  nowSeconds: number;
  /** The keystore's timestamp key (name and SPKI), or null when none is configured. */
  timestampKey: { name: string; spki: Buffer } | null;
}

const refuse = (message: string) => new WardenError(401, message);

function verifyTimestamp(c: ParsedChallenge, key: AuthorizationCheck['timestampKey']): number | null {
  if (!c.timestamp || !c.timestampSignature) return null;
  if (!key || c.timestamp.keyName !== key.name) throw refuse(`the challenge's timestamp was not issued by this keystore's timestamp key`);
  if (c.timestampSignature.algorithmOid !== ECDSA_SHA256_OID) throw refuse('the challenge timestamp is not signed with ecdsa-with-SHA256');
  let ok = false;
  try {
    ok = verify('sha256', c.timestamp.raw, { key: key.spki, format: 'der', type: 'spki', dsaEncoding: 'der' }, c.timestampSignature.signature);
  } catch {
    ok = false;
  }
  if (!ok) throw refuse('the challenge timestamp signature does not verify');
  return c.timestamp.time;
}

/**
 * Checks evidence for one action. Returns the SHA-256 of the challenge to consume (replay guard) or
 * null when the rule needs no approvals and none were given; throws 401 when the rule is not satisfied.
 */
export function checkAuthorization(a: AuthorizationCheck): Buffer | null {
  const trivial = satisfiedWithoutApprovals(a.rule);
  if (!a.evidence) {
    if (trivial) return null;
    throw refuse(`Key '${a.label}' has a policy: this operation needs approvals that satisfy its rule`);
  }
  let c: ParsedChallenge;
  try {
    c = parseChallenge(a.evidence.challenge);
  } catch (e) {
    if (e instanceof TlvError) throw refuse(`approval challenge is malformed: ${e.message}`);
    throw e;
  }
  if (c.operation !== a.operation) throw refuse(`the approvals were given for operation ${c.operation}, not ${a.operation}`);
  if (c.label !== a.label) throw refuse(`the approvals were given for key '${c.label}', not '${a.label}'`);
  if (c.part.tag !== a.part.tag || !c.part.value.equals(a.part.value)) throw refuse('the approvals were given for a different payload');
  if (c.parameters && (!a.parameters || !c.parameters.equals(a.parameters))) throw refuse('the approvals were given for different operation parameters');
  const t0 = verifyTimestamp(c, a.timestampKey);
  const hash = createHash('sha256').update(a.evidence.challenge).digest();
  if (trivial) return hash;

  const valid = new Set<string>();
  for (const ap of a.evidence.approvals) {
    let id: string;
    try {
      id = canonicalSpki(ap.publicKey).toString('base64');
    } catch {
      continue;
    }
    if (verifyApproverSignature(ap.publicKey, a.evidence.challenge, ap.signature, ap.digestAlgorithm)) valid.add(id);
  }
  const now = a.nowSeconds;
  let timeLocked = false;
  for (const token of a.rule?.tokens ?? []) {
    const quorate = token.groups.every((g) => new Set(g.approvals.map(approverId).filter((id) => valid.has(id))).size >= g.quorum);
    if (!quorate) continue;
    const open = t0 === null ? token.timelock === 0 : t0 + token.timelock <= now;
    if (open) return hash;
    timeLocked = true;
  }
  if (timeLocked) throw refuse(`Key '${a.label}': the quorum is reached but the time-lock has not elapsed yet`);
  throw refuse(`Key '${a.label}': the approvals do not satisfy the policy rule (quorum of distinct listed approvers not reached)`);
}
