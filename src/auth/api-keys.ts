// Role-based API keys (X-API-KEY). Keys are kept only as SHA-256 digests and compared in constant
// time against every key of the route's roles (spec README decision 2).
import { createHash, timingSafeEqual } from 'node:crypto';
import { ROLE_NAMES, type RoleName } from '../config/schema.ts';
import { WardenError } from '../server/errors.ts';
import type { Credential } from './principal.ts';

export type RoleKeys = Partial<Record<RoleName, string | string[] | undefined>>;

interface Digest {
  role: RoleName;
  index: number;
  digest: Buffer;
}

function toDigest(value: string): Buffer {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(value.trim());
  if (m) return Buffer.from(m[1], 'hex');
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Keys recently accepted, by the header value as sent (issue 10: skips a SHA-256 per call). */
const ACCEPTED_CACHE_SIZE = 1024;

export class ApiKeyAuthenticator {
  private readonly byRole = new Map<RoleName, Digest[]>();
  /**
   * Header values that matched a configured key, like the JWT verified-token cache: only accepted values
   * enter (a guess never does), it is bounded, and a hit counts only for a route its role may call. A
   * Map lookup compares hashes first, so it says nothing useful about how close a guess is to a real key.
   */
  private readonly accepted = new Map<string, Digest>();

  constructor(keys: RoleKeys) {
    for (const role of ROLE_NAMES) {
      const raw = keys[role];
      const list = (Array.isArray(raw) ? raw : raw ? [raw] : []).filter((k) => k.trim() !== '');
      this.byRole.set(role, list.map((k, index) => ({ role, index, digest: toDigest(k) })));
    }
  }

  /** Roles that have no key while API keys are enabled: their routes are refused (deny by default). */
  rolesWithoutKeys(): RoleName[] {
    return ROLE_NAMES.filter((r) => (this.byRole.get(r) ?? []).length === 0);
  }

  /** Checks the header against the keys of any of `roles`; throws 401/416 or 401/631. */
  authenticate(header: string | string[] | undefined, roles: readonly RoleName[]): Credential {
    // A repeated header is ambiguous (which one did the client mean?): treat it as wrong, not as either.
    if (Array.isArray(header)) throw new WardenError(631, 'Invalid API key for this endpoint: send exactly one X-API-KEY header');
    const value = header;
    if (value === undefined || value === '') throw new WardenError(416, 'Missing API key: send it in the X-API-KEY header');
    // A hit for another role goes the full way: one value may be configured for several roles.
    const known = this.accepted.get(value);
    if (known && roles.includes(known.role)) return { method: 'apiKey', subject: `apiKey:${known.role}#${known.index}`, roles: [known.role] };
    const given = createHash('sha256').update(value, 'utf8').digest();
    let match: Digest | null = null;
    // Compare against every candidate (no early exit) so timing does not reveal which role matched.
    for (const role of roles) {
      for (const d of this.byRole.get(role) ?? []) {
        if (timingSafeEqual(d.digest, given) && match === null) match = d;
      }
    }
    if (!match) throw new WardenError(631, 'Invalid API key for this endpoint');
    if (this.accepted.size >= ACCEPTED_CACHE_SIZE) this.accepted.delete(this.accepted.keys().next().value as string);
    this.accepted.set(value, match);
    return { method: 'apiKey', subject: `apiKey:${match.role}#${match.index}`, roles: [match.role] };
  }
}
