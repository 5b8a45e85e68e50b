// Block, unblock and modify keys with a policy (spec multi-authorization §2.3, §3.1; api §3.14, §4.8):
// asynchronous requests (201 + id, authorised by ruleBlock/ruleUnblock/ruleModify through the workflow)
// and their synchronous variants with pre-collected signedApprovals.
import { Type, type Static } from '@sinclair/typebox';
import { canonical } from '../keystore/software/seal.ts';
import { TAG } from '../workflow/tlv.ts';
import { encodeRules, PolicyRulesSchema, validateRules } from '../workflow/policy.ts';
import { intake } from '../workflow/intake.ts';
import { RequestSignatureSchema, RequestSignatureVerifier } from '../workflow/request-signature.ts';
import { evidenceFromSignedApprovals } from '../workflow/signed-approvals.ts';
import type { RouteDef, RouteGroup } from './route.ts';
import { PasswordSchema, errorResponses, passwordOf } from './wire.ts';

const OPERATION_ROLE = ['keyOperationToken'] as const;
const MANAGEMENT_ROLE = ['keyManagementToken'] as const;
const TAGS = ['Multi-authorization'];

const KeyName = Type.String({ minLength: 1, maxLength: 1024, description: 'Label of a key with a policy' });
const OptB64 = (description: string) => Type.Optional(Type.Union([Type.String({ maxLength: 1024 * 1024 }), Type.Null()], { description }));
const MetaData = OptB64('Base64 data shown to approvers (typically JSON)');
const MetaDataSignature = OptB64('Base64 signature of the raw metaData by the application (stored and shown, not checked)');
const SignedApprovals = Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 1024 * 1024 }), { maxItems: 256 }), Type.Null()], {
  description: 'Pre-collected approvals: Base64 of {approvalToBeSigned, signature, approvalDigestAlgorithm, approverPublicKey|approverCertificate} (docs/workflow.md)',
}));
const Empty = Type.Object({}, { description: 'Empty object' });
const id = (name: string) => ({ 201: Type.Object({ [name]: Type.String({ format: 'uuid' }) }), ...errorResponses });

const BlockBody = Type.Object({
  blockRequest: Type.Object({ blockKeyName: KeyName, keyPassword: Type.Optional(PasswordSchema), metaData: MetaData, metaDataSignature: MetaDataSignature }),
  requestSignature: RequestSignatureSchema,
}, { examples: [{ blockRequest: { blockKeyName: 'my-ska-key', keyPassword: null, metaData: 'eyJhcHAiOiJkZW1vIn0=', metaDataSignature: null }, requestSignature: null }] });
const UnblockBody = Type.Object({
  unblockRequest: Type.Object({ unblockKeyName: KeyName, keyPassword: Type.Optional(PasswordSchema), metaData: MetaData, metaDataSignature: MetaDataSignature }),
  requestSignature: RequestSignatureSchema,
});
const ModifyBody = Type.Object({
  modifyRequest: Type.Object({
    modifyKeyName: KeyName, keyPassword: Type.Optional(PasswordSchema), metaData: MetaData, metaDataSignature: MetaDataSignature, policy: PolicyRulesSchema,
  }),
  requestSignature: RequestSignatureSchema,
});

const SyncBlockBody = Type.Object({
  blockRequest: Type.Object({ blockKeyName: KeyName, keyPassword: Type.Optional(PasswordSchema), signedApprovals: SignedApprovals }),
  requestSignature: RequestSignatureSchema,
});
const SyncUnblockBody = Type.Object({
  unblockRequest: Type.Object({ unblockKeyName: KeyName, keyPassword: Type.Optional(PasswordSchema), signedApprovals: SignedApprovals }),
  requestSignature: RequestSignatureSchema,
});
const SyncModifyBody = Type.Object({
  modifyRequest: Type.Object({ modifyKeyName: KeyName, keyPassword: Type.Optional(PasswordSchema), policy: PolicyRulesSchema, signedApprovals: SignedApprovals }),
  requestSignature: RequestSignatureSchema,
});

/** Parameters of synchronous block/unblock/modify, compared with a challenge's parameters element if it has one. */
const syncParameters = (params: Record<string, unknown>) => Buffer.from(canonical(params), 'utf8');

export const blockModifyRoutes: RouteGroup = (services) => {
  const verifier = new RequestSignatureVerifier(services.config);
  const routes: RouteDef[] = [
    {
      method: 'POST', url: '/v1/block', roles: OPERATION_ROLE, operationId: 'blockKey', tags: TAGS,
      summary: 'Request blocking a key with a policy (authorised by its ruleBlock)',
      body: BlockBody, response: id('blockKeyRequestId'),
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof BlockBody>;
        const r = body.blockRequest;
        req.auditLabel = r.blockKeyName;
        const blockKeyRequestId = await intake(s, verifier, {
          type: 'block', wrapper: 'blockRequest', body, label: r.blockKeyName, password: passwordOf(r.keyPassword),
          part: { tag: TAG.payload, value: Buffer.alloc(0) }, params: {}, metaData: r.metaData, metaDataSignature: r.metaDataSignature,
        });
        reply.code(201);
        return { blockKeyRequestId };
      },
    },
    {
      method: 'POST', url: '/v1/unblock', roles: OPERATION_ROLE, operationId: 'unblockKey', tags: TAGS,
      summary: 'Request unblocking a key with a policy (authorised by its ruleUnblock)',
      body: UnblockBody, response: id('unblockKeyRequestId'),
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof UnblockBody>;
        const r = body.unblockRequest;
        req.auditLabel = r.unblockKeyName;
        const unblockKeyRequestId = await intake(s, verifier, {
          type: 'unblock', wrapper: 'unblockRequest', body, label: r.unblockKeyName, password: passwordOf(r.keyPassword),
          part: { tag: TAG.payload, value: Buffer.alloc(0) }, params: {}, metaData: r.metaData, metaDataSignature: r.metaDataSignature,
        });
        reply.code(201);
        return { unblockKeyRequestId };
      },
    },
    {
      method: 'POST', url: '/v1/modify', roles: MANAGEMENT_ROLE, operationId: 'modifyKey', tags: TAGS,
      summary: 'Request replacing the four rules of a key policy (authorised by its current ruleModify)',
      body: ModifyBody, response: id('modifyKeyRequestId'),
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof ModifyBody>;
        const r = body.modifyRequest;
        req.auditLabel = r.modifyKeyName;
        const rules = await validateRules(r.policy, s.approvers ?? null);
        const modifyKeyRequestId = await intake(s, verifier, {
          type: 'modify', wrapper: 'modifyRequest', body, label: r.modifyKeyName, password: passwordOf(r.keyPassword),
          part: { tag: TAG.policy, value: encodeRules(rules) }, params: { policy: rules }, metaData: r.metaData, metaDataSignature: r.metaDataSignature,
        });
        reply.code(201);
        return { modifyKeyRequestId };
      },
    },
    {
      method: 'POST', url: '/v1/synchronousBlock', roles: OPERATION_ROLE, operationId: 'synchronousBlock', tags: TAGS,
      summary: 'Block a key with a policy now, with pre-collected approvals for its ruleBlock',
      body: SyncBlockBody, response: { 200: Empty, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof SyncBlockBody>;
        const r = body.blockRequest;
        req.auditLabel = r.blockKeyName;
        verifier.check(r, body.requestSignature);
        await s.keystore.changePolicy(r.blockKeyName, passwordOf(r.keyPassword), { kind: 'block' }, { parameters: syncParameters({}), evidence: evidenceFromSignedApprovals(r.signedApprovals) });
        return {};
      },
    },
    {
      method: 'POST', url: '/v1/synchronousUnblock', roles: OPERATION_ROLE, operationId: 'synchronousUnblock', tags: TAGS,
      summary: 'Unblock a key with a policy now, with pre-collected approvals for its ruleUnblock',
      body: SyncUnblockBody, response: { 200: Empty, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof SyncUnblockBody>;
        const r = body.unblockRequest;
        req.auditLabel = r.unblockKeyName;
        verifier.check(r, body.requestSignature);
        await s.keystore.changePolicy(r.unblockKeyName, passwordOf(r.keyPassword), { kind: 'unblock' }, { parameters: syncParameters({}), evidence: evidenceFromSignedApprovals(r.signedApprovals) });
        return {};
      },
    },
    {
      method: 'POST', url: '/v1/synchronousModify', roles: MANAGEMENT_ROLE, operationId: 'synchronousModify', tags: TAGS,
      summary: 'Replace the rules of a key policy now, with pre-collected approvals for its ruleModify',
      body: SyncModifyBody, response: { 200: Empty, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof SyncModifyBody>;
        const r = body.modifyRequest;
        req.auditLabel = r.modifyKeyName;
        verifier.check(r, body.requestSignature);
        const rules = await validateRules(r.policy, s.approvers ?? null);
        await s.keystore.changePolicy(r.modifyKeyName, passwordOf(r.keyPassword), { kind: 'modify', rules }, { parameters: syncParameters({ policy: rules }), evidence: evidenceFromSignedApprovals(r.signedApprovals) });
        return {};
      },
    },
  ];
  return routes;
};
