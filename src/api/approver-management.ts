// Approver management (spec multi-authorization §5): `/v1/approverManagement/**` for the approver manager
// (approverKeyManagementToken) — create, renew the one-time code, restore (password known or forgotten),
// onboarding status, delete — and `/v1/approver/onboard` for the approver (approverToken).
import { Type, type Static } from '@sinclair/typebox';
import { APPROVER_ALGORITHMS, RSA_SIZES, type ApproverAlgorithm, type ApproverService } from '../approvers/service.ts';
import { WardenError } from '../server/errors.ts';
import type { Services } from '../server/services.ts';
import { ApproverProofFields, ApproverProofVerifier } from '../workflow/approver-proof.ts';
import type { RouteDef, RouteGroup } from './route.ts';
import { PasswordSchema, errorResponses, passwordOf } from './wire.ts';

const MANAGER = ['approverKeyManagementToken'] as const;
const APPROVER = ['approverToken'] as const;
const TAGS = ['Approver management'];

const Name = Type.Optional(Type.Union([Type.String({ maxLength: 1024 }), Type.Null()], { description: 'The approver name policies use (e.g. officer1@example.com)' }));
const NameBody = Type.Object({ approverName: Name }, { examples: [{ approverName: 'officer1@example.com' }] });

const CreateBody = Type.Object(
  {
    approverName: Name,
    algorithm: Type.Optional(Type.Union([...APPROVER_ALGORITHMS.map((a) => Type.Literal(a)), Type.Null()], { description: 'RSA (default) or EC (P-256, a Warden extension)' })),
    keySize: Type.Optional(Type.Union([Type.Integer(), Type.Null()], { description: 'RSA: 2048 (default), 3072 or 4096' })),
    backupPassword: Type.Optional(PasswordSchema),
    validity: Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 36500 }), Type.Null()], { description: 'Days the approver certificate is valid (default 3650)' })),
    qrCode: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'Accepted and ignored: the one-time code is always returned as text' })),
  },
  { examples: [{ approverName: 'officer1@example.com', algorithm: 'RSA', keySize: 2048, backupPassword: 'a-long-backup-password', validity: 3650 }] },
);

const RestoreBody = Type.Object({ approverName: Name, newBackupPassword: Type.Optional(PasswordSchema) });
const ForgotBody = Type.Object(
  { approverName: Name, newBackupPassword: Type.Optional(PasswordSchema) },
  { examples: [{ approverName: 'officer1@example.com', newBackupPassword: ['n', 'e', 'w', '-', 'p', 'w'] }] },
);
const OnboardBody = Type.Object(
  { approverName: Name, oneTimeCode: Type.Optional(PasswordSchema), transportPassword: Type.Optional(PasswordSchema) },
  { examples: [{ approverName: 'officer1@example.com', oneTimeCode: ['4', '1', '0', '4', '4', '7'], transportPassword: '0123456789abcdef0123456789abcdef' }] },
);
const NameParams = Type.Object({ approverName: Type.String({ minLength: 1, maxLength: 1024 }) });

const OneTimeCode = Type.Object({ oneTimeCode: Type.String({ description: 'Six digits, single use', examples: ['410447'] }) });
const Entry = Type.Object({ approverName: Type.String(), approverCertificate: Type.String({ description: 'PEM certificate of the approver key' }) });
const StatusResponse = Type.Object({ onboarded: Type.Array(Entry), pending: Type.Array(Entry) });
const OnboardResponse = Type.Object({
  encryptedPayload: Type.String({ description: 'AES-GCM(key = UTF-8 transportPassword) of the PKCS#12, 16-byte tag appended, Base64' }),
  initializationVector: Type.String({ description: '12-byte GCM IV, Base64' }),
});
const RequestStatusBody = Type.Object(
  { ...ApproverProofFields, requestId: Type.String({ maxLength: 64, description: 'The request one of my tasks belongs to' }) },
  { examples: [{ timestamp: '2026-11-28T12:00:00Z', timestampSignature: 'MEUCIQ…', timestampDigestAlgorithm: 'SHA-256', approverPublicKey: 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE…', requestId: '4e87c1a2-0c3b-4a51-9f57-1d2e3f405162' }] },
);
const RequestStatusResponse = Type.Object({
  requestId: Type.String(),
  type: Type.String({ description: 'sign, decrypt, unwrap, block, unblock, modify, …' }),
  keyName: Type.String(),
  status: Type.String({ description: 'PENDING, APPROVED, EXECUTED, FAILED, EXPIRED, REJECTED or CANCELLED' }),
  executionTime: Type.Union([Type.String(), Type.Null()]),
  myDecision: Type.Union([Type.Literal('approved'), Type.Literal('rejected'), Type.Literal('open'), Type.Null()], { description: 'What this approver did (null: the task is gone)' }),
  approvedBy: Type.Array(Type.String()),
  notYetApprovedBy: Type.Array(Type.String()),
  rejectedBy: Type.Array(Type.String()),
});
const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const DeleteResponse = Type.Object({ referencedBy: Type.Array(Type.String(), { description: 'Keys whose policies name this approver: they keep its certificate and still accept its approvals' }) });

function service(s: Services): ApproverService {
  if (!s.approvers) throw new WardenError(611, 'Approver management is not available in this Warden');
  return s.approvers;
}

function createInput(body: Static<typeof CreateBody>) {
  const algorithm: ApproverAlgorithm = body.algorithm ?? 'RSA';
  let keySize: number | null = null;
  if (algorithm === 'RSA') {
    keySize = body.keySize ?? 2048;
    if (!(RSA_SIZES as readonly number[]).includes(keySize)) throw new WardenError(603, `keySize ${keySize} is not one of ${RSA_SIZES.join(', ')}`);
  } else if (body.keySize !== undefined && body.keySize !== null && body.keySize !== 256) {
    throw new WardenError(603, 'EC approvers use P-256: omit keySize');
  }
  return {
    approverName: body.approverName ?? '',
    algorithm,
    keySize,
    backupPassword: passwordOf(body.backupPassword) ?? '',
    validity: body.validity ?? 3650,
  };
}

export const approverManagementRoutes: RouteGroup = (services) => {
  const proof = new ApproverProofVerifier(services.config, () => services.workflow.clock());
  const create = (method: 'PUT' | 'POST', operationId: string): RouteDef => ({
    method, url: '/v1/approverManagement/create', roles: MANAGER, operationId, tags: TAGS,
    summary: `Create an approver: Warden makes its key pair and certificate, keeps a backup wrapped by the backup key and answers with a one-time code${method === 'POST' ? ' (POST alias of PUT)' : ''}`,
    body: CreateBody, response: { 200: OneTimeCode, ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof CreateBody>;
      req.auditLabel = body.approverName ?? null;
      return service(s).create(createInput(body));
    },
  });
  const renew = (url: string, operationId: string, deprecated: boolean): RouteDef => ({
    method: 'POST', url, roles: MANAGER, operationId, tags: TAGS, deprecated,
    summary: deprecated ? 'Older name of renewOneTimeCode' : 'A new one-time code for an approver whose onboarding is outstanding (the previous code stops working)',
    body: NameBody, response: { 200: OneTimeCode, ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof NameBody>;
      req.auditLabel = body.approverName ?? null;
      return service(s).renewOneTimeCode(body.approverName ?? '');
    },
  });
  const status = (method: 'GET' | 'POST', operationId: string): RouteDef => ({
    method, url: '/v1/approverManagement/onboarding/status', roles: MANAGER, operationId, tags: TAGS,
    summary: `Approvers onboarded and pending, with their certificates${method === 'POST' ? ' (POST alias)' : ''}`,
    response: { 200: StatusResponse, ...errorResponses },
    handler: async (_req, _reply, s) => service(s).status(),
  });
  return [
    create('PUT', 'createApprover'),
    create('POST', 'createApproverPost'),
    renew('/v1/approverManagement/renewOneTimeCode', 'renewOneTimeCode', false),
    renew('/v1/approverManagement/renewOnetimePassword', 'renewOnetimePassword', true),
    {
      method: 'POST', url: '/v1/approverManagement/restoreFromBackup', roles: MANAGER, operationId: 'restoreApproverFromBackup', tags: TAGS,
      summary: 'Restore an approver whose backup password is known: a new one-time code releases the same PKCS#12 again',
      body: RestoreBody, response: { 200: OneTimeCode, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof RestoreBody>;
        req.auditLabel = body.approverName ?? null;
        if (passwordOf(body.newBackupPassword) !== null) {
          throw new WardenError(600, 'newBackupPassword must be omitted when the password is known; use /v1/approverManagement/restoreFromBackup/forgotPassword');
        }
        return service(s).restore(body.approverName ?? '');
      },
    },
    {
      method: 'POST', url: '/v1/approverManagement/restoreFromBackup/forgotPassword', roles: MANAGER, operationId: 'restoreApproverForgotPassword', tags: TAGS,
      summary: 'Restore an approver under a new backup password: an unwrap request on the backup key (201); GET /v1/request/{id} gives the new one-time code once approved',
      body: ForgotBody, response: { 201: Type.Object({ unwrapRequestId: Type.String() }), ...errorResponses },
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof ForgotBody>;
        req.auditLabel = body.approverName ?? null;
        const unwrapRequestId = await service(s).forgotPassword(body.approverName ?? '', passwordOf(body.newBackupPassword));
        reply.code(201);
        return { unwrapRequestId };
      },
    },
    status('GET', 'approverOnboardingStatus'),
    status('POST', 'approverOnboardingStatusPost'),
    {
      method: 'DELETE', url: '/v1/approverManagement/delete/:approverName', roles: MANAGER, operationId: 'deleteApprover', tags: TAGS,
      summary: 'Delete an approver and its backup; keys whose policies name it keep its certificate (listed in referencedBy)',
      params: NameParams, response: { 200: DeleteResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const { approverName } = req.params as Static<typeof NameParams>;
        req.auditLabel = approverName;
        return service(s).delete(approverName);
      },
    },
    {
      // Warden extension for the approver console (docs/approvers.md): after deciding, an approver sees
      // where the request stands without the application's keyOperationToken. Only approvers named by the
      // request's tasks or approvals get an answer; the result never leaves here.
      method: 'POST', url: '/v1/filteredRequestStatusApprovalTask', roles: APPROVER, operationId: 'approverRequestStatus', tags: ['Approvals'],
      summary: 'Warden: the status of a request I hold (or held) a task for, with my approver proof of possession',
      body: RequestStatusBody, response: { 200: RequestStatusResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof RequestStatusBody>;
        const who = proof.verify(body);
        if (!UUID_RE.test(body.requestId)) throw new WardenError(609, `requestId '${body.requestId}' is not a UUID`);
        const id = body.requestId.toLowerCase();
        const notFound = () => new WardenError(651, `Request '${id}' does not exist or names no task of this approver`);
        const row = await s.workflow.requests.get(id);
        if (!row) throw notFound();
        const tasks = await s.workflow.tasks.ofRequest(id);
        const approved = (await s.workflow.approvals.ofRequest(id)).some((a) => a.approver === who.approver);
        const mine = tasks.find((t) => t.approver === who.approver);
        if (who.approver === null || (!mine && !approved)) throw notFound();
        const v = await s.workflow.view(row);
        return {
          requestId: v.id, type: v.type, keyName: v.keyName, status: v.status, executionTime: v.executionTime,
          myDecision: approved ? 'approved' : mine ? (mine.state as 'approved' | 'rejected' | 'open') : null,
          approvedBy: v.approvedBy, notYetApprovedBy: v.notYetApprovedBy, rejectedBy: v.rejectedBy,
        };
      },
    },
    {
      method: 'POST', url: '/v1/approver/onboard', roles: APPROVER, operationId: 'onboardApprover', tags: TAGS,
      summary: 'Onboard: the one-time code and a 16- or 32-byte transport password release the approver PKCS#12, AES-GCM encrypted',
      body: OnboardBody, response: { 200: OnboardResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof OnboardBody>;
        req.auditLabel = body.approverName ?? null;
        return service(s).onboard(body.approverName ?? '', passwordOf(body.oneTimeCode), passwordOf(body.transportPassword));
      },
    },
  ];
};
