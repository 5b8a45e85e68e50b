// Who is calling: the result of the authentication chain, recorded in every audit entry.
import type { RoleName } from '../config/schema.ts';

export interface Principal {
  method: 'apiKey' | 'jwt' | 'mtls' | 'anonymous';
  /** Stable, non-secret identifier (never the key itself). */
  subject: string;
  roles: RoleName[];
}

export const ANONYMOUS: Principal = Object.freeze({ method: 'anonymous', subject: 'anonymous', roles: [] }) as Principal;
