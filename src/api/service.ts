// Service endpoints (spec §5; role serviceToken): version, licence flags, keystore statistics and the
// audit trail (`/v1/hsm/log`), which in Warden is the hash-chained audit log.
import { Type, type Static } from '@sinclair/typebox';
import { WardenError } from '../server/errors.ts';
import type { AuditRow } from '../store/repositories.ts';
import type { RouteGroup } from './route.ts';
import { errorResponses } from './wire.ts';

const ROLE = ['serviceToken'] as const;
const TAGS = ['Service'];

/** Every feature flag the TSB knows: nothing is licensed away in Warden (README decision 9). */
export const LICENSE_FLAGS = ['REST_API', 'TSB_ENGINE', 'KEY_AUTH', 'PERSISTENT_EXTERNAL_OBJ', 'KEY_STORE_SIZE'];

const AuditEntry = Type.Object({
  id: Type.Integer(),
  time: Type.String(),
  requestId: Type.Union([Type.String(), Type.Null()]),
  principal: Type.Union([Type.String(), Type.Null()]),
  method: Type.Union([Type.String(), Type.Null()]),
  route: Type.Union([Type.String(), Type.Null()]),
  action: Type.String(),
  keyLabel: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.String(),
  mac: Type.String({ description: 'HMAC chain value of this entry' }),
});
const IsoTime = Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}(T[0-9:.]+Z?)?$', description: 'ISO-8601 time (UTC)' });
const LogQuery = Type.Object({
  from: Type.Optional(IsoTime),
  to: Type.Optional(IsoTime),
  limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$', description: '1..10000, default 1000' })),
});
const IdParams = Type.Object({ id: Type.String({ pattern: '^[0-9]{1,15}$' }) });

function entryView(r: AuditRow) {
  return {
    id: r.seq, time: r.time, requestId: r.request_id, principal: r.principal, method: r.method, route: r.route,
    action: r.action, keyLabel: r.key_label, outcome: r.outcome, mac: r.mac,
  };
}

function logLine(r: AuditRow): string {
  return `${r.seq} ${r.time} ${r.outcome} ${r.action} ${r.method ?? '-'} ${r.route ?? '-'} key=${r.key_label ?? '-'} by=${r.principal ?? '-'} request=${r.request_id ?? '-'}`;
}

export const serviceRoutes: RouteGroup = () => [
  {
    method: 'GET', url: '/v1/versionInfo', roles: ROLE, operationId: 'versionInfo', tags: TAGS, audit: false,
    summary: 'Warden version',
    response: { 200: Type.Object({ Version: Type.String({ examples: ['0.1.0'] }) }), ...errorResponses },
    handler: async (_req, _reply, s) => ({ Version: s.version }),
  },
  {
    method: 'GET', url: '/v1/licenseInfo', roles: ROLE, operationId: 'licenseInfo', tags: TAGS, audit: false,
    summary: 'Licence flags (all features enabled)',
    response: { 200: Type.Object({ clientFlags: Type.Array(Type.String()) }), ...errorResponses },
    handler: async () => ({ clientFlags: LICENSE_FLAGS }),
  },
  {
    method: 'GET', url: '/v1/keystore/statistics', roles: ROLE, operationId: 'keystoreStatistics', tags: TAGS, audit: false,
    summary: 'Keystore statistics (also a health check)',
    response: { 200: Type.Object({ keyStoreStatistics: Type.String() }), ...errorResponses },
    handler: async (_req, _reply, s) => {
      const st = await s.keystore.statistics();
      return {
        keyStoreStatistics: `user warden, private keys ${st.privateKeys}, public keys ${st.publicKeys}, secret keys ${st.secretKeys}, certificates ${st.certificates}, data objects ${st.dataObjects}, invalidated keys 0, keystore ${s.keystore.type}`,
      };
    },
  },
  {
    method: 'GET', url: '/v1/hsm/log', roles: ROLE, operationId: 'auditLog', tags: TAGS, audit: false,
    summary: 'The audit trail: entries between from and to (oldest first), as text and as objects',
    querystring: LogQuery,
    response: { 200: Type.Object({ log: Type.String(), entries: Type.Array(AuditEntry) }), ...errorResponses },
    handler: async (req, _reply, s) => {
      const q = req.query as Static<typeof LogQuery>;
      const limit = q.limit === undefined ? 1000 : Number(q.limit);
      if (limit < 1 || limit > 10000) throw new WardenError(619, 'limit must be between 1 and 10000');
      const rows = await s.audit.query({ from: q.from, to: q.to, limit });
      return { log: rows.map(logLine).join('\n'), entries: rows.map(entryView) };
    },
  },
  {
    method: 'GET', url: '/v1/hsm/log/:id', roles: ROLE, operationId: 'auditLogEntry', tags: TAGS, audit: false,
    summary: 'One audit entry',
    params: IdParams,
    response: { 200: AuditEntry, ...errorResponses },
    handler: async (req, _reply, s) => {
      const { id } = req.params as Static<typeof IdParams>;
      const row = await s.audit.get(Number(id));
      if (!row) throw new WardenError(622, `Audit entry ${id} does not exist`, { status: 404 });
      return entryView(row);
    },
  },
];
