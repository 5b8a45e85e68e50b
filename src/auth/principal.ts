// Who is calling: the result of the authentication chain (mTLS → JWT → API key), recorded in every
// audit entry. Each method that passed contributes one credential; the principal combines them.
import type { RoleName } from '../config/schema.ts';

export type AuthMethod = 'mtls' | 'jwt' | 'apiKey';

/** What one authentication method established about the caller. */
export interface Credential {
  method: AuthMethod;
  /** Stable, non-secret identifier: certificate subject + fingerprint, token issuer/subject, key role + index. */
  subject: string;
  /**
   * Roles this credential grants, or null when the method carries no roles (a certificate without a
   * role mapping, a token without a roles claim): it then authenticates but does not authorize.
   */
  roles: RoleName[] | null;
  tenant?: string | null;
  /** mTLS only: the client certificate. */
  certificate?: { subject: string; fingerprint: string };
}

export interface Principal {
  /** The first method that passed (the strongest: mTLS, then JWT, then API key), or anonymous. */
  method: AuthMethod | 'anonymous';
  /** Every method that passed, in chain order. */
  methods: AuthMethod[];
  /** Stable, non-secret identifier (never a key or token), e.g. `mtls:CN=app,sha256:… apiKey:keyOperationToken#0`. */
  subject: string;
  /** The route's roles this caller was found to hold. */
  roles: RoleName[];
  /** Tenant from the JWT tenant claim (spec multi-authorization §6.3), else null. */
  tenant: string | null;
  certificate: { subject: string; fingerprint: string } | null;
}

export const ANONYMOUS: Principal = Object.freeze({
  method: 'anonymous',
  methods: [],
  subject: 'anonymous',
  roles: [],
  tenant: null,
  certificate: null,
}) as Principal;

/** Combines the credentials that passed into one principal; `roles` are the route roles granted. */
export function principalOf(credentials: readonly Credential[], roles: RoleName[]): Principal {
  if (credentials.length === 0) return { ...ANONYMOUS, roles, methods: [] };
  const cert = credentials.find((c) => c.certificate)?.certificate ?? null;
  const tenant = credentials.find((c) => c.tenant)?.tenant ?? null;
  return {
    method: credentials[0].method,
    methods: credentials.map((c) => c.method),
    subject: credentials.map((c) => c.subject).join(' '),
    roles,
    tenant,
    certificate: cert,
  };
}

/** Audit-record details for a principal (the subject goes in the principal column). */
export function principalAuditDetails(p: Principal | null | undefined): Record<string, unknown> | null {
  if (!p || p.method === 'anonymous') return null;
  return {
    auth: p.methods,
    ...(p.tenant ? { tenant: p.tenant } : {}),
    ...(p.certificate ? { certificateFingerprint: p.certificate.fingerprint } : {}),
  };
}
