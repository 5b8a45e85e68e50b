// How a stored key is shown on the wire: the KeyAttributesDto `json` object of spec §2.4, and the
// SignedKeyAttributesDto wrapper (json + attestation xml + signature) returned by create/import/attributes.
import { Type, type Static } from '@sinclair/typebox';
import type { KeyInfo } from '../keystore/interface.ts';
import type { Services } from '../server/services.ts';
import { addressTruncatedOf } from '../crypto/addresses/index.ts';
import { derivedAttributesOf } from '../crypto/derivation/keys.ts';

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const KeyAttributesJsonSchema = Type.Object(
  {
    label: Type.String(),
    id: Type.Null({ description: 'PKCS#11 id; always null (Go clients require it)' }),
    uuid: Type.Null(),
    algorithm: Type.String({ examples: ['EC'] }),
    algorithmOid: Type.String({ examples: ['1.2.840.10045.2.1'] }),
    curveOid: Nullable(Type.String({ examples: ['1.2.840.10045.3.1.7'] })),
    derivedAttributes: Type.Union([
      Type.Object({
        derivationType: Type.String({ examples: ['SLIP-10'], description: 'BIP32, SLIP-10, ADA or ADA/SLIP-10 (spec §2.3 matrix)' }),
        derivationValue: Type.String({ description: 'Chain code, 64 upper-case hex characters' }),
      }),
      Type.Null(),
    ]),
    keySize: Type.Union([Type.Integer(), Type.Null()]),
    keyUsageCount: Type.Integer(),
    createTime: Type.String({ examples: ['2026-11-28T12:05:20Z'] }),
    attestTime: Type.String({ examples: ['2026-11-28T12:05:21Z'] }),
    publicKey: Nullable(Type.String({ description: 'Base64 DER SubjectPublicKeyInfo' })),
    addressTruncated: Type.Union([
      Type.Object({
        address: Type.String({ description: 'Address base without prefix or checksum, upper-case hex (spec §2.6)' }),
        format: Type.String({ examples: ['ETH'] }),
      }),
      Type.Null(),
    ]),
    remainingSignatures: Type.Optional(Type.Integer({ description: 'Warden extension, stateful keys (LMS, XMSS): one-time signatures left' })),
    attributes: Type.Object({
      decrypt: Type.Boolean(),
      sign: Type.Boolean(),
      ekaSign: Type.Null(),
      unwrap: Type.Boolean(),
      derive: Type.Boolean(),
      sensitive: Type.Boolean(),
      alwaysSensitive: Type.Boolean(),
      extractable: Type.Boolean(),
      neverExtractable: Type.Boolean(),
      modifiable: Type.Boolean(),
      copyable: Type.Boolean(),
      destroyable: Type.Boolean(),
    }),
    policy: Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()]),
  },
  { $id: 'KeyAttributes' },
);

export const SignedKeyAttributesSchema = Type.Object(
  {
    json: Type.Ref('KeyAttributes'),
    xml: Type.String({ description: 'Attestation XML of the key (docs/attestation.md)' }),
    xmlSignature: Type.String({ description: 'Base64 RSA PKCS#1 v1.5 SHA-256 signature of xml by the attestation key' }),
    attestationKeyName: Type.String({ examples: ['attestation-key'] }),
  },
  { $id: 'SignedKeyAttributes' },
);

export type KeyAttributesJson = Static<typeof KeyAttributesJsonSchema>;

export function keyJson(info: KeyInfo, attestTime: string): KeyAttributesJson {
  const a = info.attributes;
  return {
    label: info.label,
    id: null,
    uuid: null,
    algorithm: info.algorithm,
    algorithmOid: info.algorithmOid,
    curveOid: info.curveOid,
    derivedAttributes: derivedAttributesOf(info),
    keySize: info.keySize,
    keyUsageCount: info.useCount,
    createTime: info.createTime,
    attestTime,
    publicKey: info.publicKey ? info.publicKey.toString('base64') : null,
    addressTruncated: addressTruncatedOf(info),
    ...(info.remainingSignatures === undefined || info.remainingSignatures === null ? {} : { remainingSignatures: info.remainingSignatures }),
    attributes: {
      decrypt: a.decrypt,
      sign: a.sign,
      ekaSign: null,
      unwrap: a.unwrap,
      derive: a.derive,
      sensitive: a.sensitive,
      alwaysSensitive: a.alwaysSensitive,
      extractable: a.extractable,
      neverExtractable: a.neverExtractable,
      modifiable: a.modifiable,
      copyable: a.copyable,
      destroyable: a.destroyable,
    },
    policy: (info.policy as Record<string, unknown> | null) ?? null,
  };
}

/** The SignedKeyAttributesDto for a key: json view plus attestation XML signed by the attestation key. */
export async function signedAttributes(info: KeyInfo, services: Services) {
  const att = await services.attestation.attest(info);
  return { json: keyJson(info, att.attestTime), xml: att.xml, xmlSignature: att.signature, attestationKeyName: att.keyName };
}
