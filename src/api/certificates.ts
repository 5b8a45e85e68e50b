// Certificate endpoints (spec §4.12, §6.1; roles keyOperationToken or keyManagementToken, README
// decision 2): CSR (+ download), self-signed certificate (both paths), CA-signing a CSR, and
// import/get/delete of the certificate stored with a key.
import { Type, type Static } from '@sinclair/typebox';
import {
  EXTENDED_KEY_USAGES,
  KEY_USAGES,
  addDays,
  certificatePemOneLine,
  certificateParts,
  decodeCertificate,
  encodeName,
  issueCertificate,
  keyIdentifier,
  randomSerial,
  samePublicKey,
  splitEnumList,
  standardExtensions,
  wholeSeconds,
  type CertificateAttributes,
  type ExtendedKeyUsageName,
} from '../pki/certificates.ts';
import { buildCsr, csrPem, parseAndVerifyCsr } from '../pki/csr.ts';
import { CERT_SIGNATURE_ALGORITHMS, withSigner } from '../pki/signer.ts';
import type { KeyStore, UseOptions } from '../keystore/interface.ts';
import { WardenError } from '../server/errors.ts';
import type { RouteDef, RouteGroup } from './route.ts';
import { LabelSchema, PasswordSchema, errorResponses, passwordOf } from './wire.ts';

const ROLES = ['keyOperationToken', 'keyManagementToken'] as const;
const TAGS = ['Certificates'];

const OptText = (description: string, maxLength = 256) => Type.Optional(Type.Union([Type.String({ maxLength }), Type.Null()], { description }));
const SignatureAlgorithm = Type.Union(CERT_SIGNATURE_ALGORITHMS.map((a) => Type.Literal(a)), {
  description: 'KeytoolSignatureAlgorithm (spec §4.12); EDDSA for Ed25519 keys is a Warden extension',
});
const UsageList = (description: string) =>
  Type.Optional(Type.Union([Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64 }), Type.Null()], { description }));
const KeyUsageField = UsageList(`X.509 key usages: ${KEY_USAGES.join(', ')}. Comma-joined values in one element are split (Go client).`);
const ExtendedKeyUsageField = UsageList(`Extended key usages: ${Object.keys(EXTENDED_KEY_USAGES).join(', ')}. Comma-joined values are split.`);
const Validity = (description: string) => Type.Optional(Type.Union([Type.Integer({ minimum: 1, maximum: 36500 }), Type.Null()], { description }));

const Attributes = Type.Object(
  {
    commonName: OptText('CN (required for a CSR)', 64 * 4),
    country: OptText('C, two letters'),
    stateOrProvinceName: OptText('ST'),
    locality: OptText('L'),
    organizationName: OptText('O'),
    organizationUnitName: OptText('OU'),
    organizationIdentifier: OptText('organizationIdentifier (OID 2.5.4.97)'),
    email: OptText('emailAddress'),
    title: OptText('title'),
    surname: OptText('SN'),
    givenName: OptText('GN'),
    initials: OptText('initials'),
    pseudonym: OptText('pseudonym'),
    generationQualifier: OptText('generationQualifier'),
  },
  { description: 'CertificateAttributesDto: the subject of the certificate (request)' },
);

export const CsrBody = Type.Object(
  {
    signKeyName: LabelSchema,
    keyPassword: Type.Optional(PasswordSchema),
    signatureAlgorithm: SignatureAlgorithm,
    validity: Validity('Days of validity of the self-signed certificate attached to a key that has none (default 365)'),
    standardCertificateAttributes: Attributes,
    keyUsage: KeyUsageField,
    extendedKeyUsage: ExtendedKeyUsageField,
  },
  {
    examples: [{
      signKeyName: 'my-rsa-key', signatureAlgorithm: 'SHA256_WITH_RSA', validity: 365,
      standardCertificateAttributes: { commonName: 'example.com', country: 'CH', organizationName: 'Example' },
      keyUsage: ['DIGITAL_SIGNATURE'], extendedKeyUsage: ['SERVER_AUTH'],
    }],
  },
);

export const SelfSignBody = Type.Object(
  {
    signKeyName: LabelSchema,
    keyPassword: Type.Optional(PasswordSchema),
    signatureAlgorithm: SignatureAlgorithm,
    validity: Validity('Days of validity (default 365)'),
    commonName: OptText('CN of subject and issuer (or standardCertificateAttributes.commonName)', 256),
    standardCertificateAttributes: Type.Optional(Type.Union([Attributes, Type.Null()])),
    certificateAuthority: Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description: 'true → BasicConstraints CA:TRUE (critical)' })),
    keyUsage: KeyUsageField,
    extendedKeyUsage: ExtendedKeyUsageField,
  },
  {
    examples: [{
      signKeyName: 'my-ca-key', signatureAlgorithm: 'SHA256_WITH_ECDSA', validity: 3650, commonName: 'My CA',
      certificateAuthority: true, keyUsage: ['KEY_CERT_SIGN', 'CRL_SIGN'], extendedKeyUsage: [],
    }],
  },
);

export const SignBody = Type.Object(
  {
    signKeyName: LabelSchema,
    keyPassword: Type.Optional(PasswordSchema),
    signatureAlgorithm: SignatureAlgorithm,
    commonName: OptText('CN of the issued certificate (the CSR subject is not used)', 256),
    standardCertificateAttributes: Type.Optional(Type.Union([Attributes, Type.Null()])),
    certificateAuthority: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    certificateSigningRequest: Type.String({ minLength: 1, maxLength: 65536, description: 'PEM (or Base64 DER) PKCS#10 request' }),
    keyUsage: KeyUsageField,
    extendedKeyUsage: ExtendedKeyUsageField,
    validity: Validity('Days of validity (default 3650; the vendor DTO has no such field, fireblocks sends it)'),
  },
  {
    examples: [{
      signKeyName: 'my-ca-key', signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'leaf.example.com',
      certificateSigningRequest: '-----BEGIN CERTIFICATE REQUEST-----\n…\n-----END CERTIFICATE REQUEST-----\n',
      keyUsage: ['DIGITAL_SIGNATURE'], extendedKeyUsage: ['CLIENT_AUTH'], certificateAuthority: false,
    }],
  },
);

const ImportBody = Type.Object(
  {
    label: LabelSchema,
    certificate: Type.String({ minLength: 1, maxLength: 65536, description: 'Base64 DER X.509 certificate (PEM armor tolerated)' }),
  },
  { examples: [{ label: 'my-rsa-key', certificate: 'MIIC…' }] },
);

const KeyNameParams = Type.Object({ keyName: Type.String({ minLength: 1, maxLength: 1024 }) });

const CsrResponse = Type.Object({
  label: Type.String(),
  certificateSigningRequest: Type.String({ description: 'PEM, NEW CERTIFICATE REQUEST armor, 64 columns, trailing newline' }),
});
const CertificateResponse = Type.Object({
  label: Type.String(),
  certificate: Type.String({ description: 'PEM with the whole Base64 body on one line' }),
});
const StoredCertificateResponse = Type.Object({
  label: Type.String(),
  certificate: Type.String({ description: 'Base64 DER of the certificate stored with the key' }),
});

const EKU_NAMES = Object.keys(EXTENDED_KEY_USAGES) as ExtendedKeyUsageName[];

function usages(body: { keyUsage?: string[] | null; extendedKeyUsage?: string[] | null }) {
  return {
    keyUsage: splitEnumList('keyUsage', body.keyUsage, KEY_USAGES),
    extendedKeyUsage: splitEnumList('extendedKeyUsage', body.extendedKeyUsage, EKU_NAMES),
  };
}

/** commonName at the top level (Go, docs) or inside standardCertificateAttributes (fireblocks). */
function subjectOf(commonName: string | null | undefined, attrs: CertificateAttributes | null | undefined): Buffer {
  const cn = commonName && commonName.trim() !== '' ? commonName : attrs?.commonName;
  if (!cn || cn.trim() === '') throw new WardenError(600, 'commonName is required');
  return encodeName({ ...(attrs ?? {}), commonName: cn });
}

interface CsrResult {
  label: string;
  pem: string;
}

/** Creates the CSR (used by the synchronous routes and by approved /v1/certificate/request requests, whose `use` carries the approvals). */
export async function createCsr(body: Static<typeof CsrBody>, keystore: KeyStore, use: UseOptions = {}): Promise<CsrResult> {
  const attrs = body.standardCertificateAttributes as CertificateAttributes;
  if (!attrs.commonName || attrs.commonName.trim() === '') throw new WardenError(600, 'standardCertificateAttributes.commonName is required');
  const subject = encodeName(attrs);
  const { keyUsage, extendedKeyUsage } = usages(body);
  const label = body.signKeyName;
  const { csr, selfSigned } = await withSigner(keystore, label, passwordOf(body.keyPassword), body.signatureAlgorithm, async (signer) => {
    const spki = signer.info.publicKey as Buffer;
    const keyId = keyIdentifier(spki);
    const csrDer = await buildCsr({ subject, spki, extensions: standardExtensions({ keyUsage, extendedKeyUsage, subjectKeyId: keyId }) }, signer);
    // Spec §4.12.1 side effect: a key without a certificate gets a self-signed one (retrievable via GET).
    let cert: Buffer | null = null;
    if (!signer.info.certificate) {
      const now = wholeSeconds();
      cert = await issueCertificate({
        serial: randomSerial(), issuer: subject, subject, notBefore: now, notAfter: addDays(now, body.validity ?? 365), spki,
        extensions: standardExtensions({ keyUsage, extendedKeyUsage, subjectKeyId: keyId, authorityKeyId: keyId }),
      }, signer);
    }
    return { csr: csrDer, selfSigned: cert };
  }, use);
  if (selfSigned) await keystore.setCertificate(label, selfSigned);
  return { label, pem: csrPem(csr) };
}

/** Issues and stores a self-signed certificate for a key (synchronous route and approved /v1/certificate/selfsign requests). */
export async function selfSignCertificate(body: Static<typeof SelfSignBody>, keystore: KeyStore, use: UseOptions = {}): Promise<Buffer> {
  const subject = subjectOf(body.commonName, body.standardCertificateAttributes as CertificateAttributes | null | undefined);
  const { keyUsage, extendedKeyUsage } = usages(body);
  const certDer = await withSigner(keystore, body.signKeyName, passwordOf(body.keyPassword), body.signatureAlgorithm, async (signer) => {
    const spki = signer.info.publicKey as Buffer;
    const keyId = keyIdentifier(spki);
    const now = wholeSeconds();
    return issueCertificate({
      serial: randomSerial(), issuer: subject, subject, notBefore: now, notAfter: addDays(now, body.validity ?? 365), spki,
      extensions: standardExtensions({ ca: body.certificateAuthority, keyUsage, extendedKeyUsage, subjectKeyId: keyId, authorityKeyId: keyId }),
    }, signer);
  }, use);
  await keystore.setCertificate(body.signKeyName, certDer);
  return certDer;
}

/** Issues a certificate for a CSR with a CA key (synchronous route and approved /v1/certificate/sign requests). */
export async function signCertificateRequest(body: Static<typeof SignBody>, keystore: KeyStore, use: UseOptions = {}): Promise<Buffer> {
  const csr = parseAndVerifyCsr(body.certificateSigningRequest);
  const subject = subjectOf(body.commonName, body.standardCertificateAttributes as CertificateAttributes | null | undefined);
  const { keyUsage, extendedKeyUsage } = usages(body);
  return withSigner(keystore, body.signKeyName, passwordOf(body.keyPassword), body.signatureAlgorithm, async (signer) => {
    const caCert = signer.info.certificate;
    if (!caCert) {
      throw new WardenError(409, `CA key '${body.signKeyName}' has no certificate: create one with /v1/certificate/synchronous/selfsign or import one`);
    }
    const ca = certificateParts(caCert);
    if (!samePublicKey(ca.spki, signer.info.publicKey as Buffer)) {
      throw new WardenError(409, `The certificate stored with '${body.signKeyName}' does not certify its public key`);
    }
    const now = wholeSeconds();
    return issueCertificate({
      serial: randomSerial(), issuer: ca.subject, subject, notBefore: now, notAfter: addDays(now, body.validity ?? 3650), spki: csr.spki,
      extensions: standardExtensions({
        ca: body.certificateAuthority, keyUsage, extendedKeyUsage,
        subjectKeyId: keyIdentifier(csr.spki), authorityKeyId: ca.subjectKeyId ?? keyIdentifier(ca.spki),
      }),
    }, signer);
  }, use);
}

export const certificateRoutes: RouteGroup = () => {
  const selfSign = (url: string, operationId: string, deprecated: boolean): RouteDef => ({
    method: 'POST', url, roles: ROLES, operationId, tags: TAGS, deprecated,
    summary: deprecated
      ? 'Alias of /v1/certificate/synchronous/selfsign (path named in release notes 1.17.0)'
      : 'Create a self-signed certificate for a key and store it with the key',
    body: SelfSignBody, response: { 200: CertificateResponse, ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof SelfSignBody>;
      req.auditLabel = body.signKeyName;
      const certDer = await selfSignCertificate(body, s.keystore);
      return { label: body.signKeyName, certificate: certificatePemOneLine(certDer) };
    },
  });

  return [
    {
      method: 'POST', url: '/v1/certificate/synchronous/request', roles: ROLES, operationId: 'createCertificateSigningRequest', tags: TAGS,
      summary: 'Create a PKCS#10 certificate signing request for a key (and attach a self-signed certificate if it has none)',
      body: CsrBody, response: { 200: CsrResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof CsrBody>;
        req.auditLabel = body.signKeyName;
        const { label, pem } = await createCsr(body, s.keystore);
        return { label, certificateSigningRequest: pem };
      },
    },
    {
      method: 'POST', url: '/v1/certificate/synchronous/request/download', roles: ROLES, operationId: 'downloadCertificateSigningRequest', tags: TAGS,
      summary: 'Same as /v1/certificate/synchronous/request, answered as a CSR file download',
      body: CsrBody, produces: 'application/pkcs10',
      response: { 200: Type.String({ description: 'PEM CSR file (application/pkcs10)' }), ...errorResponses },
      handler: async (req, reply, s) => {
        const body = req.body as Static<typeof CsrBody>;
        req.auditLabel = body.signKeyName;
        const { label, pem } = await createCsr(body, s.keystore);
        const name = label.replace(/[^A-Za-z0-9._-]/g, '_');
        return reply
          .header('content-type', 'application/pkcs10')
          .header('content-disposition', `attachment; filename="${name}.csr"`)
          .send(Buffer.from(pem, 'ascii'));
      },
    },
    selfSign('/v1/certificate/synchronous/selfsign', 'createSelfSignedCertificate', false),
    selfSign('/v1/certificate/synchronous/create/selfSigned', 'createSelfSignedCertificateAlias', true),
    {
      method: 'POST', url: '/v1/certificate/synchronous/sign', roles: ROLES, operationId: 'signCertificate', tags: TAGS,
      summary: 'Issue a certificate for a CSR, signed by a CA key (issuer = subject of the CA key\'s certificate)',
      body: SignBody, response: { 200: CertificateResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof SignBody>;
        req.auditLabel = body.signKeyName;
        const certDer = await signCertificateRequest(body, s.keystore);
        return { label: body.signKeyName, certificate: certificatePemOneLine(certDer) };
      },
    },
    {
      method: 'POST', url: '/v1/certificate/import/plain', roles: ROLES, operationId: 'importCertificate', tags: TAGS,
      summary: 'Attach (or replace) the certificate of a key; it must certify the key\'s public key',
      description:
        'Roles: keyOperationToken or keyManagementToken. The Go client (v1.1.0) sends this body with a trailing comma, ' +
        'which is not JSON: such calls answer 400/621 (see docs/decisions.md).',
      body: ImportBody, response: { 200: StoredCertificateResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const body = req.body as Static<typeof ImportBody>;
        req.auditLabel = body.label;
        const certDer = decodeCertificate(body.certificate);
        const info = await s.keystore.peek(body.label);
        if (!info) throw new WardenError(650, `Key '${body.label}' does not exist`);
        if (info.system) throw new WardenError(614, `Key '${body.label}' is a system key of this Warden`);
        if (!info.publicKey) throw new WardenError(613, `Key '${body.label}' is a secret key and cannot have a certificate`);
        if (!samePublicKey(certificateParts(certDer).spki, info.publicKey)) {
          throw new WardenError(600, `The certificate does not certify the public key of '${body.label}'`);
        }
        await s.keystore.setCertificate(body.label, certDer);
        return { label: body.label, certificate: certDer.toString('base64') };
      },
    },
    {
      method: 'GET', url: '/v1/certificate/:keyName', roles: ROLES, operationId: 'getCertificate', tags: TAGS, audit: false,
      summary: 'The certificate stored with a key (Base64 DER); system keys included (e.g. the TSA certificate)',
      params: KeyNameParams, response: { 200: StoredCertificateResponse, ...errorResponses },
      handler: async (req, _reply, s) => {
        const { keyName } = req.params as Static<typeof KeyNameParams>;
        const info = await s.keystore.peek(keyName);
        if (!info) throw new WardenError(650, `Key '${keyName}' does not exist`);
        if (!info.certificate) throw new WardenError(622, `Key '${keyName}' has no certificate`);
        return { label: keyName, certificate: info.certificate.toString('base64') };
      },
    },
    {
      method: 'DELETE', url: '/v1/certificate/:keyName', roles: ROLES, operationId: 'deleteCertificate', tags: TAGS,
      summary: 'Remove the certificate stored with a key (the key itself stays)',
      params: KeyNameParams, response: { 200: Type.Object({}), ...errorResponses },
      handler: async (req, _reply, s) => {
        const { keyName } = req.params as Static<typeof KeyNameParams>;
        req.auditLabel = keyName;
        const info = await s.keystore.peek(keyName);
        if (!info) throw new WardenError(650, `Key '${keyName}' does not exist`);
        if (info.system) throw new WardenError(614, `Key '${keyName}' is a system key of this Warden`);
        await s.keystore.setCertificate(keyName, null);
        return {};
      },
    },
  ];
};
