// Attestation endpoints (spec §3.12, README decision 6; role keyManagementToken): the attestation
// certificate chain and the key-attestation object of one key.
import { Type, type Static } from '@sinclair/typebox';
import type { RouteGroup } from './route.ts';
import { LabelSchema, PasswordSchema, errorResponses, passwordOf } from './wire.ts';

const ROLE = ['keyManagementToken'] as const;
const TAGS = ['Attestation'];

const KeyAttestation = Type.Object({
  attestationKeyName: Type.String(),
  signingKeyAttestationXml: Type.String({ description: 'Attestation XML of the key' }),
  signingKeyPublicKey: Type.Union([Type.String({ description: 'PEM public key of the attested key' }), Type.Null()]),
  signingKeyAttestationCertificate: Type.Array(Type.String(), { description: 'PEM certificate chain of the attestation key' }),
  signingKeyAttestationSignatureBase64: Type.String({ description: 'RSA PKCS#1 v1.5 SHA-256 signature of the XML' }),
});
const Body = Type.Object({ label: LabelSchema, password: Type.Optional(PasswordSchema) }, { examples: [{ label: 'my-ec-key' }] });

/**
 * PEM armour of the stored SPKI (RFC 7468 §13), without parsing it: Node 20's OpenSSL cannot load every
 * family Warden keeps (ML-DSA, SLH-DSA, ML-KEM, LMS, XMSS, BLS), and parsing one made this a 500.
 */
function spkiPem(der: Buffer): string {
  return `-----BEGIN PUBLIC KEY-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END PUBLIC KEY-----\n`;
}

export const attestationRoutes: RouteGroup = () => [
  {
    method: 'GET', url: '/v1/attestation/certificate', roles: ROLE, operationId: 'getAttestationCertificate', tags: TAGS, audit: false,
    summary: 'The certificate chain of the attestation key (Base64 DER, leaf first)',
    response: { 200: Type.Object({ attestationCertificateChain: Type.Array(Type.String()) }), ...errorResponses },
    handler: async (_req, _reply, s) => ({ attestationCertificateChain: s.attestation.certificateChain().map((c) => c.toString('base64')) }),
  },
  {
    method: 'POST', url: '/v1/attestation/key', roles: ROLE, operationId: 'getKeyAttestation', tags: TAGS,
    summary: 'Attest one key: XML, signature and the attestation certificate',
    body: Body, response: { 200: KeyAttestation, ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof Body>;
      req.auditLabel = body.label;
      const info = await s.keystore.describe(body.label, passwordOf(body.password));
      const att = await s.attestation.attest(info);
      return {
        attestationKeyName: att.keyName,
        signingKeyAttestationXml: att.xml,
        signingKeyPublicKey: info.publicKey
          ? spkiPem(info.publicKey)
          : null,
        signingKeyAttestationCertificate: [s.attestation.certificatePem()],
        signingKeyAttestationSignatureBase64: att.signature,
      };
    },
  },
];
