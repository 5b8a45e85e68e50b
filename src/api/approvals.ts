// Approval tasks and approvals (spec multi-authorization §4; role approverToken, JWTs ignored): the
// filtered…ApprovalTask lists with detail levels 1–5, paging, sort orders and last-fetched updates,
// POST /v1/approval, and DELETE /v1/task to reject (README decision 6). Approvers prove possession of
// their key with a signed timestamp; whitelisted timestamp signers may list and reject, never approve.
import { Type, type Static } from '@sinclair/typebox';
import { WardenError } from '../server/errors.ts';
import type { Services } from '../server/services.ts';
import { parseChallenge } from '../workflow/challenge.ts';
import { ApproverProofFields, ApproverProofVerifier, approverIdOf, b64Field } from '../workflow/approver-proof.ts';
import type { RequestRow, TaskRow } from '../workflow/repositories.ts';
import type { RouteDef, RouteGroup } from './route.ts';
import { errorResponses } from './wire.ts';

const ROLE = ['approverToken'] as const;
const TAGS = ['Approvals'];

const DETAIL_LEVELS = ['level1', 'level2', 'level3', 'level4', 'level5'] as const;
const SORT_ORDERS = ['CREATION_DATE_ASC', 'CREATION_DATE_DESC', 'LAST_FETCHED_DATE_ASC', 'LAST_FETCHED_DATE_DESC'] as const;
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const NullableUuid = (description: string) => Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()], { description }));

const FilterBody = Type.Object(
  {
    ...ApproverProofFields,
    id: NullableUuid('Exact task id (overrides requestId)'),
    requestId: NullableUuid('Tasks of one request'),
    detailLevel: Type.Optional(Type.Union([...DETAIL_LEVELS.map((l) => Type.Literal(l)), Type.Null()], { description: 'level1 (default) … level5' })),
    paging: Type.Optional(Type.Union([
      Type.Object({
        // Bounded so that pageNumber × pageSize stays an exact row offset.
        pageNumber: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Zero-based' })),
        pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
        sortOrder: Type.Optional(Type.Union([...SORT_ORDERS.map((o) => Type.Literal(o)), Type.Null()])),
      }),
      Type.Null(),
    ])),
  },
  { examples: [{ timestamp: '2026-11-28T12:00:00Z', timestampSignature: 'MEUCIQ…', timestampDigestAlgorithm: 'SHA-256', approverPublicKey: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…', detailLevel: 'level1', paging: { pageNumber: 0, pageSize: 10, sortOrder: 'CREATION_DATE_ASC' } }] },
);

const ApprovalBody = Type.Object(
  {
    id: Type.String({ maxLength: 64, description: 'Task id' }),
    approvalToBeSigned: Type.String({ maxLength: 1024 * 1024, description: 'Base64 challenge exactly as received' }),
    signature: Type.String({ maxLength: 65536, description: 'Base64 signature over the decoded challenge bytes' }),
    approvalDigestAlgorithm: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()], { description: 'SHA-224 … SHA3-512, or EdDSA (default SHA-256)' })),
    approverPublicKey: Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Null()])),
    approverCertificate: Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Null()])),
    timestampSigningCertificate: Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Null()], { description: 'Timestamp signers cannot approve (405)' })),
  },
  { examples: [{ id: '6947…', approvalToBeSigned: '4AAAADsA…', signature: 'MEUCIQ…', approvalDigestAlgorithm: 'SHA-256', approverPublicKey: 'MFkw…' }] },
);

const RejectBody = Type.Object(
  { ...ApproverProofFields, id: Type.String({ maxLength: 64, description: 'Task id' }) },
  { examples: [{ timestamp: '2026-11-28T12:00:00Z', timestampSignature: 'MEUCIQ…', timestampDigestAlgorithm: 'SHA-256', approverPublicKey: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…', id: '6947c6b0-…' }] },
);

const Obj = Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]);
const Str = Type.Union([Type.String(), Type.Null()]);
const TaskSchema = Type.Object({
  detailLevel: Type.String(),
  id: Type.String(),
  requestId: Type.String({ description: 'Warden: the request this task belongs to' }),
  approvalToBeSigned: Type.String({ description: 'Base64 challenge (docs/workflow.md)' }),
  approverPublicKey: Type.String(),
  metaData: Type.Optional(Str),
  metaDataSignature: Type.Optional(Str),
  payload: Type.Optional(Str),
  payloadType: Type.Optional(Str),
  requestBase64: Type.Optional(Str),
  signedSignRequest: Type.Optional(Obj),
  signedModifyKeyRequest: Type.Optional(Obj),
  signedBlockKeyRequest: Type.Optional(Obj),
  signedUnblockKeyRequest: Type.Optional(Obj),
  signedDecryptRequest: Type.Optional(Obj),
  signedUnwrapKeyRequest: Type.Optional(Obj),
  signedCertificateRequestRequest: Type.Optional(Obj),
  signedSignCertificateRequest: Type.Optional(Obj),
  signedSelfSignCertificateRequestDto: Type.Optional(Obj),
  timestamp: Type.Optional(Str),
  timestampSignature: Type.Optional(Str),
  timestampSignatureAlgorithm: Type.Optional(Str),
  timestampSignatureWithAlgorithm: Type.Optional(Str),
  keyAttributes: Type.Optional(Str),
  keyAttributesSignature: Type.Optional(Str),
});
const TasksResponse = Type.Object({ tasks: Type.Array(TaskSchema) });

/** Which `signed…` field carries the original request of each type (Annex B). */
const SIGNED_FIELD: Record<string, string> = {
  sign: 'signedSignRequest',
  modify: 'signedModifyKeyRequest',
  block: 'signedBlockKeyRequest',
  unblock: 'signedUnblockKeyRequest',
  decrypt: 'signedDecryptRequest',
  unwrap: 'signedUnwrapKeyRequest',
  csrsign: 'signedCertificateRequestRequest',
  crtsign: 'signedSignCertificateRequest',
  selfsign: 'signedSelfSignCertificateRequestDto',
};

/** The task list endpoints: name → request types (null = all). Certificate tasks are listed by All. */
const LISTS: [string, string[] | null][] = [
  ['Sign', ['sign']],
  ['ModifyKey', ['modify']],
  ['BlockKey', ['block']],
  ['UnblockKey', ['unblock']],
  ['Decrypt', ['decrypt']],
  ['UnwrapKey', ['unwrap']],
  ['All', null],
];

async function taskView(s: Services, task: TaskRow, request: RequestRow, level: number): Promise<Record<string, unknown>> {
  const challenge = Buffer.from(request.challenge);
  const v: Record<string, unknown> = {
    detailLevel: `level${level}`,
    id: task.id,
    requestId: request.id,
    approvalToBeSigned: challenge.toString('base64'),
    approverPublicKey: task.approver,
  };
  if (level >= 2) {
    v.metaData = request.meta_data;
    v.metaDataSignature = request.meta_data_signature;
  }
  const parsed = level >= 3 ? parseChallenge(challenge) : null;
  if (parsed) {
    v.payload = parsed.part.value.toString('base64');
    v.payloadType = request.payload_type;
    v.requestBase64 = Buffer.from(request.request_json, 'utf8').toString('base64');
    const original = JSON.parse(request.request_json) as Record<string, unknown>;
    for (const f of Object.values(SIGNED_FIELD)) v[f] = null;
    v[SIGNED_FIELD[request.type]] = original;
  }
  if (parsed && level >= 4) {
    v.timestamp = parsed.timestamp?.raw.toString('base64') ?? null;
    v.timestampSignature = parsed.timestampSignature?.signature.toString('base64') ?? null;
    v.timestampSignatureAlgorithm = parsed.timestampSignature ? 'SHA256_WITH_ECDSA' : null;
    v.timestampSignatureWithAlgorithm = parsed.timestampSignature?.der.toString('base64') ?? null;
  }
  if (level >= 5) {
    // The key as the keystore attests it (integrity-checked with the request's sealed password).
    // A key that fails its integrity check shows no attributes; it must not hide the other tasks.
    try {
      const password = request.secret ? s.keystore.openSecret(`request:${request.id}`, Buffer.from(request.secret)).toString('utf8') : null;
      const att = await s.attestation.attest(await s.keystore.describe(request.key_label, password));
      v.keyAttributes = att.xml;
      v.keyAttributesSignature = att.signature;
    } catch (e) {
      if (!(e instanceof WardenError)) throw e;
      v.keyAttributes = null;
      v.keyAttributesSignature = null;
    }
  }
  return v;
}

function optionalUuid(field: string, v: string | null | undefined): string | null {
  if (v === undefined || v === null || v === '') return null;
  if (!UUID_RE.test(v)) throw new WardenError(609, `${field} '${v}' is not a UUID`);
  return v.toLowerCase();
}

export const approvalRoutes: RouteGroup = (services) => {
  const proof = new ApproverProofVerifier(services.config, () => services.workflow.clock());
  const listRoute = ([name, types]: [string, string[] | null]): RouteDef => ({
    method: 'POST', url: `/v1/filtered${name}ApprovalTask`, roles: ROLE, operationId: `filtered${name}ApprovalTask`, tags: TAGS,
    summary: name === 'All' ? 'List the open approval tasks of every type for the approver' : `List the open ${name} approval tasks for the approver`,
    body: FilterBody, response: { 200: TasksResponse, ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof FilterBody>;
      const who = proof.verify(body);
      const paging = body.paging ?? null;
      const sort = paging?.sortOrder ?? 'CREATION_DATE_ASC';
      const rows = await s.workflow.listTasks(who, {
        types,
        id: optionalUuid('id', body.id),
        requestId: optionalUuid('requestId', body.requestId),
        offset: paging ? (paging.pageNumber ?? 0) * (paging.pageSize ?? 50) : 0,
        limit: paging ? (paging.pageSize ?? 50) : null,
        sort: sort.startsWith('LAST_FETCHED') ? 'last_fetched_at' : 'created_at',
        order: sort.endsWith('_DESC') ? 'desc' : 'asc',
      });
      const level = Number((body.detailLevel ?? 'level1').slice(5));
      const tasks = [];
      for (const { task, request } of rows) tasks.push(await taskView(s, task, request, level));
      return { tasks };
    },
  });
  return [
    ...LISTS.map(listRoute),
    {
      method: 'POST', url: '/v1/approval', roles: ROLE, operationId: 'approve', tags: TAGS,
      summary: 'Approve a task: the approver signs the decoded approvalToBeSigned (spec §4.6); 200 with an empty body',
      body: ApprovalBody, response: { 200: Type.Null({ description: 'Empty body' }), ...errorResponses },
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof ApprovalBody>;
        if (body.timestampSigningCertificate) throw new WardenError(405, 'Timestamp signers may list and reject tasks but never approve');
        const approver = approverIdOf(body);
        if (!approver) throw new WardenError(600, 'approverPublicKey or approverCertificate is required');
        const taskId = optionalUuid('id', body.id);
        if (!taskId) throw new WardenError(600, 'id is required');
        await s.workflow.approve({
          taskId,
          challenge: b64Field('approvalToBeSigned', body.approvalToBeSigned),
          signature: b64Field('signature', body.signature),
          digestAlgorithm: body.approvalDigestAlgorithm ?? null,
          approver,
        });
        return reply.code(200).send();
      },
    },
    {
      method: 'DELETE', url: '/v1/task', roles: ROLE, operationId: 'rejectTask', tags: TAGS,
      summary: 'Reject (delete) a task with the approver proof of possession plus the task id (README decision 6)',
      body: RejectBody, response: { 200: Type.Null({ description: 'Empty body' }), ...errorResponses },
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof RejectBody>;
        const who = proof.verify(body);
        const taskId = optionalUuid('id', body.id);
        if (!taskId) throw new WardenError(600, 'id is required');
        await s.workflow.reject(taskId, who);
        return reply.code(200).send();
      },
    },
  ];
};
