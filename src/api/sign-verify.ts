// Signing and verification (spec §4.1, §4.2; role keyOperationToken): POST /v1/synchronousSign and
// POST /v1/verify, the latter for signatures (verifySignatureRequest) and HMAC tags (verifyHmacRequest).
import { Type, type Static } from '@sinclair/typebox';
import type { OpenedKey } from '../keystore/interface.ts';
import { verifyHmacWith } from '../crypto/signatures/hmac.ts';
import { SIGNATURE_ALGORITHM_NAMES, signWith, signatureAlgorithm, verifyWith } from '../crypto/signatures/registry.ts';
import type { SignOptions, SignatureKey, SignatureType } from '../crypto/signatures/types.ts';
import { WardenError } from '../server/errors.ts';
import { syncAuthorization } from '../workflow/signed-approvals.ts';
import type { RouteGroup } from './route.ts';
import { Base64, PasswordSchema, decodeB64, errorResponses, passwordOf } from './wire.ts';

const ROLE = ['keyOperationToken'] as const;
const TAGS = ['Key operations'];

const Nullable = <T extends Parameters<typeof Type.Optional>[0]>(t: T) => Type.Optional(Type.Union([t, Type.Null()]));
const Enum = (values: readonly string[], description: string) => Type.Unsafe<string>({ type: 'string', enum: [...values], description });

/** The enum is the registry: names this build does not implement fail validation with 400/501. */
const SignatureAlgorithmSchema = Enum(SIGNATURE_ALGORITHM_NAMES, 'Signature algorithm (spec §4.1); the list is the algorithms this Warden implements');
const PAYLOAD_TYPES = ['UNSPECIFIED', 'ISO_20022', 'PDF', 'BTC', 'ETH', 'HEX', ''];
const SIGNATURE_TYPES = ['DER', 'RAW', 'ETH', ''];
const KeyName = Type.String({ minLength: 1, maxLength: 1024, description: 'Key label', examples: ['my-ec-key'] });
const OptB64 = (description: string) => Nullable(Base64({ description, maxLength: 4096 }));
const Payload = Base64({ description: 'Base64 data (for NONE* algorithms: the digest)', maxLength: 4 * 1024 * 1024 });
const RequestSignature = Nullable(Type.Object({}, { additionalProperties: true, description: 'Request signature (multi-authorization); accepted and not checked by this endpoint' }));

const SignRequest = Type.Object({
  payload: Payload,
  payloadType: Nullable(Enum(PAYLOAD_TYPES, 'Informational for approvers (default UNSPECIFIED)')),
  signKeyName: KeyName,
  signKeyObject: Nullable(Type.String({ maxLength: 65536, description: 'External key object (IKS); not supported by this Warden' })),
  keyPassword: Type.Optional(PasswordSchema),
  metaData: OptB64('Accepted for compatibility; meaningless for synchronous signing'),
  metaDataSignature: OptB64('Accepted for compatibility; meaningless for synchronous signing'),
  signatureAlgorithm: SignatureAlgorithmSchema,
  signatureType: Nullable(Enum(SIGNATURE_TYPES, 'DER (default): natural encoding; RAW: fixed-width r‖s for ECDSA/DSA; ETH: r‖s‖v, KECCAK256_WITH_ECDSA on secp256k1 only')),
  signedApprovals: Nullable(Type.Array(Type.String({ maxLength: 65536 }), { maxItems: 256 })),
  context: OptB64('ML-DSA / SLH-DSA context string; must be empty for the classic algorithms'),
  auxiliaryRandomData: OptB64('BIP-340 auxiliary randomness, 32 bytes (random when absent)'),
  taprootTweakData: OptB64('BIP-340 Schnorr: 32-byte tweak t, signs for Q = P + tG (exclusive with merkleRootData)'),
  merkleRootData: OptB64('BIP-340 Schnorr: 32-byte taproot script-tree root h, tweak = hash_TapTweak(x(P) ‖ h); empty = BIP-86 key-path-only'),
});

const SignBody = Type.Object(
  { signRequest: SignRequest, requestSignature: RequestSignature },
  { examples: [{ signRequest: { payload: 'SGVsbG8=', payloadType: 'UNSPECIFIED', signKeyName: 'my-ec-key', signatureAlgorithm: 'SHA256_WITH_ECDSA', signatureType: 'DER' } }] },
);

const VerifySignatureRequest = Type.Object({
  signKeyName: KeyName,
  signKeyObject: Nullable(Type.String({ maxLength: 65536 })),
  masterKeyPassword: Type.Optional(PasswordSchema),
  signatureAlgorithm: SignatureAlgorithmSchema,
  payload: Payload,
  signature: Base64({ description: 'Base64 signature: DER or raw r‖s for ECDSA/DSA, r‖s‖v for ETH (SLH-DSA-256f: 49856 bytes)', maxLength: 131072 }),
  taprootTweakData: OptB64('Warden extension for BIP-340 Schnorr: verify against the key tweaked as on signing'),
  merkleRootData: OptB64('Warden extension for BIP-340 Schnorr: verify against the key tweaked as on signing'),
  context: OptB64('Warden extension for ML-DSA / SLH-DSA: the context string the signature was made with'),
});

const VerifyHmacRequest = Type.Object({
  keyName: KeyName,
  keyPassword: Type.Optional(PasswordSchema),
  payload: Payload,
  signature: Base64({ description: 'Base64 HMAC tag (32 bytes)', maxLength: 4096 }),
});

const VerifyBody = Type.Object(
  { verifySignatureRequest: Type.Optional(VerifySignatureRequest), verifyHmacRequest: Type.Optional(VerifyHmacRequest), requestSignature: RequestSignature },
  {
    description: 'Exactly one of verifySignatureRequest and verifyHmacRequest',
    examples: [{ verifySignatureRequest: { signKeyName: 'my-ec-key', signatureAlgorithm: 'SHA256_WITH_ECDSA', payload: 'SGVsbG8=', signature: 'MEUCIQ…' } }],
  },
);

type B64Field = string | null | undefined;

/** A Base64 option that is absent when null or missing; '' is kept (an empty merkle root means BIP-86). */
function optionalBytes(field: string, value: B64Field): Buffer | undefined {
  return value === undefined || value === null ? undefined : decodeB64(field, value);
}

function signatureKey({ info, material }: OpenedKey): SignatureKey {
  return { algorithm: info.algorithm, curveOid: info.curveOid, keySize: info.keySize, material };
}

function refuseKeyObject(value: string | null | undefined): void {
  if (value) throw new WardenError(611, 'signKeyObject (external key store objects) is not supported by this Warden; name the key with signKeyName');
}

export const signVerifyRoutes: RouteGroup = () => [
  {
    method: 'POST', url: '/v1/synchronousSign', roles: ROLE, operationId: 'synchronousSign', tags: TAGS,
    summary: 'Sign a payload with a key (DER, RAW or ETH signature)',
    body: SignBody,
    response: { 200: Type.Object({ signature: Type.String({ description: 'Base64 signature', examples: ['MEUCIQ…'] }) }), ...errorResponses },
    handler: async (req, _reply, s) => {
      const r = (req.body as Static<typeof SignBody>).signRequest;
      req.auditLabel = r.signKeyName;
      refuseKeyObject(r.signKeyObject);
      const alg = signatureAlgorithm(r.signatureAlgorithm);
      const payload = decodeB64('signRequest.payload', r.payload);
      const opts: SignOptions = {
        signatureType: (r.signatureType || 'DER') as SignatureType,
        auxiliaryRandomData: optionalBytes('signRequest.auxiliaryRandomData', r.auxiliaryRandomData),
        taprootTweakData: optionalBytes('signRequest.taprootTweakData', r.taprootTweakData),
        merkleRootData: optionalBytes('signRequest.merkleRootData', r.merkleRootData),
      };
      if (alg.scheme !== 'SCHNORR' && (opts.auxiliaryRandomData || opts.taprootTweakData || opts.merkleRootData)) {
        throw new WardenError(600, 'auxiliaryRandomData, taprootTweakData and merkleRootData apply to NONE_WITH_EC_SCHNORR_BIP0340 only');
      }
      opts.context = optionalBytes('signRequest.context', r.context);
      if (opts.context?.length && !alg.context) {
        throw new WardenError(600, `context applies to ML-DSA / SLH-DSA only, not to ${alg.name}`);
      }
      // Keys with a policy: the keystore checks signedApprovals against the key's ruleUse (docs/workflow.md).
      const authorization = syncAuthorization('sign', payload, { signatureAlgorithm: alg.name, signatureType: opts.signatureType }, r.signedApprovals);
      // LMS/XMSS: the keystore reserves and seals the one-time index before the signature is computed.
      const signature = alg.stateful
        ? await s.keystore.useStateful(r.signKeyName, passwordOf(r.keyPassword), (key, stateIndex) => signWith(alg, signatureKey(key), payload, { ...opts, stateIndex }), { authorization })
        : await s.keystore.use(r.signKeyName, passwordOf(r.keyPassword), 'sign', (key) => signWith(alg, signatureKey(key), payload, opts), { authorization });
      return { signature: signature.toString('base64') };
    },
  },
  {
    method: 'POST', url: '/v1/verify', roles: ROLE, operationId: 'verify', tags: TAGS,
    summary: 'Verify a signature (verifySignatureRequest) or an HMAC tag (verifyHmacRequest)',
    description: 'Role: keyOperationToken. A wrong or malformed signature is 200 {"signatureValid": false}. Public-key and certificate imports can verify.',
    body: VerifyBody,
    response: { 200: Type.Object({ signatureValid: Type.Boolean() }), ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof VerifyBody>;
      const sig = body.verifySignatureRequest;
      const mac = body.verifyHmacRequest;
      if ((sig ? 1 : 0) + (mac ? 1 : 0) !== 1) throw new WardenError(600, 'Give exactly one of verifySignatureRequest and verifyHmacRequest');
      if (mac) {
        req.auditLabel = mac.keyName;
        const payload = decodeB64('verifyHmacRequest.payload', mac.payload);
        const tag = decodeB64('verifyHmacRequest.signature', mac.signature);
        const signatureValid = await s.keystore.use(mac.keyName, passwordOf(mac.keyPassword), 'verify', ({ info, material }) =>
          verifyHmacWith({ algorithm: info.algorithm, material }, mac.keyName, payload, tag),
        );
        return { signatureValid };
      }
      const v = sig as Static<typeof VerifySignatureRequest>;
      req.auditLabel = v.signKeyName;
      refuseKeyObject(v.signKeyObject);
      const alg = signatureAlgorithm(v.signatureAlgorithm);
      const payload = decodeB64('verifySignatureRequest.payload', v.payload);
      const signature = decodeB64('verifySignatureRequest.signature', v.signature);
      const opts = {
        taprootTweakData: optionalBytes('verifySignatureRequest.taprootTweakData', v.taprootTweakData),
        merkleRootData: optionalBytes('verifySignatureRequest.merkleRootData', v.merkleRootData),
        context: optionalBytes('verifySignatureRequest.context', v.context),
      };
      if (alg.scheme !== 'SCHNORR' && (opts.taprootTweakData || opts.merkleRootData)) {
        throw new WardenError(600, 'taprootTweakData and merkleRootData apply to NONE_WITH_EC_SCHNORR_BIP0340 only');
      }
      if (opts.context?.length && !alg.context) throw new WardenError(600, `context applies to ML-DSA / SLH-DSA only, not to ${alg.name}`);
      const signatureValid = await s.keystore.use(v.signKeyName, passwordOf(v.masterKeyPassword), 'verify', (key) =>
        verifyWith(alg, signatureKey(key), payload, signature, opts),
      );
      return { signatureValid };
    },
  },
];
