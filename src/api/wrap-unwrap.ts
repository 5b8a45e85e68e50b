// Key wrapping endpoints (spec §4.6, §4.7; role keyOperationToken): POST /v1/wrap exports an extractable
// key wrapped by another key; POST /v1/synchronousUnwrap (201) imports a wrapped key as a new key.
import { Type, type Static } from '@sinclair/typebox';
import type { KeyFamily } from '../crypto/families/types.ts';
import { KEY_ALGORITHMS } from '../crypto/registry.ts';
import { WRAP_METHODS, wrapMethodFor, type WrapMethod } from '../crypto/wrapping/registry.ts';
import { checkWrappingKey, provisionalParams, unwrapKey, unwrappedFamily, wrapBytes, wrapOnToken, wrappableBytes } from '../crypto/wrapping/wrap.ts';
import { WardenError } from '../server/errors.ts';
import { policyForNewKey } from '../workflow/key-policy.ts';
import { PolicySchema } from '../workflow/policy.ts';
import { syncAuthorization } from '../workflow/signed-approvals.ts';
import { signedAttributes } from './key-view.ts';
import type { RouteGroup } from './route.ts';
import { Base64, LabelSchema, PasswordSchema, checkLabel, decodeB64, errorResponses, passwordOf, resolveAttributes, type AttributesRequest } from './wire.ts';

const ROLE = ['keyOperationToken'] as const;
const TAGS = ['Key operations'];

const KeyName = (description: string) => Type.String({ minLength: 1, maxLength: 1024, description });
const WrapMethodSchema = Type.Union(
  WRAP_METHODS.map((m) => Type.Literal(m.name, { description: m.description })),
  { description: 'Wrap method (spec §4.6, README decision 7). ML-KEM-512/768/1024 wrap symmetric keys by encapsulation (docs/algorithms.md).' },
);
const RequestSignature = Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()], { description: 'Accepted and ignored for synchronous calls' }));

const WrapBody = Type.Object(
  {
    wrapKeyRequest: Type.Object({
      keyToBeWrapped: KeyName('The key to export; it must be extractable (keys with a policy never are)'),
      keyToBeWrappedPassword: Type.Optional(PasswordSchema),
      wrapKeyName: KeyName('The wrapping key: AES (AES_WRAP*) or RSA, also a public-key import (RSA_WRAP_*); needs the wrap attribute'),
      wrapKeyPassword: Type.Optional(PasswordSchema),
      wrapMethod: WrapMethodSchema,
    }),
    requestSignature: RequestSignature,
  },
  { examples: [{ wrapKeyRequest: { keyToBeWrapped: 'my-ec-key', wrapKeyName: 'my-kek', wrapMethod: 'AES_WRAP_PAD_EC' } }] },
);

const WrapResponse = Type.Object({ wrappedKey: Type.String({ description: 'The wrapped key, Base64' }) });

const SymmetricAlgorithm = Type.Optional(
  Type.Union([Type.Union(KEY_ALGORITHMS.map((a) => Type.Literal(a))), Type.Null()], {
    description:
      'Warden extension: algorithm of the unwrapped key. Asymmetric methods imply it; for AES_WRAP, AES_WRAP_PAD and RSA_WRAP_* the default ' +
      'is AES (16, 24 or 32 bytes); name ChaCha20, Camellia, TDEA or HMACSHA256 for other secret keys.',
  }),
);

const UnwrapBody = Type.Object(
  {
    unwrapKeyRequest: Type.Object({
      wrappedKey: Base64({ description: 'Output of /v1/wrap (or any RFC 3394 / RFC 5649 / RSA wrapping of the key)' }),
      label: LabelSchema,
      attributes: Type.Ref('KeyAttributesRequest'),
      unwrapKeyName: KeyName('The unwrapping key (AES, or RSA private key); needs the unwrap attribute'),
      unwrapKeyPassword: Type.Optional(PasswordSchema),
      wrapMethod: WrapMethodSchema,
      algorithm: SymmetricAlgorithm,
      signedApprovals: Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 256 }), Type.Null()])),
      policy: Type.Optional(PolicySchema),
      metaData: Type.Optional(Type.Union([Type.String(), Type.Null()])),
      metaDataSignature: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    }),
    requestSignature: RequestSignature,
  },
  {
    examples: [{
      unwrapKeyRequest: {
        wrappedKey: 'base64…', label: 'unwrapped-ec-key', unwrapKeyName: 'my-kek', wrapMethod: 'AES_WRAP_PAD_EC',
        attributes: { decrypt: false, sign: true, unwrap: false, extractable: true }, policy: null,
      },
    }],
  },
);

/** Turns unwrapped bytes into key material of the family the method (or the caller) names. */
function importUnwrapped(method: WrapMethod, requested: string | null | undefined, bytes: Buffer): { family: KeyFamily; imported: ReturnType<KeyFamily['importMaterial']> } {
  try {
    const family = unwrappedFamily(method, bytes.length, requested);
    if (!family) throw new WardenError(600, `A ${bytes.length}-byte secret is not an AES key: name its algorithm in unwrapKeyRequest.algorithm`);
    return { family, imported: family.importMaterial(family.symmetric ? { secret: bytes } : { privateKey: bytes }) };
  } catch (e) {
    // RSA_WRAP_PAD has no integrity check of its own (implicit rejection): unusable bytes are a failed
    // unwrap, reported like every other one so the answer says nothing about the padding or the length.
    if (method.wrappingAlgorithm === 'RSA' && e instanceof WardenError) {
      throw new WardenError(410, 'Unwrapping failed: the unwrapped data is not a valid key (wrong key or method, or tampered data)', { cause: e });
    }
    throw e;
  }
}

export const wrapUnwrapRoutes: RouteGroup = () => [
  {
    method: 'POST', url: '/v1/wrap', roles: ROLE, operationId: 'wrapKey', tags: TAGS,
    summary: 'Wrap (export encrypted) an extractable key with an AES or RSA key',
    body: WrapBody, response: { 200: WrapResponse, ...errorResponses },
    handler: async (req, _reply, s) => {
      const r = (req.body as Static<typeof WrapBody>).wrapKeyRequest;
      req.auditLabel = r.keyToBeWrapped;
      const method = wrapMethodFor(r.wrapMethod);
      const wrapped = await s.keystore.use(r.wrapKeyName, passwordOf(r.wrapKeyPassword), 'wrap', (wrapping) => {
        checkWrappingKey(method, wrapping, 'wrap');
        return s.keystore.use(r.keyToBeWrapped, passwordOf(r.keyToBeWrappedPassword), 'extract', (target) =>
          // A key on the token is wrapped there (C_WrapKey); its bytes never reach Warden.
          target.material.token ? wrapOnToken(method, wrapping, target) : wrapBytes(method, wrapping, wrappableBytes(method, target)),
        );
      });
      return { wrappedKey: wrapped.toString('base64') };
    },
  },
  {
    method: 'POST', url: '/v1/synchronousUnwrap', roles: ROLE, operationId: 'synchronousUnwrap', tags: TAGS,
    summary: 'Unwrap a wrapped key into a new key (201, the attributes of the new key)',
    description:
      'Role: keyOperationToken. The new key reports the algorithm of the wrapped key and alwaysSensitive = neverExtractable = false. ' +
      'A wrapped secret key becomes an AES key unless unwrapKeyRequest.algorithm (Warden extension) names another symmetric algorithm.',
    body: UnwrapBody, response: { 201: Type.Ref('SignedKeyAttributes'), ...errorResponses },
    handler: async (req, reply, s) => {
      const r = (req.body as Static<typeof UnwrapBody>).unwrapKeyRequest;
      req.auditLabel = r.label;
      checkLabel(r.label);
      const method = wrapMethodFor(r.wrapMethod);
      const wrapped = decodeB64('wrappedKey', r.wrappedKey);
      unwrappedFamily(method, 16, r.algorithm); // a wrong `algorithm` is a request error (600), found before any key is used
      if (await s.keystore.peek(r.label)) throw new WardenError(608, `Key '${r.label}' already exists`);
      // Keys with a policy: the unwrapping key's ruleUse is checked by the keystore (signedApprovals, docs/workflow.md).
      const authorization = syncAuthorization('unwrap', wrapped, { wrapMethod: method.name, label: r.label }, r.signedApprovals);
      const unwrapped = await s.keystore.use(r.unwrapKeyName, passwordOf(r.unwrapKeyPassword), 'unwrap', (key) => unwrapKey(method, key, wrapped), { authorization });
      if (unwrapped.onToken) {
        // The token unwraps the secret straight into the new key's object: no bytes to import.
        const family = unwrappedFamily(method, 16, r.algorithm) as KeyFamily;
        const attributes = resolveAttributes(r.attributes as AttributesRequest, { generated: false, symmetric: true, algorithm: family.algorithm });
        const policy = await policyForNewKey({ policy: r.policy }, { symmetric: true, extractable: attributes.extractable }, s.approvers ?? null);
        const info = await s.keystore.create({
          label: r.label, family, params: provisionalParams(family), attributes, unwrap: unwrapped.onToken, password: null, creation: 'imported', policy,
        });
        reply.code(201);
        return signedAttributes(info, s);
      }
      const bytes = unwrapped.bytes;
      try {
        const { family, imported } = importUnwrapped(method, r.algorithm, bytes);
        const attributes = resolveAttributes(r.attributes as AttributesRequest, { generated: false, symmetric: family.symmetric, algorithm: family.algorithm });
        const policy = await policyForNewKey({ policy: r.policy }, { symmetric: family.symmetric, extractable: attributes.extractable }, s.approvers ?? null);
        const info = await s.keystore.create({
          label: r.label, family, params: imported.params, attributes, material: imported.material, password: null, creation: 'imported', policy,
        });
        reply.code(201);
        return signedAttributes(info, s);
      } finally {
        bytes.fill(0);
      }
    },
  },
];
