// The authorization contract as data: the five API-key roles and the Ant-style endpoint patterns each
// protects (spec seed-authentication-methods.md), the two extra allowances of spec README decision 2,
// the approver routes that ignore JWTs (decision 3), and the matcher that turns a route into its roles.
import { ROLE_NAMES, type RoleName } from '../config/schema.ts';

/** Where a rule comes from, so the table can be audited against the spec line by line. */
export type RuleSource = 'seed' | 'decision-2' | 'newer-docs';

export interface AccessRule {
  /** Ant-style pattern: `**` any number of segments, `*` any characters inside one segment, `?` one character. */
  readonly pattern: string;
  readonly role: RoleName;
  readonly source: RuleSource;
}

/** The seed page's table, verbatim (spec seed-authentication-methods.md, "API Key Roles Overview"). */
export const SEED_PATTERNS: Readonly<Record<RoleName, readonly string[]>> = Object.freeze({
  keyManagementToken: Object.freeze([
    '/v1/key', '/v1/key/**', '/v1/key/**/attributes', '/v1/importedKey', '/v1/derivedKey',
    '/v1/dataObject', '/v1/dataObject/**', '/v1/attestation/**', '/v1/modify', '/v1/synchronousModify',
  ]),
  keyOperationToken: Object.freeze([
    '/v1/certificate/**', '/v1/synchronousUnwrap', '/v1/synchronousUnblock', '/v1/synchronousSign',
    '/v1/synchronousFileDecrypt', '/v1/synchronousDecrypt', '/v1/synchronousBlock', '/v1/synchronousHmac',
    '/v1/fileEncrypt', '/v1/wrap', '/v1/verify', '/v1/encrypt', '/v1/createRfcTimestamp', '/v1/generateRandom/**',
    '/v1/unwrap', '/v1/unblock', '/v1/sign', '/v1/decrypt', '/v1/block', '/v1/request/**', '/v1/filteredRequests',
  ]),
  approverToken: Object.freeze(['/v1/filtered**ApprovalTask', '/v1/approval', '/v1/task', '/v1/approver/onboard']),
  serviceToken: Object.freeze(['/v1/versionInfo', '/v1/licenseInfo', '/v1/keystore/statistics', '/v1/hsm/log', '/v1/hsm/log/**']),
  approverKeyManagementToken: Object.freeze(['/v1/approverManagement/**']),
});

/**
 * Allowances beyond the seed. Decision 2: the Go client sends the service key to generateRandom and
 * fireblocks sends the key-management key to certificate endpoints. Newer vendor docs (spec
 * multi-authorization §6.2) add `/v1/rotate` and `/v1/xpub/**` to key management.
 */
export const EXTRA_RULES: readonly AccessRule[] = Object.freeze([
  { pattern: '/v1/generateRandom/**', role: 'serviceToken', source: 'decision-2' },
  { pattern: '/v1/certificate/**', role: 'keyManagementToken', source: 'decision-2' },
  { pattern: '/v1/rotate', role: 'keyManagementToken', source: 'newer-docs' },
  { pattern: '/v1/xpub/**', role: 'keyManagementToken', source: 'newer-docs' },
] satisfies AccessRule[]);

/** Every rule, seed first. */
export const ACCESS_RULES: readonly AccessRule[] = Object.freeze([
  ...ROLE_NAMES.flatMap((role) => SEED_PATTERNS[role].map((pattern): AccessRule => ({ pattern, role, source: 'seed' }))),
  ...EXTRA_RULES,
]);

/**
 * Approver endpoints ignore JWTs (README decision 3; spec multi-authorization §4.2): approvers prove
 * possession of their key in the body instead, and mobile apps carry no bearer token.
 */
export const JWT_EXEMPT_PATTERNS: readonly string[] = SEED_PATTERNS.approverToken;

// ---------------------------------------------------------------------------------------------------
// Matching. Paths are matched segment by segment on the raw (still percent-encoded) path: `%2F` stays
// inside its segment and never acts as a separator, empty segments (`//`, trailing `/`) are segments
// like any other, and comparison is case-sensitive — as Spring's AntPathMatcher with a strict firewall.

type Seg = { kind: 'literal'; text: string } | { kind: 'param' } | { kind: 'rest' };

const segmentRegexCache = new Map<string, RegExp>();

/** Regex for one pattern segment with in-segment wildcards (`*`, `**` inside a segment, `?`). */
function segmentRegex(seg: string): RegExp {
  let re = segmentRegexCache.get(seg);
  if (!re) {
    const body = seg
      .split(/(\*+|\?)/)
      .map((part) => (part.startsWith('*') ? '[^/]*' : part === '?' ? '[^/]' : part.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    re = new RegExp(`^${body}$`);
    segmentRegexCache.set(seg, re);
  }
  return re;
}

const hasWildcard = (seg: string) => seg.includes('*') || seg.includes('?');

function splitPath(p: string): string[] {
  return p.split('/');
}

/**
 * How a template segment (a fastify route parameter) may meet a pattern segment. `must`: the route's
 * every concrete URL matches — only a whole-segment wildcard does that. `may`: some concrete URL could.
 */
type ParamMode = 'must' | 'may';

function segMatches(pat: string, seg: Seg, mode: ParamMode): boolean {
  if (seg.kind === 'literal') return hasWildcard(pat) ? segmentRegex(pat).test(seg.text) : pat === seg.text;
  if (seg.kind === 'param') return mode === 'may' || pat === '*';
  return false;
}

function matchSegs(pat: readonly string[], pi: number, segs: readonly Seg[], si: number, mode: ParamMode): boolean {
  if (pi === pat.length) return si === segs.length;
  const p = pat[pi];
  if (p === '**') {
    // `**` swallows zero or more segments; a fastify rest wildcard is swallowed only by a `**`.
    for (let k = si; k <= segs.length; k++) {
      if (matchSegs(pat, pi + 1, segs, k, mode)) return true;
    }
    return false;
  }
  if (si === segs.length) return false;
  const s = segs[si];
  if (s.kind === 'rest') return mode === 'may';
  return segMatches(p, s, mode) && matchSegs(pat, pi + 1, segs, si + 1, mode);
}

/** Does the concrete (raw, percent-encoded) path match the Ant pattern? */
export function antMatch(pattern: string, path: string): boolean {
  return matchSegs(splitPath(pattern), 0, splitPath(path).map((text): Seg => ({ kind: 'literal', text })), 0, 'must');
}

/** Parses a fastify route URL (`/v1/key/:keyName/attributes`, `/files/*`) into segments. */
export function templateSegments(url: string): Seg[] {
  return splitPath(url).map((text, i, all): Seg => {
    if (text === '*' && i === all.length - 1) return { kind: 'rest' };
    // `::` is fastify's escaped literal colon; any other colon starts a parameter (possibly a partial one).
    if (text.replace(/::/g, '').includes(':')) return { kind: 'param' };
    return { kind: 'literal', text: text.replace(/::/g, ':') };
  });
}

/** Does every concrete URL of the fastify route template match the pattern? */
export function templateMatches(pattern: string, url: string): boolean {
  return matchSegs(splitPath(pattern), 0, templateSegments(url), 0, 'must');
}

/** Could some concrete URL of the route template match the pattern? */
export function templateMayMatch(pattern: string, url: string): boolean {
  return matchSegs(splitPath(pattern), 0, templateSegments(url), 0, 'may');
}

/** Roles allowed on a concrete path: the union over every matching rule, in ROLE_NAMES order. */
export function rolesForPath(path: string, rules: readonly AccessRule[] = ACCESS_RULES): RoleName[] {
  const hit = new Set(rules.filter((r) => antMatch(r.pattern, path)).map((r) => r.role));
  return ROLE_NAMES.filter((r) => hit.has(r));
}

export interface RouteAccess {
  roles: RoleName[];
  /** The rules that matched, for error messages and the OpenAPI description. */
  patterns: string[];
  /** Decision 3: JWTs are not checked on this route. */
  ignoreJwt: boolean;
}

export class RouteTableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RouteTableError';
  }
}

/**
 * Roles of a registered route, from the table. Throws when the route matches no pattern, or when some
 * of its concrete URLs would match a pattern of a role the route as a whole does not get (a parameter
 * that straddles two rules: authorization would depend on the parameter's value).
 */
export function accessForRoute(method: string, url: string, rules: readonly AccessRule[] = ACCESS_RULES): RouteAccess {
  const matched = rules.filter((r) => templateMatches(r.pattern, url));
  if (matched.length === 0) {
    throw new RouteTableError(
      `route ${method} ${url} matches no pattern of the role table (src/auth/roles.ts): add it there, or mark the route 'public'`,
    );
  }
  const roles = ROLE_NAMES.filter((role) => matched.some((r) => r.role === role));
  const partial = rules.filter((r) => !roles.includes(r.role) && templateMayMatch(r.pattern, url));
  if (partial.length > 0) {
    throw new RouteTableError(
      `route ${method} ${url}: some of its URLs also match ${partial.map((r) => `${r.pattern} (${r.role})`).join(', ')}; ` +
        'authorization must not depend on a parameter value — use a literal path segment',
    );
  }
  const ignoreJwt = JWT_EXEMPT_PATTERNS.some((p) => templateMatches(p, url));
  return { roles, patterns: [...new Set(matched.map((r) => r.pattern))], ignoreJwt };
}

/** Public routes (docs) must not shadow a protected pattern. */
export function assertPublicRoute(method: string, url: string, rules: readonly AccessRule[] = ACCESS_RULES): void {
  const hit = rules.filter((r) => templateMayMatch(r.pattern, url));
  if (hit.length > 0) {
    throw new RouteTableError(`route ${method} ${url} is public but matches ${hit[0].pattern} (${hit[0].role}) of the role table`);
  }
}
