// Request status (spec multi-authorization §3.4–§3.6, api §4.14; role keyOperationToken): read a request
// (optionally fetching its result only once), cancel it, and list requests by status (README decision 6).
import { Type, type Static } from '@sinclair/typebox';
import { WardenError } from '../server/errors.ts';
import { WIRE_STATUSES, type WireStatus } from '../workflow/repositories.ts';
import type { RequestView } from '../workflow/engine.ts';
import type { RouteDef, RouteGroup } from './route.ts';
import { errorResponses } from './wire.ts';

const ROLE = ['keyOperationToken'] as const;
const TAGS = ['Multi-authorization'];

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export const RequestStatusSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    status: Type.Union(WIRE_STATUSES.map((s) => Type.Literal(s))),
    executionTime: Type.Union([Type.String({ examples: ['2024-01-23T10:54:43Z'] }), Type.Null()], { description: 'When the request was sent to the keystore' }),
    approvedBy: Type.Array(Type.String(), { description: 'Base64 SPKI of the approvers who approved' }),
    notYetApprovedBy: Type.Array(Type.String(), { description: 'Base64 SPKI of the approvers who could still approve' }),
    rejectedBy: Type.Array(Type.String(), { description: 'Base64 SPKI of the approvers who rejected (deleted their task)' }),
    result: Type.Union([Type.String(), Type.Null()], { description: 'sign: Base64 signature; decrypt: Base64 plaintext; block/unblock/modify/unwrap: empty' }),
  },
  { description: 'RequestStatusDto (spec §3.4)' },
);

const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 128 }) });
const FetchQuery = Type.Object({ fetchResultOnce: Type.Optional(Type.Union([Type.Boolean(), Type.String({ maxLength: 8 })])) });
const SORT_ORDERS = ['CREATION_DATE_ASC', 'CREATION_DATE_DESC'] as const;
const StatusFilter = Type.Optional(Type.Union([Type.String({ maxLength: 200 }), Type.Array(Type.String({ maxLength: 16 }), { maxItems: 8 }), Type.Null()], {
  description: 'One status, a comma-separated list or an array (PENDING, APPROVED, EXECUTED, FAILED, EXPIRED, REJECTED, CANCELLED); absent = all',
}));
const FilterFields = {
  status: StatusFilter,
  pageNumber: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^[0-9]+$' }), Type.Null()])),
  pageSize: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 1000 }), Type.String({ pattern: '^[0-9]+$' }), Type.Null()])),
  sortOrder: Type.Optional(Type.Union([...SORT_ORDERS.map((o) => Type.Literal(o)), Type.Null()])),
};
const FilterQuery = Type.Object(FilterFields);
const FilterBody = Type.Union([Type.Object(FilterFields), Type.Null()], { examples: [{ status: 'PENDING', pageNumber: 0, pageSize: 50, sortOrder: 'CREATION_DATE_DESC' }] });
const ListResponse = Type.Object({ requests: Type.Array(RequestStatusSchema) });

function checkId(id: string): string {
  if (!UUID_RE.test(id)) throw new WardenError(609, `'${id}' is not a request id (UUID)`);
  return id.toLowerCase();
}

const wire = (v: RequestView) => ({
  id: v.id, status: v.status, executionTime: v.executionTime, approvedBy: v.approvedBy, notYetApprovedBy: v.notYetApprovedBy, rejectedBy: v.rejectedBy, result: v.result,
});

function truthy(v: boolean | string | undefined): boolean {
  return v === true || v === 'true' || v === '1';
}

function filterOf(f: Static<typeof FilterQuery> | null | undefined) {
  const raw = f?.status;
  const list = raw === undefined || raw === null ? [] : Array.isArray(raw) ? raw : raw.split(',');
  const statuses = list.map((s) => s.trim().toUpperCase()).filter((s) => s !== '');
  for (const s of statuses) {
    if (!(WIRE_STATUSES as readonly string[]).includes(s)) throw new WardenError(501, `status '${s}' is not one of ${WIRE_STATUSES.join(', ')}`);
  }
  const num = (v: number | string | null | undefined, d: number) => (v === undefined || v === null ? d : Number(v));
  const pageSize = num(f?.pageSize, 50);
  if (pageSize < 1 || pageSize > 1000) throw new WardenError(619, 'pageSize must be between 1 and 1000');
  const pageNumber = num(f?.pageNumber, 0);
  // The row offset must stay an exact integer (SQLite refused 1e21 × 849 with a 500: found by the fuzzer).
  if (!Number.isSafeInteger(pageNumber * pageSize)) throw new WardenError(619, 'pageNumber is out of range');
  return {
    statuses: statuses.length ? (statuses as WireStatus[]) : null,
    pageNumber,
    pageSize,
    order: f?.sortOrder === 'CREATION_DATE_ASC' ? ('asc' as const) : ('desc' as const),
  };
}

export const requestRoutes: RouteGroup = () => {
  const get = (method: 'GET' | 'POST', operationId: string, summary: string): RouteDef => ({
    method, url: '/v1/request/:id', roles: ROLE, operationId, tags: TAGS, summary, deprecated: method === 'POST',
    params: IdParams, querystring: FetchQuery, response: { 200: RequestStatusSchema, ...errorResponses },
    handler: async (req, _reply, s) => {
      const { id } = req.params as Static<typeof IdParams>;
      const q = req.query as Static<typeof FetchQuery>;
      return wire(await s.workflow.status(checkId(id), { fetchResultOnce: truthy(q.fetchResultOnce) }));
    },
  });
  const list = (method: 'GET' | 'POST'): RouteDef => ({
    method, url: '/v1/filteredRequests', roles: ROLE, operationId: method === 'GET' ? 'filteredRequests' : 'filteredRequestsPost', tags: TAGS, audit: false,
    summary: 'List requests by status, newest first by default (README decision 6)',
    ...(method === 'GET' ? { querystring: FilterQuery } : { body: FilterBody }),
    response: { 200: ListResponse, ...errorResponses },
    handler: async (req, _reply, s) => {
      const f = filterOf((method === 'GET' ? req.query : req.body) as Static<typeof FilterQuery> | null);
      return { requests: (await s.workflow.list(f)).map(wire) };
    },
  });
  return [
    get('GET', 'getRequestStatus', 'Status, approvers and result of a request (?fetchResultOnce=true: the result is returned once, then deleted)'),
    get('POST', 'getRequestStatus_1', 'Same as GET /v1/request/{id} (some vendor docs show POST)'),
    {
      method: 'DELETE', url: '/v1/request/:id', roles: ROLE, operationId: 'deleteRequest', tags: TAGS,
      summary: 'Cancel a request: PENDING or APPROVED → CANCELLED, its approval tasks are removed',
      params: IdParams, response: { 200: Type.Object({}), ...errorResponses },
      handler: async (req, _reply, s) => {
        const { id } = req.params as Static<typeof IdParams>;
        await s.workflow.cancel(checkId(id));
        return {};
      },
    },
    list('GET'),
    list('POST'),
  ];
};
