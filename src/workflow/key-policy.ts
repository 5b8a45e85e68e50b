// Policies on new keys (create, import, unwrap; spec multi-authorization §2.2, §2.4): validated and
// normalised here, then sealed with the key by the keystore. Keys with a policy are never symmetric,
// extractable or public-only (606); addressFormat needs a policy (630).
import { WardenError } from '../server/errors.ts';
import { validatePolicy, type ApproverDirectory, type Policy, type WirePolicy } from './policy.ts';

export interface NewKeyShape {
  symmetric: boolean;
  extractable: boolean;
  publicOnly?: boolean;
}

/** The policy to seal with a new key, or null for a plain key. */
export async function policyForNewKey(
  body: { policy?: WirePolicy; addressFormat?: unknown },
  key: NewKeyShape,
  directory: ApproverDirectory | null = null,
): Promise<Policy | null> {
  const policy = body.policy ?? null;
  if (body.addressFormat !== undefined && body.addressFormat !== null && policy === null) {
    throw new WardenError(630, 'addressFormat is only allowed on keys with a policy (SKA keys)');
  }
  if (policy === null) return null;
  if (key.symmetric) throw new WardenError(606, 'A policy is not allowed on symmetric keys (SKA keys are asymmetric)');
  if (key.extractable) throw new WardenError(606, 'A policy is not allowed on extractable keys: keys with a policy can never leave the keystore');
  if (key.publicOnly) throw new WardenError(606, 'A policy needs a private key; public keys and certificates cannot carry one');
  return validatePolicy(policy, directory);
}
