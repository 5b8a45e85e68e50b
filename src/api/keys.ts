// Key management endpoints (spec §3; role keyManagementToken): create, list, attributes, delete,
// plain export/import, password change and the key-attestation zip.
import { X509Certificate } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { KEY_ALGORITHMS, familyFor } from '../crypto/registry.ts';
import type { KeyFamily, KeyMaterial } from '../crypto/families/types.ts';
import type { KeyAttributes } from '../keystore/interface.ts';
import { WardenError } from '../server/errors.ts';
import { extensionForNewKey } from '../crypto/derivation/extension.ts';
import { PQC_OID_TO_ALGORITHM } from '../crypto/pqc/keys.ts';
import { policyForNewKey } from '../workflow/key-policy.ts';
import { PolicySchema } from '../workflow/policy.ts';
import { signedAttributes } from './key-view.ts';
import type { RouteDef, RouteGroup } from './route.ts';
import {
  LabelSchema,
  PasswordSchema,
  checkLabel,
  decodeB64,
  errorResponses,
  passwordOf,
  resolveAttributes,
  type AttributesRequest,
} from './wire.ts';

const ROLE = ['keyManagementToken'] as const;
const TAGS = ['Key management'];
const Signed = { 200: Type.Ref('SignedKeyAttributes'), ...errorResponses };
const Created = { 201: Type.Ref('SignedKeyAttributes'), ...errorResponses };
const Empty = Type.Object({}, { description: 'Empty object' });

const AlgorithmSchema = Type.Union(KEY_ALGORITHMS.map((a) => Type.Literal(a)), { description: 'Key algorithm (spec §2.1)' });
const AddressFormatSchema = Type.Union([Type.Object({ format: Type.String() }), Type.Null()]);

const CreateKeyBody = Type.Object(
  {
    label: LabelSchema,
    password: Type.Optional(PasswordSchema),
    id: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    algorithm: Type.Optional(AlgorithmSchema),
    algorithmOid: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
    curveOid: Type.Optional(Type.Union([Type.String({ maxLength: 512 }), Type.Null()])),
    keySize: Type.Optional(Type.Union([Type.Integer({ minimum: 0, maximum: 65536 }), Type.Null()])),
    addressFormat: Type.Optional(AddressFormatSchema),
    attributes: Type.Ref('KeyAttributesRequest'),
    policy: Type.Optional(PolicySchema),
  },
  {
    examples: [{ label: 'my-ec-key', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { decrypt: false, sign: true, unwrap: false, destroyable: true } }],
  },
);

const LabelPasswordBody = Type.Object(
  { label: LabelSchema, password: Type.Optional(PasswordSchema) },
  { examples: [{ label: 'my-ec-key' }] },
);
const KeyNameParams = Type.Object({ keyName: Type.String({ minLength: 1, maxLength: 1024 }) });

const ImportBody = Type.Object(
  {
    label: LabelSchema,
    algorithm: AlgorithmSchema,
    password: Type.Optional(PasswordSchema),
    privateKey: Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Null()], { description: 'Base64 DER PKCS#8 (PKCS#1 for RSA, SEC1 for EC also accepted); PEM armor tolerated' })),
    publicKey: Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Null()], { description: 'Base64 DER SubjectPublicKeyInfo' })),
    secretKey: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()], { description: 'Base64 raw secret key' })),
    certificate: Type.Optional(Type.Union([Type.String({ maxLength: 65536 }), Type.Null()], { description: 'Base64 DER X.509 certificate' })),
    addressFormat: Type.Optional(AddressFormatSchema),
    attributes: Type.Optional(Type.Union([Type.Ref('KeyAttributesRequest'), Type.Null()])),
    policy: Type.Optional(PolicySchema),
  },
  { examples: [{ label: 'imported-aes', algorithm: 'AES', secretKey: 'AAECAwQFBgcICQoLDA0ODw==', attributes: { decrypt: true, sign: false, unwrap: false, extractable: true, sensitive: false } }] },
);

const ExportResponse = Type.Object({
  privateKey: Type.Union([Type.String(), Type.Null()], { description: 'Base64 DER PKCS#8' }),
  publicKey: Type.Union([Type.String(), Type.Null()], { description: 'Base64 DER SubjectPublicKeyInfo' }),
  secretKey: Type.Union([Type.String(), Type.Null()], { description: 'Base64 raw secret' }),
});

const ChangePasswordBody = Type.Object(
  { label: LabelSchema, password: Type.Optional(PasswordSchema), newPassword: Type.Optional(PasswordSchema) },
  { examples: [{ label: 'my-ec-key', password: ['o', 'l', 'd'], newPassword: ['n', 'e', 'w'] }] },
);

const OID_TO_ALGORITHM: Record<string, string> = {
  '1.2.840.113549.1.1.1': 'RSA',
  '1.2.840.10045.2.1': 'EC',
  '1.3.101.112': 'ED',
  '1.2.840.10040.4.1': 'DSA',
  ...PQC_OID_TO_ALGORITHM,
};

function familyOfCreate(body: Static<typeof CreateKeyBody>): KeyFamily {
  if (body.algorithm) return familyFor(body.algorithm);
  if (body.algorithmOid && OID_TO_ALGORITHM[body.algorithmOid]) return familyFor(OID_TO_ALGORITHM[body.algorithmOid]);
  if (body.algorithmOid) throw new WardenError(501, `Unknown algorithmOid '${body.algorithmOid}'`);
  throw new WardenError(600, 'algorithm (or algorithmOid) is required');
}

/** Attributes of a public-key or certificate import: only the public-key usages apply. */
function publicAttributes(req: AttributesRequest | null | undefined): KeyAttributes {
  const b = (v: boolean | null | undefined, d: boolean) => (v === undefined || v === null ? d : v);
  return {
    encrypt: b(req?.encrypt, true), decrypt: false, verify: b(req?.verify, true), sign: false, wrap: b(req?.wrap, true), unwrap: false,
    derive: false, bip32: false, slip10: false, extractable: true, modifiable: b(req?.modifiable, true), destroyable: b(req?.destroyable, true),
    sensitive: false, copyable: b(req?.copyable, false), alwaysSensitive: false, neverExtractable: false,
  };
}

function parseCertificate(b64: string): { der: Buffer; spki: Buffer } {
  const der = decodeB64('certificate', b64, { allowPem: true, code: 626 });
  try {
    const cert = new X509Certificate(der);
    return { der: Buffer.from(cert.raw), spki: cert.publicKey.export({ type: 'spki', format: 'der' }) };
  } catch {
    throw new WardenError(626, 'certificate is not a DER-encoded X.509 certificate');
  }
}

export const keyRoutes: RouteGroup = () => {
  const routes: RouteDef[] = [
    {
      method: 'POST', url: '/v1/key', roles: ROLE, operationId: 'createKey', tags: TAGS,
      summary: 'Create a key in the keystore',
      body: CreateKeyBody, response: Created,
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof CreateKeyBody>;
        req.auditLabel = body.label;
        checkLabel(body.label);
        const family = familyOfCreate(body);
        const params = family.resolve({ keySize: body.keySize, curveOid: body.curveOid });
        const attributes = resolveAttributes(body.attributes as AttributesRequest, { generated: true, symmetric: family.symmetric, algorithm: family.algorithm });
        if (await s.keystore.peek(body.label)) throw new WardenError(608, `Key '${body.label}' already exists`);
        const policy = await policyForNewKey(body, { symmetric: family.symmetric, extractable: attributes.extractable }, s.approvers ?? null);
        // Issue 5: BIP-32/SLIP-10 masters get their chain code, SKA keys their address format.
        const { material, ext } = extensionForNewKey({ algorithm: family.algorithm, curveOid: params.curveOid, attributes, addressFormat: body.addressFormat });
        const info = await s.keystore.create({
          label: body.label, id: body.id ?? null, family, params, attributes, password: passwordOf(body.password), creation: 'generated', policy, material, ext,
        });
        reply.code(201);
        return signedAttributes(info, s);
      },
    },
    {
      method: 'GET', url: '/v1/key', roles: ROLE, operationId: 'listKeys', tags: TAGS,
      summary: 'List the labels of all keys',
      response: { 200: Type.Array(Type.String(), { examples: [['attestation-key', 'my-ec-key']] }), ...errorResponses },
      handler: async (_req, _reply, s) => s.keystore.list(),
    },
    {
      method: 'POST', url: '/v1/key/attributes', roles: ROLE, operationId: 'getKeyAttributes', tags: TAGS,
      summary: 'Read the attributes of a key (signed by the attestation key)',
      body: LabelPasswordBody, response: Signed,
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof LabelPasswordBody>;
        req.auditLabel = body.label;
        return signedAttributes(await s.keystore.describe(body.label, passwordOf(body.password)), s);
      },
    },
    {
      method: 'GET', url: '/v1/key/:keyName/attributes', roles: ROLE, operationId: 'getKeyAttributesByName', tags: TAGS, deprecated: true,
      summary: 'Read the attributes of a key without a password (deprecated: use POST /v1/key/attributes)',
      params: KeyNameParams, response: Signed,
      handler: async (req, _reply, s) => {
        const { keyName } = req.params as Static<typeof KeyNameParams>;
        req.auditLabel = keyName;
        return signedAttributes(await s.keystore.describe(keyName, null), s);
      },
    },
    {
      method: 'DELETE', url: '/v1/key/:keyName', roles: ROLE, operationId: 'deleteKeyByName', tags: TAGS,
      summary: 'Delete a key (it must be destroyable; keys with a password: use POST /v1/key/deleteKey)',
      params: KeyNameParams, response: { 200: Empty, ...errorResponses },
      handler: async (req, _reply, s) => {
        const { keyName } = req.params as Static<typeof KeyNameParams>;
        req.auditLabel = keyName;
        await s.keystore.delete(keyName, null);
        await s.workflow.cancelForKey(keyName);
        return {};
      },
    },
    {
      method: 'POST', url: '/v1/key/deleteKey', roles: ROLE, operationId: 'deleteKey', tags: TAGS,
      summary: 'Delete a key given its password (it must be destroyable)',
      body: LabelPasswordBody, response: { 200: Empty, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof LabelPasswordBody>;
        req.auditLabel = body.label;
        await s.keystore.delete(body.label, passwordOf(body.password));
        await s.workflow.cancelForKey(body.label);
        return {};
      },
    },
    {
      method: 'POST', url: '/v1/key/export/plain', roles: ROLE, operationId: 'exportPlainKey', tags: TAGS,
      summary: 'Export a key in plain (only extractable, non-sensitive keys without a policy)',
      body: LabelPasswordBody, response: { 200: ExportResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof LabelPasswordBody>;
        req.auditLabel = body.label;
        return exportView(await s.keystore.exportPlain(body.label, passwordOf(body.password)));
      },
    },
    {
      method: 'GET', url: '/v1/key/:keyName/export/plain', roles: ROLE, operationId: 'exportPlainKeyByName', tags: TAGS, deprecated: true,
      summary: 'Export a key without a password in plain (deprecated: use POST /v1/key/export/plain)',
      params: KeyNameParams, response: { 200: ExportResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const { keyName } = req.params as Static<typeof KeyNameParams>;
        req.auditLabel = keyName;
        return exportView(await s.keystore.exportPlain(keyName, null));
      },
    },
    {
      method: 'POST', url: '/v1/key/import/plain', roles: ROLE, operationId: 'importPlainKey', tags: TAGS,
      summary: 'Import a private, public or secret key, or a certificate, in plain',
      description: 'Role: keyManagementToken. Symmetric keys: secretKey only. Asymmetric: privateKey with publicKey or certificate (or alone), or a lone publicKey/certificate. A public key or certificate imported onto an existing public-only key replaces it (200).',
      body: ImportBody, response: { 200: Type.Ref('SignedKeyAttributes'), 201: Type.Ref('SignedKeyAttributes'), ...errorResponses },
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof ImportBody>;
        req.auditLabel = body.label;
        checkLabel(body.label);
        const family = familyFor(body.algorithm);
        const present = (v: string | null | undefined): v is string => typeof v === 'string' && v !== '';
        if (present(body.certificate) && present(body.publicKey)) throw new WardenError(600, 'certificate must be empty when publicKey is given');
        if (family.symmetric && (present(body.privateKey) || present(body.publicKey) || present(body.certificate))) {
          throw new WardenError(600, `${family.algorithm} keys are imported with secretKey only`);
        }
        if (!family.symmetric && present(body.secretKey)) throw new WardenError(600, `secretKey must be empty for ${family.algorithm} keys`);
        const cert = present(body.certificate) ? parseCertificate(body.certificate) : null;
        const input = {
          privateKey: present(body.privateKey) ? decodeB64('privateKey', body.privateKey, { allowPem: true, code: 625 }) : undefined,
          publicKey: present(body.publicKey) ? decodeB64('publicKey', body.publicKey, { allowPem: true, code: 625 }) : cert?.spki,
          secret: present(body.secretKey) ? decodeB64('secretKey', body.secretKey, { code: 625 }) : undefined,
        };
        const { material, params } = family.importMaterial(input);
        const publicOnly = !material.privateKey && !material.secret;
        const existing = await s.keystore.peek(body.label);
        if (existing) {
          if (!publicOnly || existing.keyClass !== 'public') throw new WardenError(608, `Key '${body.label}' already exists`);
          if (existing.algorithm !== family.reportedAlgorithm) throw new WardenError(613, `Key '${body.label}' is a ${existing.algorithm} key`);
          const info = await s.keystore.replacePublic(body.label, material, cert?.der ?? null);
          reply.code(200);
          return signedAttributes(info, s);
        }
        let attributes: KeyAttributes;
        if (publicOnly) attributes = publicAttributes(body.attributes as AttributesRequest | null | undefined);
        else {
          if (!body.attributes) throw new WardenError(600, 'attributes is required when importing a private or secret key');
          attributes = resolveAttributes(body.attributes as AttributesRequest, { generated: false, symmetric: family.symmetric, algorithm: family.algorithm });
        }
        const policy = await policyForNewKey(body, { symmetric: family.symmetric, extractable: attributes.extractable, publicOnly }, s.approvers ?? null);
        const { ext } = extensionForNewKey({ algorithm: family.algorithm, curveOid: params.curveOid, attributes, addressFormat: body.addressFormat, material });
        const info = await s.keystore.create({
          label: body.label, family, params, attributes, material, certificate: cert?.der ?? null,
          password: publicOnly ? null : passwordOf(body.password), creation: 'imported', policy, ext,
        });
        reply.code(201);
        return signedAttributes(info, s);
      },
    },
    {
      method: 'POST', url: '/v1/key/changePassword', roles: ROLE, operationId: 'changeKeyPassword', tags: TAGS,
      summary: 'Change (or set, or with an empty newPassword remove) the password of a modifiable key',
      body: ChangePasswordBody, response: { 200: Empty, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof ChangePasswordBody>;
        req.auditLabel = body.label;
        await s.keystore.changePassword(body.label, passwordOf(body.password), passwordOf(body.newPassword));
        return {};
      },
    },
    {
      method: 'POST', url: '/v1/key/keyAttestation', roles: ROLE, operationId: 'downloadKeyAttestation', tags: TAGS,
      summary: 'Download the attestation of a key as a zip (xml, signature, attestation public key and certificate)',
      body: LabelPasswordBody,
      // Content type per status: only the 200 is a zip; errors stay application/json (a route-wide
      // `produces` would document the error bodies as zips too).
      response: {
        200: Type.Unsafe<Buffer>({
          description: 'The attestation zip: <label>.xml, <label>.sig, <label>.pem, Warden_Attestation.crt, README (docs/attestation.md)',
          content: { 'application/zip': { schema: { type: 'string', format: 'binary' } } },
        }),
        ...errorResponses,
      },
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof LabelPasswordBody>;
        req.auditLabel = body.label;
        const info = await s.keystore.describe(body.label, passwordOf(body.password));
        const zip = await s.attestation.zip(info);
        const name = body.label.replace(/[^A-Za-z0-9._-]/g, '_');
        return reply
          .header('content-type', 'application/zip')
          .header('content-disposition', `attachment; filename="${name}_attestation.zip"`)
          .send(zip);
      },
    },
  ];
  return routes;
};

function exportView(m: KeyMaterial) {
  return {
    privateKey: m.privateKey ? m.privateKey.toString('base64') : null,
    publicKey: m.publicKey ? m.publicKey.toString('base64') : null,
    secretKey: m.secret ? m.secret.toString('base64') : null,
  };
}
