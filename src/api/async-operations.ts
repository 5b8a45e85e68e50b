// Asynchronous key operations (spec multi-authorization §3.1, api §4.13; role keyOperationToken):
// POST /v1/sign, /v1/decrypt and /v1/unwrap create a request (201 + id) that executes once the key's
// ruleUse is satisfied — at once for plain keys and empty or always-satisfiable rules.
import { Type, type Static } from '@sinclair/typebox';
import { CIPHERS, cipherFor } from '../crypto/ciphers/registry.ts';
import { SIGNATURE_ALGORITHM_NAMES, signatureAlgorithm } from '../crypto/signatures/registry.ts';
import { WRAP_METHODS, wrapMethodFor } from '../crypto/wrapping/registry.ts';
import { familyFor } from '../crypto/registry.ts';
import { parseAndVerifyCsr } from '../pki/csr.ts';
import { canonical } from '../keystore/software/seal.ts';
import { WardenError } from '../server/errors.ts';
import type { RequestType } from '../workflow/challenge.ts';
import { intake } from '../workflow/intake.ts';
import { policyForNewKey } from '../workflow/key-policy.ts';
import { PolicySchema } from '../workflow/policy.ts';
import { RequestSignatureSchema, RequestSignatureVerifier } from '../workflow/request-signature.ts';
import { TAG } from '../workflow/tlv.ts';
import { CsrBody, SelfSignBody, SignBody as CertificateSignBody } from './certificates.ts';
import type { RouteDef, RouteGroup } from './route.ts';
import { Base64, LabelSchema, PasswordSchema, checkLabel, decodeB64, errorResponses, passwordOf, resolveAttributes, type AttributesRequest } from './wire.ts';

const ROLE = ['keyOperationToken'] as const;
const TAGS = ['Multi-authorization'];

const Nullable = <T extends Parameters<typeof Type.Optional>[0]>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const Enum = (values: readonly string[], description: string) => Type.Unsafe<string>({ type: 'string', enum: [...values], description });
const KeyName = (description: string) => Type.String({ minLength: 1, maxLength: 1024, description });
const OptB64 = (description: string) => Nullable(Base64({ description, maxLength: 1024 * 1024 }));
const MetaData = OptB64('Base64 data shown to approvers (typically JSON)');
const MetaDataSignature = OptB64('Base64 signature of the raw metaData by the application (stored and shown, not checked)');
const id = (name: string) => ({ 201: Type.Object({ [name]: Type.String({ format: 'uuid' }) }), ...errorResponses });

/** A challenge element holds at most 65535 bytes and the timestamp wraps the payload once more. */
const MAX_CHALLENGE_PAYLOAD = 65000;

const SignBody = Type.Object({
  signRequest: Type.Object({
    payload: Base64({ description: 'Data to sign, Base64 (at most 65000 bytes: hash larger data and use a NONE* algorithm)', maxLength: 1024 * 1024 }),
    payloadType: Nullable(Enum(['UNSPECIFIED', 'ISO_20022', 'PDF', 'BTC', 'ETH', 'HEX', ''], 'Informational for approvers')),
    signKeyName: KeyName('Label of the signing key'),
    keyPassword: Type.Optional(PasswordSchema),
    signatureAlgorithm: Enum(SIGNATURE_ALGORITHM_NAMES, 'Signature algorithm (spec §4.1)'),
    signatureType: Nullable(Enum(['DER', 'RAW', 'ETH', ''], 'DER (default), RAW or ETH')),
    metaData: MetaData,
    metaDataSignature: MetaDataSignature,
    context: OptB64('ML-DSA / SLH-DSA context; must be empty for the classic algorithms'),
    auxiliaryRandomData: OptB64('BIP-340 auxiliary randomness (32 bytes)'),
    taprootTweakData: OptB64('BIP-340 tweak (32 bytes)'),
    merkleRootData: OptB64('BIP-340 taproot merkle root'),
  }),
  requestSignature: RequestSignatureSchema,
}, {
  examples: [{ signRequest: { payload: 'QXBwcm92ZVNpZ25UYXNrUGF5bG9hZA==', payloadType: 'UNSPECIFIED', signKeyName: 'my-ska-key', signatureAlgorithm: 'SHA256_WITH_ECDSA', metaData: 'eyJhcHAiOiJkZW1vIn0=' }, requestSignature: null }],
});

const DecryptBody = Type.Object({
  decryptRequest: Type.Object({
    encryptedPayload: Base64({ description: 'Ciphertext, Base64', maxLength: 1024 * 1024 }),
    decryptKeyName: KeyName('Label of the decryption key'),
    keyPassword: Type.Optional(PasswordSchema),
    cipherAlgorithm: Type.Union(CIPHERS.map((c) => Type.Literal(c.name)), { description: 'Cipher (spec §4.4)' }),
    initializationVector: OptB64('IV / nonce'),
    additionalAuthenticationData: OptB64('AAD for AEAD ciphers'),
    tagLength: Nullable(Type.Integer({ minimum: -2147483648, maximum: 2147483647 })),
    metaData: MetaData,
    metaDataSignature: MetaDataSignature,
  }),
  requestSignature: RequestSignatureSchema,
});

const UnwrapBody = Type.Object({
  unwrapKeyRequest: Type.Object({
    wrappedKey: Base64({ description: 'The wrapped key, Base64', maxLength: 1024 * 1024 }),
    label: LabelSchema,
    attributes: Type.Ref('KeyAttributesRequest'),
    unwrapKeyName: KeyName('Label of the unwrapping key'),
    unwrapKeyPassword: Type.Optional(PasswordSchema),
    keyPassword: Type.Optional(PasswordSchema),
    wrapMethod: Type.Union(WRAP_METHODS.map((m) => Type.Literal(m.name)), { description: 'Wrap method (spec §4.6)' }),
    algorithm: Nullable(Type.String({ maxLength: 32, description: 'Warden extension: algorithm of an unwrapped secret key (default AES)' })),
    policy: Type.Optional(PolicySchema),
    metaData: MetaData,
    metaDataSignature: MetaDataSignature,
  }),
  requestSignature: RequestSignatureSchema,
});

const CERTIFICATE_ROLES = ['keyOperationToken', 'keyManagementToken'] as const;
const Meta = Type.Object({ metaData: MetaData, metaDataSignature: MetaDataSignature });

const CsrRequestBody = Type.Object({ csrSignRequest: Type.Composite([CsrBody, Meta]), requestSignature: RequestSignatureSchema });
const SelfSignRequestBody = Type.Object({ selfSignCertificateRequest: Type.Composite([SelfSignBody, Meta]), requestSignature: RequestSignatureSchema });
const CertificateSignRequestBody = Type.Object({ signCertificateRequest: Type.Composite([CertificateSignBody, Meta]), requestSignature: RequestSignatureSchema });

function optional(field: string, v: string | null | undefined): string | undefined {
  if (v === undefined || v === null) return undefined;
  decodeB64(field, v);
  return v;
}

function boundPayload(field: string, b64: string): Buffer {
  const bytes = decodeB64(field, b64);
  if (bytes.length > MAX_CHALLENGE_PAYLOAD) {
    throw new WardenError(612, `${field} is ${bytes.length} bytes; approval challenges carry at most ${MAX_CHALLENGE_PAYLOAD} (hash it and use a NONE* algorithm)`);
  }
  return bytes;
}

export const asyncOperationRoutes: RouteGroup = (services) => {
  const verifier = new RequestSignatureVerifier(services.config);
  const routes: RouteDef[] = [
    {
      method: 'POST', url: '/v1/sign', roles: ROLE, operationId: 'sign', tags: TAGS,
      summary: 'Request a signature (multi-authorization): 201 with signRequestId; the result comes from GET /v1/request/{id}',
      body: SignBody, response: id('signRequestId'),
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof SignBody>;
        const r = body.signRequest;
        req.auditLabel = r.signKeyName;
        const alg = signatureAlgorithm(r.signatureAlgorithm);
        if (r.context && decodeB64('signRequest.context', r.context).length > 0 && !alg.context) {
          throw new WardenError(600, `context applies to ML-DSA / SLH-DSA only, not to ${alg.name}`);
        }
        const params = {
          signatureAlgorithm: alg.name,
          signatureType: r.signatureType || 'DER',
          auxiliaryRandomData: optional('signRequest.auxiliaryRandomData', r.auxiliaryRandomData),
          taprootTweakData: optional('signRequest.taprootTweakData', r.taprootTweakData),
          merkleRootData: optional('signRequest.merkleRootData', r.merkleRootData),
          // ML-DSA / SLH-DSA context (issue 5); absent for every other algorithm.
          ...(alg.context && r.context ? { context: optional('signRequest.context', r.context) } : {}),
        };
        if (alg.scheme !== 'SCHNORR' && (params.auxiliaryRandomData || params.taprootTweakData || params.merkleRootData)) {
          throw new WardenError(600, 'auxiliaryRandomData, taprootTweakData and merkleRootData apply to NONE_WITH_EC_SCHNORR_BIP0340 only');
        }
        const signRequestId = await intake(s, verifier, {
          type: 'sign', wrapper: 'signRequest', body, label: r.signKeyName, password: passwordOf(r.keyPassword),
          part: { tag: TAG.payload, value: boundPayload('signRequest.payload', r.payload) }, params,
          payloadType: r.payloadType || 'UNSPECIFIED', metaData: r.metaData, metaDataSignature: r.metaDataSignature,
        });
        reply.code(201);
        return { signRequestId };
      },
    },
    {
      method: 'POST', url: '/v1/decrypt', roles: ROLE, operationId: 'decrypt', tags: TAGS,
      summary: 'Request a decryption (multi-authorization): 201 with decryptRequestId; the plaintext comes from GET /v1/request/{id}',
      body: DecryptBody, response: id('decryptRequestId'),
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof DecryptBody>;
        const r = body.decryptRequest;
        req.auditLabel = r.decryptKeyName;
        const params = {
          cipherAlgorithm: cipherFor(r.cipherAlgorithm).name,
          initializationVector: optional('decryptRequest.initializationVector', r.initializationVector),
          additionalAuthenticationData: optional('decryptRequest.additionalAuthenticationData', r.additionalAuthenticationData),
          tagLength: r.tagLength ?? undefined,
        };
        const decryptRequestId = await intake(s, verifier, {
          type: 'decrypt', wrapper: 'decryptRequest', body, label: r.decryptKeyName, password: passwordOf(r.keyPassword),
          part: { tag: TAG.payload, value: boundPayload('decryptRequest.encryptedPayload', r.encryptedPayload) }, params,
          metaData: r.metaData, metaDataSignature: r.metaDataSignature,
        });
        reply.code(201);
        return { decryptRequestId };
      },
    },
    {
      method: 'POST', url: '/v1/unwrap', roles: ROLE, operationId: 'unwrap', tags: TAGS,
      summary: 'Request unwrapping a key into a new key (multi-authorization): 201 with unwrapRequestId',
      body: UnwrapBody, response: id('unwrapRequestId'),
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof UnwrapBody>;
        const r = body.unwrapKeyRequest;
        req.auditLabel = r.unwrapKeyName;
        checkLabel(r.label);
        const method = wrapMethodFor(r.wrapMethod);
        if (await s.keystore.peek(r.label)) throw new WardenError(608, `Key '${r.label}' already exists`);
        // The new key's family is known up front for asymmetric methods: check attributes and policy now.
        const family = method.target === 'secret' ? familyFor(r.algorithm || 'AES') : familyFor(method.target);
        const attrs = resolveAttributes(r.attributes as AttributesRequest, { generated: false, symmetric: family.symmetric, algorithm: family.algorithm });
        const policy = await policyForNewKey({ policy: r.policy }, { symmetric: family.symmetric, extractable: attrs.extractable }, s.approvers ?? null);
        const params = { wrapMethod: method.name, label: r.label, attributes: r.attributes, algorithm: r.algorithm ?? undefined, policy: policy ?? undefined };
        const unwrapRequestId = await intake(s, verifier, {
          type: 'unwrap', wrapper: 'unwrapKeyRequest', body, label: r.unwrapKeyName, password: passwordOf(r.unwrapKeyPassword ?? r.keyPassword),
          part: { tag: TAG.payload, value: boundPayload('unwrapKeyRequest.wrappedKey', r.wrappedKey) }, params,
          metaData: r.metaData, metaDataSignature: r.metaDataSignature,
        });
        reply.code(201);
        return { unwrapRequestId };
      },
    },
    certificateRoute('/v1/certificate/request', 'csrsign', 'csrSignRequest', CsrRequestBody, 'certificateSigningRequestAsync',
      'Request a CSR for a key with a policy: 201 with signRequestId; the result is the PEM CSR'),
    certificateRoute('/v1/certificate/selfsign', 'selfsign', 'selfSignCertificateRequest', SelfSignRequestBody, 'selfSignCertificateAsync',
      'Request a self-signed certificate for a key with a policy: 201 with signRequestId; the result is "true" and the certificate is stored with the key'),
    certificateRoute('/v1/certificate/sign', 'crtsign', 'signCertificateRequest', CertificateSignRequestBody, 'signCertificateAsync',
      'Request a CA signature on a CSR with a key with a policy: 201 with signRequestId; the result is the PEM certificate'),
  ];
  return routes;

  function certificateRoute(url: string, type: RequestType, wrapper: string, body: typeof CsrRequestBody | typeof SelfSignRequestBody | typeof CertificateSignRequestBody, operationId: string, summary: string): RouteDef {
    return {
      method: 'POST', url, roles: CERTIFICATE_ROLES, operationId, tags: TAGS, summary, body, response: id('signRequestId'),
      handler: async (req, reply, s) => {
        const full = req.body as Record<string, Record<string, unknown>>;
        const inner = full[wrapper];
        const label = String(inner.signKeyName);
        req.auditLabel = label;
        if (type === 'crtsign') parseAndVerifyCsr(String(inner.certificateSigningRequest));
        // What approvers approve and what executes: the request without password and metaData.
        const request = Object.fromEntries(Object.entries(inner).filter(([k]) => !['keyPassword', 'metaData', 'metaDataSignature'].includes(k)));
        const signRequestId = await intake(s, verifier, {
          type, wrapper, body: full, label, password: passwordOf(inner.keyPassword as Parameters<typeof passwordOf>[0]),
          part: { tag: TAG.payload, value: Buffer.from(canonical(request), 'utf8') }, params: { request },
          metaData: inner.metaData as string | null | undefined, metaDataSignature: inner.metaDataSignature as string | null | undefined,
        });
        reply.code(201);
        return { signRequestId };
      },
    };
  }
};
