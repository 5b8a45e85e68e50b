// RFC 3161 time-stamp tokens (spec §4.10): a CMS SignedData (RFC 5652) over a TSTInfo, signed by the
// `hsm.rfcTimestampKeyName` key with an ESS signing-certificate-v2 attribute (RFC 5035), plus the
// first-start bootstrap of that key (EC P-256, self-signed TSA certificate with the critical
// timeStamping EKU). An ordinary key imported under that name (with a certificate) is used instead.
import { X509Certificate as NodeX509, createHash } from 'node:crypto';
import { ec } from '../crypto/families/ec.ts';
import type { KeyStore } from '../keystore/interface.ts';
import { WardenError } from '../server/errors.ts';
import {
  EXTENDED_KEY_USAGES,
  addDays,
  certificateParts,
  children,
  content,
  decodeOid,
  der,
  encodeName,
  extendedKeyUsageExtension,
  issueCertificate,
  keyIdentifier,
  parseDer,
  randomSerial,
  samePublicKey,
  standardExtensions,
  wholeSeconds,
} from './certificates.ts';
import { hashAlgorithmIdentifier, withSigner, type HashName } from './signer.ts';

/**
 * The TSA policy of Warden tokens: an OID under the UUID arc 2.25 (ITU-T X.667), which needs no
 * registration and is unique to this project.
 */
export const TSA_POLICY_OID = '2.25.52330300647576296180136522130799177008';

const OID = {
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingTime: '1.2.840.113549.1.9.5',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
};

/** hashAlgorithm values of CreateRfcTimestampDto; dashes/underscores tolerated (SHA-256, SHA_256). */
const TIMESTAMP_HASHES: Record<string, HashName> = { SHA1: 'sha1', SHA224: 'sha224', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' };
export const TIMESTAMP_HASH_NAMES = Object.keys(TIMESTAMP_HASHES);

export function timestampHash(name: string): HashName {
  const h = TIMESTAMP_HASHES[name.toUpperCase().replace(/[-_]/g, '')];
  if (!h) throw new WardenError(501, `hashAlgorithm '${name}' is not one of ${TIMESTAMP_HASH_NAMES.join(', ')}`);
  return h;
}

const P256 = '1.2.840.10045.3.1.7';
const RENEW_BEFORE_DAYS = 30;

/**
 * Creates the TSA system key and its self-signed certificate on first start, and renews the
 * certificate when it expires within 30 days. Leaves an ordinary (imported) key of that name alone.
 * An empty `name` disables RFC 3161 time-stamping.
 */
export async function ensureRfcTimestampKey(keystore: KeyStore, name: string): Promise<void> {
  if (!name) return;
  let info = await keystore.peek(name);
  if (!info) {
    info = await keystore.create({
      label: name,
      family: ec,
      params: ec.resolve({ curveOid: P256 }),
      attributes: {
        encrypt: false, decrypt: false, verify: true, sign: true, wrap: false, unwrap: false, derive: false, bip32: false, slip10: false,
        extractable: false, modifiable: false, destroyable: false, sensitive: true, copyable: false, alwaysSensitive: true, neverExtractable: true,
      },
      password: null,
      creation: 'generated',
      system: true,
    });
  }
  if (!info.system) return;
  if (info.certificate) {
    const validTo = Date.parse(new NodeX509(info.certificate).validTo);
    if (validTo - Date.now() > RENEW_BEFORE_DAYS * 86_400_000) return;
  }
  const certDer = await withSigner(keystore, name, null, null, async (signer) => {
    const spki = signer.info.publicKey as Buffer;
    const keyId = keyIdentifier(spki);
    const subject = encodeName({ commonName: `Warden RFC 3161 TSA ${name}`, organizationName: 'Warden' });
    const now = wholeSeconds();
    // RFC 3161 §2.3: the TSA certificate carries exactly one EKU, id-kp-timeStamping, critical.
    // No KeyUsage: OpenSSL then treats the certificate as self-signed and it can be its own trust anchor.
    return issueCertificate({
      serial: randomSerial(), issuer: subject, subject, notBefore: now, notAfter: addDays(now, 10 * 365), spki,
      extensions: [extendedKeyUsageExtension(['TIME_STAMPING']), ...standardExtensions({ keyUsage: [], extendedKeyUsage: [], subjectKeyId: keyId, authorityKeyId: keyId })],
    }, signer);
  }, { system: true });
  await keystore.setCertificate(name, certDer);
}

/** Whether a certificate lists id-kp-timeStamping in its ExtendedKeyUsage. */
function hasTimeStampingEku(certDer: Buffer): boolean {
  const [tbs] = children(parseDer(certDer));
  for (const field of children(tbs)) {
    if (field.tag !== 0xa3) continue;
    for (const ext of children(children(field)[0])) {
      const parts = children(ext);
      if (decodeOid(parts[0]) !== '2.5.29.37') continue;
      const ekus = children(parseDer(Buffer.from(content(parts[parts.length - 1])))).map(decodeOid);
      return ekus.includes(EXTENDED_KEY_USAGES.TIME_STAMPING);
    }
  }
  return false;
}

/**
 * Time-stamps `payload` (the data itself: it is hashed here with `hash`, see docs/decisions.md) and
 * returns the DER TimeStampToken (ContentInfo with SignedData, RFC 3161 §2.4.2).
 */
export async function createTimestampToken(keystore: KeyStore, name: string, hash: HashName, payload: Buffer): Promise<Buffer> {
  if (!name) throw new WardenError(611, 'RFC 3161 time-stamping is disabled: hsm.rfcTimestampKeyName is empty');
  const existing = await keystore.peek(name);
  if (!existing) throw new WardenError(650, `RFC 3161 timestamp key '${name}' does not exist`);
  return withSigner(keystore, name, null, null, async (signer) => {
    const cert = signer.info.certificate;
    if (!cert) throw new WardenError(614, `RFC 3161 timestamp key '${name}' has no TSA certificate; import one with /v1/certificate/import/plain`);
    const tsa = certificateParts(cert);
    if (!samePublicKey(tsa.spki, signer.info.publicKey as Buffer)) throw new WardenError(614, `The certificate of '${name}' does not certify its public key`);
    if (!hasTimeStampingEku(cert)) throw new WardenError(614, `The certificate of '${name}' lacks the timeStamping extended key usage (RFC 3161 §2.3)`);
    if (!signer.hash) throw new WardenError(607, `RFC 3161 tokens need an RSA or EC key; '${name}' is an ${signer.info.algorithm} key`);

    const now = wholeSeconds();
    const tstInfo = der.seq(
      der.int(1),
      der.oid(TSA_POLICY_OID),
      der.seq(hashAlgorithmIdentifier(hash), der.octets(createHash(hash).update(payload).digest())),
      der.int(randomSerial()),
      der.generalizedTime(now),
      // tsa [0] GeneralName (directoryName [4]): the TSA certificate's subject (RFC 3161 §2.4.2).
      der.explicit(0, der.explicit(4, tsa.subject)),
    );
    // ESSCertIDv2 with the default hash SHA-256 (omitted in DER) and issuerSerial (RFC 5035 §4).
    const essCertIdV2 = der.seq(der.octets(createHash('sha256').update(cert).digest()), der.seq(der.seq(der.explicit(4, tsa.issuer)), tsa.serial));
    const signedAttrs = der.setOf(
      der.seq(der.oid(OID.contentType), der.setOf(der.oid(OID.tstInfo))),
      der.seq(der.oid(OID.signingTime), der.setOf(der.utcTime(now))),
      der.seq(der.oid(OID.messageDigest), der.setOf(der.octets(createHash(signer.hash).update(tstInfo).digest()))),
      der.seq(der.oid(OID.signingCertificateV2), der.setOf(der.seq(der.seq(essCertIdV2)))),
    );
    // RFC 5652 §5.4: the signature covers the DER SET OF (tag 0x31); the SignerInfo carries it as [0] IMPLICIT.
    const signature = await signer.sign(signedAttrs);
    const signedAttrsField = Buffer.from(signedAttrs);
    signedAttrsField[0] = 0xa0;
    const signerInfo = der.seq(
      der.int(1),
      der.seq(tsa.issuer, tsa.serial),
      hashAlgorithmIdentifier(signer.hash),
      signedAttrsField,
      signer.algorithmIdentifier,
      der.octets(signature),
    );
    const signedData = der.seq(
      der.int(3),
      der.setOf(hashAlgorithmIdentifier(signer.hash)),
      der.seq(der.oid(OID.tstInfo), der.explicit(0, der.octets(tstInfo))),
      der.explicit(0, cert),
      der.setOf(signerInfo),
    );
    return der.seq(der.oid(OID.signedData), der.explicit(0, signedData));
  }, { system: existing.system });
}
