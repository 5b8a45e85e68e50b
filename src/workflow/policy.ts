// The SKA policy model (spec multi-authorization §2.1–§2.5): wire schema, validation (§2.4), approver
// identities (SPKI), and the binary rule encoding that modify challenges carry (tags of §2.5).
import { X509Certificate, createPublicKey } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { WardenError } from '../server/errors.ts';
import { ElementReader, TAG, TlvError, container, element, parseContainer, readU32, text, u32 } from './tlv.ts';

export const APPROVAL_TYPES = ['public_key', 'certificate', 'onboarded_approver_certificate'] as const;
export type ApprovalType = (typeof APPROVAL_TYPES)[number];

const NullableString = (description: string) => Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Null()], { description }));

export const ApprovalSchema = Type.Object({
  type: Type.Union(APPROVAL_TYPES.map((t) => Type.Literal(t)), { description: 'public_key | certificate | onboarded_approver_certificate' }),
  name: NullableString('Label of the approver (required for onboarded_approver_certificate: the approverName)'),
  value: NullableString('Base64 DER SubjectPublicKeyInfo (public_key) or X.509 certificate (certificate), one line'),
});

export const GroupSchema = Type.Object({
  name: NullableString('Group name'),
  quorum: Type.Integer({ description: 'Distinct approvers of this group that must approve' }),
  approvals: Type.Array(ApprovalSchema, { maxItems: 1000 }),
});

export const TokenSchema = Type.Object({
  name: NullableString('Token name'),
  timelock: Type.Integer({ description: 'Seconds after the timestamp before the action may execute (multiple of 60)' }),
  timeout: Type.Integer({ description: 'Seconds after the timestamp during which approvals are accepted (multiple of 60; 0 = none)' }),
  groups: Type.Optional(Type.Union([Type.Array(GroupSchema, { maxItems: 100 }), Type.Null()])),
});

export const RuleSchema = Type.Union([Type.Object({ tokens: Type.Array(TokenSchema, { maxItems: 100 }) }), Type.Null()]);

export const PolicyRulesSchema = Type.Object(
  {
    ruleUse: Type.Optional(RuleSchema),
    ruleBlock: Type.Optional(RuleSchema),
    ruleUnblock: Type.Optional(RuleSchema),
    ruleModify: Type.Optional(RuleSchema),
  },
  { description: 'The four rules of an SKA policy (ModifyPolicyDto: no keyStatus)' },
);

export const PolicySchema = Type.Union(
  [
    Type.Object({
      ruleUse: Type.Optional(RuleSchema),
      ruleBlock: Type.Optional(RuleSchema),
      ruleUnblock: Type.Optional(RuleSchema),
      ruleModify: Type.Optional(RuleSchema),
      keyStatus: Type.Optional(Type.Union([Type.Object({ blocked: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])) }), Type.Null()])),
    }),
    Type.Null(),
  ],
  { description: 'SKA policy (spec multi-authorization §2.1); null = a plain key' },
);

export type WirePolicy = Static<typeof PolicySchema>;
export type WireRules = Static<typeof PolicyRulesSchema>;

export interface Approval {
  type: ApprovalType;
  name: string | null;
  /** Base64 SPKI or certificate; for onboarded approvers the certificate resolved when the policy was bound. */
  value: string;
}
export interface Group {
  name: string;
  quorum: number;
  approvals: Approval[];
}
export interface Token {
  name: string;
  timelock: number;
  timeout: number;
  groups: Group[];
}
export interface Rule {
  tokens: Token[];
}
export type RuleName = 'ruleUse' | 'ruleBlock' | 'ruleUnblock' | 'ruleModify';
export const RULE_NAMES: readonly RuleName[] = ['ruleUse', 'ruleBlock', 'ruleUnblock', 'ruleModify'];
export type PolicyRules = Record<RuleName, Rule | null>;
export interface Policy extends PolicyRules {
  keyStatus: { blocked: boolean };
}

/** Resolves `onboarded_approver_certificate` names (approver management) to their DER certificate. */
export interface ApproverDirectory {
  certificateOf(approverName: string): Promise<{ certificate: Buffer | null; onboarded: boolean } | null>;
}

const APPROVER_KEY_TYPES = new Set(['rsa', 'rsa-pss', 'ec', 'ed25519', 'ed448', 'dsa']);

/** Canonical DER SPKI of a public key (EC points uncompressed), or 407/601. */
export function canonicalSpki(der: Buffer, field = 'approver public key'): Buffer {
  let key;
  try {
    key = createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    throw new WardenError(407, `${field} is not a DER SubjectPublicKeyInfo`);
  }
  if (!APPROVER_KEY_TYPES.has(key.asymmetricKeyType ?? '')) {
    throw new WardenError(601, `${field}: approver keys must be RSA, EC, ED or DSA (got ${key.asymmetricKeyType ?? 'unknown'})`);
  }
  return key.export({ type: 'spki', format: 'der' });
}

/** SPKI of an X.509 certificate (DER or Base64), or 409/601. */
export function certificateSpki(der: Buffer, field = 'approver certificate'): Buffer {
  let cert;
  try {
    cert = new X509Certificate(der);
  } catch {
    throw new WardenError(409, `${field} is not a DER X.509 certificate`);
  }
  return canonicalSpki(cert.publicKey.export({ type: 'spki', format: 'der' }), field);
}

const spkiCache = new Map<string, string>();

/** The approver identity of a stored approval entry: Base64 of its canonical SPKI. */
export function approverId(a: Approval): string {
  const key = `${a.type}:${a.value}`;
  let id = spkiCache.get(key);
  if (!id) {
    const der = Buffer.from(a.value, 'base64');
    id = (a.type === 'public_key' ? canonicalSpki(der) : certificateSpki(der)).toString('base64');
    if (spkiCache.size > 10000) spkiCache.clear();
    spkiCache.set(key, id);
  }
  return id;
}

const B64 = /^[A-Za-z0-9+/]+={0,2}$/;

function checkName(field: string, v: string | null | undefined): string {
  const s = v ?? '';
  if (Buffer.byteLength(s, 'utf8') > 65535) throw new WardenError(600, `${field} is longer than 65535 bytes`);
  return s;
}

function checkTime(field: string, v: number): number {
  if (v < 0 || v % 60 !== 0) throw new WardenError(600, `${field} must be a non-negative multiple of 60 seconds (got ${v})`);
  if (v / 60 > 0xffffffff) throw new WardenError(600, `${field} is too large`);
  return v;
}

type WireRule = Static<typeof RuleSchema>;

async function validateRule(
  ruleName: RuleName,
  rule: WireRule | undefined,
  dir: ApproverDirectory | null,
): Promise<Rule | null> {
  if (rule === null || rule === undefined) return null;
  const tokens: Token[] = [];
  for (const [ti, t] of rule.tokens.entries()) {
    const where = `policy.${ruleName}.tokens[${ti}]`;
    const groups: Group[] = [];
    for (const [gi, g] of (t.groups ?? []).entries()) {
      const gw = `${where}.groups[${gi}]`;
      const approvals: Approval[] = [];
      for (const [ai, a] of g.approvals.entries()) {
        approvals.push(await validateApproval(`${gw}.approvals[${ai}]`, a, dir));
      }
      const distinct = new Set(approvals.map(approverId)).size;
      if (g.quorum < 1) throw new WardenError(600, `${gw}.quorum must be at least 1`);
      // Since TSB 2.0.1 block/unblock/modify rules that can never be fulfilled are accepted (spec §2.2);
      // a use rule that can never be fulfilled would make the key unusable, so it is refused.
      if (ruleName === 'ruleUse' && g.quorum > distinct) {
        throw new WardenError(600, `${gw}.quorum ${g.quorum} exceeds its ${distinct} distinct approver(s)`);
      }
      groups.push({ name: checkName(`${gw}.name`, g.name), quorum: g.quorum, approvals });
    }
    tokens.push({ name: checkName(`${where}.name`, t.name), timelock: checkTime(`${where}.timelock`, t.timelock), timeout: checkTime(`${where}.timeout`, t.timeout), groups });
  }
  return { tokens };
}

async function validateApproval(where: string, a: Static<typeof ApprovalSchema>, dir: ApproverDirectory | null): Promise<Approval> {
  const name = a.name === undefined || a.name === null ? null : checkName(`${where}.name`, a.name);
  if (a.type === 'onboarded_approver_certificate') {
    if (!name) throw new WardenError(604, `${where}: an onboarded_approver_certificate approval needs the approver's name`);
    const found = dir ? await dir.certificateOf(name) : null;
    if (!found) throw new WardenError(413, `${where}: approver '${name}' does not exist`);
    if (!found.onboarded || !found.certificate) throw new WardenError(414, `${where}: approver '${name}' has not been onboarded yet`);
    const value = found.certificate.toString('base64');
    certificateSpki(found.certificate, `${where} (approver '${name}')`);
    return { type: a.type, name, value };
  }
  const value = a.value ?? '';
  if (value === '') throw new WardenError(600, `${where}.value is required for ${a.type} approvals`);
  // Values must come without line breaks (spec §2.4); refusing beats silently normalising.
  if (/\s/.test(value)) throw new WardenError(600, `${where}.value must be one line of Base64 without whitespace`);
  if (!B64.test(value) || value.length % 4 !== 0) throw new WardenError(600, `${where}.value is not valid Base64`);
  const der = Buffer.from(value, 'base64');
  if (a.type === 'public_key') canonicalSpki(der, `${where}.value`);
  else certificateSpki(der, `${where}.value`);
  return { type: a.type, name, value };
}

/** Validates the four rules (modify: ModifyPolicyDto) and returns them normalised. */
export async function validateRules(raw: WireRules, dir: ApproverDirectory | null): Promise<PolicyRules> {
  const out = {} as PolicyRules;
  for (const r of RULE_NAMES) out[r] = await validateRule(r, raw[r], dir);
  checkEncodable(out);
  return out;
}

/** Validates a policy given on create, import or unwrap (spec §2.4). */
export async function validatePolicy(raw: NonNullable<WirePolicy>, dir: ApproverDirectory | null): Promise<Policy> {
  const rules = await validateRules(raw, dir);
  const blocked = raw.keyStatus?.blocked === true;
  if (blocked && !rules.ruleUnblock) throw new WardenError(600, 'policy.keyStatus.blocked is true but there is no ruleUnblock to unblock the key');
  return { ...rules, keyStatus: { blocked } };
}

function checkEncodable(rules: PolicyRules): void {
  try {
    encodeRules(rules);
  } catch (e) {
    if (e instanceof TlvError) throw new WardenError(600, `policy is too large for the keystore's encoding: ${e.message}`);
    throw e;
  }
}

/** The stored policy of a key, or null for a plain key. Stored JSON is trusted only after the seal opened. */
export function asPolicy(stored: unknown): Policy | null {
  if (stored === null || stored === undefined) return null;
  return stored as Policy;
}

export const RULE_TAG: Record<RuleName, number> = {
  ruleUse: TAG.ruleUse,
  ruleBlock: TAG.ruleBlock,
  ruleUnblock: TAG.ruleUnblock,
  ruleModify: TAG.ruleModify,
};

function encodeRule(rule: Rule | null): Buffer {
  if (!rule) return container([]);
  const parts: Buffer[] = [element(TAG.tokenCount, u32(rule.tokens.length))];
  for (const t of rule.tokens) {
    const timing = Buffer.concat([u32(t.timelock / 60), u32(t.timeout / 60)]);
    parts.push(element(TAG.label, text(t.name)), element(TAG.timing, timing), element(TAG.groupCount, u32(t.groups.length)));
    for (const g of t.groups) {
      parts.push(element(TAG.label, text(g.name)), element(TAG.quorum, u32(g.quorum)), element(TAG.approvalCount, u32(g.approvals.length)));
      for (const a of g.approvals) parts.push(element(TAG.label, text(a.name ?? '')), element(TAG.approverKey, Buffer.from(approverId(a), 'base64')));
    }
  }
  return container(parts);
}

/**
 * The binary policy (value of a 0x1058 element): u32 length, then ruleUse, ruleBlock, ruleUnblock,
 * ruleModify, each a u32-prefixed token list. Times in minutes, approvers as SPKI (spec §2.5).
 */
export function encodeRules(rules: PolicyRules): Buffer {
  return container(RULE_NAMES.map((r) => element(RULE_TAG[r], encodeRule(rules[r]))));
}

/** A decoded binary rule, approvers as Base64 SPKI (what approvers and the CLI display). */
export interface DecodedRule {
  tokens: { name: string; timelock: number; timeout: number; groups: { name: string; quorum: number; approvers: { name: string; publicKey: string }[] }[] }[];
}

function decodeRule(value: Buffer): DecodedRule | null {
  const els = parseContainer(value);
  if (els.length === 0) return null;
  const rd = new ElementReader(els);
  const tokens: DecodedRule['tokens'] = [];
  const nTokens = readU32(rd.next(TAG.tokenCount));
  for (let i = 0; i < nTokens; i++) {
    const name = rd.next(TAG.label).value.toString('utf8');
    const timing = rd.next(TAG.timing).value;
    if (timing.length !== 8) throw new TlvError('timing element must hold two u32');
    const groups: DecodedRule['tokens'][number]['groups'] = [];
    const nGroups = readU32(rd.next(TAG.groupCount));
    for (let g = 0; g < nGroups; g++) {
      const gname = rd.next(TAG.label).value.toString('utf8');
      const quorum = readU32(rd.next(TAG.quorum));
      const approvers: { name: string; publicKey: string }[] = [];
      const nApprovals = readU32(rd.next(TAG.approvalCount));
      for (let a = 0; a < nApprovals; a++) {
        const aname = rd.next(TAG.label).value.toString('utf8');
        approvers.push({ name: aname, publicKey: rd.next(TAG.approverKey).value.toString('base64') });
      }
      groups.push({ name: gname, quorum, approvers });
    }
    tokens.push({ name, timelock: timing.readUInt32LE(0) * 60, timeout: timing.readUInt32LE(4) * 60, groups });
  }
  rd.end();
  return { tokens };
}

export function decodeRules(buf: Buffer): Record<RuleName, DecodedRule | null> {
  const rd = new ElementReader(parseContainer(buf));
  const out = {} as Record<RuleName, DecodedRule | null>;
  for (const r of RULE_NAMES) out[r] = decodeRule(rd.next(RULE_TAG[r]).value);
  rd.end();
  return out;
}

/** Distinct approver identities (Base64 SPKI) of a rule, over all tokens and groups, in policy order. */
export function ruleApprovers(rule: Rule | null): { id: string; approval: Approval }[] {
  const seen = new Map<string, Approval>();
  for (const t of rule?.tokens ?? []) for (const g of t.groups) for (const a of g.approvals) {
    const id = approverId(a);
    if (!seen.has(id)) seen.set(id, a);
  }
  return [...seen].map(([id, approval]) => ({ id, approval }));
}

/** A rule every action satisfies at once: no rule, no tokens, or a token without groups and timelock. */
export function satisfiedWithoutApprovals(rule: Rule | null): boolean {
  return !rule || rule.tokens.length === 0 || rule.tokens.some((t) => t.groups.length === 0 && t.timelock === 0);
}
