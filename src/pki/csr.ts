// PKCS#10 certificate signing requests (RFC 2986): building the CSR of a keystore key (spec §4.12.1)
// and reading + verifying a CSR that a CA key is asked to certify (§4.12.4).
import { constants, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { WardenError } from '../server/errors.ts';
import { DerError, children, content, decodeOid, der, encodeExtension, parseDer, raw, type Extension } from './certificates.ts';
import type { HashName, TbsSigner } from './signer.ts';

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

/** Builds and signs a CSR for the signer's own key; returns the DER CertificationRequest. */
export async function buildCsr(opts: { subject: Buffer; spki: Buffer; extensions: Extension[] }, signer: TbsSigner): Promise<Buffer> {
  const attributes = opts.extensions.length
    ? [der.seq(der.oid(EXTENSION_REQUEST), der.setOf(der.seq(...opts.extensions.map(encodeExtension))))]
    : [];
  // attributes [0] IMPLICIT SET OF Attribute: same content ordering rule as any SET OF.
  const info = der.seq(der.int(0), opts.subject, opts.spki, der.explicit(0, ...[...attributes].sort(Buffer.compare)));
  const signature = await signer.sign(info);
  return der.seq(info, signer.algorithmIdentifier, der.bits(signature));
}

/** PEM as the vendor returns it: "NEW CERTIFICATE REQUEST" armor, 64-column body, \n endings, trailing \n. */
export function csrPem(csrDer: Buffer): string {
  const body = csrDer.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN NEW CERTIFICATE REQUEST-----\n${body.join('\n')}\n-----END NEW CERTIFICATE REQUEST-----\n`;
}

export interface ParsedCsr {
  der: Buffer;
  subject: Buffer;
  spki: Buffer;
  signatureAlgorithmOid: string;
}

interface VerifySpec {
  hash: HashName | null;
  pss?: { saltLength: number };
}

const SIMPLE_ALGORITHMS: Record<string, VerifySpec> = {
  '1.2.840.113549.1.1.5': { hash: 'sha1' },
  '1.2.840.113549.1.1.14': { hash: 'sha224' },
  '1.2.840.113549.1.1.11': { hash: 'sha256' },
  '1.2.840.113549.1.1.12': { hash: 'sha384' },
  '1.2.840.113549.1.1.13': { hash: 'sha512' },
  '1.2.840.10045.4.1': { hash: 'sha1' },
  '1.2.840.10045.4.3.1': { hash: 'sha224' },
  '1.2.840.10045.4.3.2': { hash: 'sha256' },
  '1.2.840.10045.4.3.3': { hash: 'sha384' },
  '1.2.840.10045.4.3.4': { hash: 'sha512' },
  '1.3.101.112': { hash: null },
  '1.3.101.113': { hash: null },
};

const HASH_BY_OID: Record<string, HashName> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** RSASSA-PSS-params (RFC 4055 §3.1) with the defaults SHA-1 / MGF1-SHA-1 / salt 20. */
function pssSpec(params: Buffer | null): VerifySpec {
  let hash: HashName = 'sha1';
  let mgfHash: HashName = 'sha1';
  let saltLength = 20;
  if (params) {
    for (const field of children(parseDer(params))) {
      const inner = children(field)[0];
      if (field.tag === 0xa0) hash = HASH_BY_OID[decodeOid(children(inner)[0])];
      else if (field.tag === 0xa1) {
        const [mgfOid, mgfParams] = children(inner);
        if (decodeOid(mgfOid) !== '1.2.840.113549.1.1.8' || !mgfParams) throw new WardenError(628, 'CSR uses an unsupported PSS mask generation function');
        mgfHash = HASH_BY_OID[decodeOid(children(mgfParams)[0])];
      } else if (field.tag === 0xa2) saltLength = Number(BigInt('0x' + (content(inner).toString('hex') || '0')));
    }
  }
  if (!hash || hash !== mgfHash) throw new WardenError(628, 'CSR uses RSASSA-PSS with an unsupported hash/MGF combination');
  return { hash, pss: { saltLength } };
}

/**
 * Reads a CSR given as PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"; newlines may be
 * escaped as the two characters \n) or as bare Base64 DER, and verifies its self-signature (proof of
 * possession). Anything malformed or badly signed is 628.
 */
export function parseAndVerifyCsr(text: string): ParsedCsr {
  const body = text
    .replace(/\\n/g, '\n')
    .replace(/-----(BEGIN|END) (NEW )?CERTIFICATE REQUEST-----/g, '')
    .replace(/[\r\n\t ]/g, '');
  if (body === '' || !/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(body)) {
    throw new WardenError(628, 'certificateSigningRequest is not a PEM or Base64 PKCS#10 request');
  }
  const csrDer = Buffer.from(body, 'base64');
  let info: Buffer, subject: Buffer, spki: Buffer, algOid: string, algParams: Buffer | null, signature: Buffer;
  try {
    const [infoNode, algNode, sigNode] = children(parseDer(csrDer));
    const infoFields = children(infoNode);
    if (infoFields.length < 3 || infoFields[0].tag !== 0x02 || sigNode?.tag !== 0x03) throw new DerError('not a CertificationRequest');
    info = Buffer.from(raw(infoNode));
    subject = Buffer.from(raw(infoFields[1]));
    spki = Buffer.from(raw(infoFields[2]));
    const alg = children(algNode);
    algOid = decodeOid(alg[0]);
    algParams = alg[1] && alg[1].tag !== 0x05 ? Buffer.from(raw(alg[1])) : null;
    const bits = content(sigNode);
    if (bits[0] !== 0) throw new DerError('signature BIT STRING with unused bits');
    signature = Buffer.from(bits.subarray(1));
  } catch (e) {
    if (e instanceof WardenError) throw e;
    throw new WardenError(628, 'certificateSigningRequest is not a DER PKCS#10 CertificationRequest');
  }
  const spec = algOid === '1.2.840.113549.1.1.10' ? pssSpec(algParams) : SIMPLE_ALGORITHMS[algOid];
  if (!spec) throw new WardenError(628, `CSR signature algorithm ${algOid} is not supported`);
  let ok = false;
  try {
    const key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    const isEc = key.asymmetricKeyType === 'ec';
    ok = nodeVerify(
      spec.hash,
      info,
      spec.pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.pss.saltLength } : isEc ? { key, dsaEncoding: 'der' } : key,
      signature,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new WardenError(628, 'the signature of the certificate signing request does not verify with its public key');
  return { der: csrDer, subject, spki, signatureAlgorithmOid: algOid };
}
