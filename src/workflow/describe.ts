// A readable account of an approval challenge, for approvers (the `warden approver show` command):
// what operation on which key, when the keystore stamped it, the payload or the new policy, and the
// bound parameters — decoded from the bytes the approver is about to sign, not from server-side text.
import { OPERATION, parseChallenge } from './challenge.ts';
import { decodeRules, type DecodedRule } from './policy.ts';
import { TAG } from './tlv.ts';

const OPERATION_NAMES = Object.fromEntries(Object.entries(OPERATION).map(([k, v]) => [v, k])) as Record<number, string>;

export interface ChallengeDescription {
  operation: string;
  operationCode: number;
  keyLabel: string;
  timestamp: { time: string; keyName: string } | null;
  payload: { base64: string; hex: string; text: string | null; length: number } | null;
  policy: Record<string, DecodedRule | null> | null;
  parameters: Record<string, unknown> | null;
}

function printable(b: Buffer): string | null {
  const s = b.toString('utf8');
  if (!Buffer.from(s, 'utf8').equals(b)) return null;
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return null;
  }
  return s;
}

export function describeChallenge(challenge: Buffer): ChallengeDescription {
  const c = parseChallenge(challenge);
  let parameters: Record<string, unknown> | null = null;
  if (c.parameters) {
    try {
      parameters = JSON.parse(c.parameters.toString('utf8')) as Record<string, unknown>;
    } catch {
      parameters = { raw: c.parameters.toString('base64') };
    }
  }
  const isPolicy = c.part.tag === TAG.policy;
  return {
    operation: OPERATION_NAMES[c.operation] ?? `unknown (${c.operation})`,
    operationCode: c.operation,
    keyLabel: c.label,
    timestamp: c.timestamp ? { time: new Date(c.timestamp.time * 1000).toISOString(), keyName: c.timestamp.keyName } : null,
    payload: isPolicy ? null : { base64: c.part.value.toString('base64'), hex: c.part.value.toString('hex'), text: printable(c.part.value), length: c.part.value.length },
    policy: isPolicy ? decodeRules(c.part.value) : null,
    parameters,
  };
}
