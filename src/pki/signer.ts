// Signs DER to-be-signed structures (TBSCertificate, CertificationRequestInfo, CMS signed
// attributes) with a keystore key: the private key is opened only inside keystore.use and signed
// with node:crypto (which, unlike WebCrypto, knows secp256k1 and the brainpool curves).
import { createPrivateKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import type { KeyInfo, KeyStore, Password, UseOptions } from '../keystore/interface.ts';
import { WardenError } from '../server/errors.ts';
import { der } from './certificates.ts';
import { rawToDer, type TokenHash, type TokenKey } from '../crypto/token.ts';

/**
 * The KeytoolSignatureAlgorithm enum of spec §4.12 (synchronous certificate endpoints), plus EDDSA
 * for Ed25519 keys (an extension: the vendor enum has no EdDSA entry).
 */
export const CERT_SIGNATURE_ALGORITHMS = [
  'SHA224_WITH_RSA', 'SHA256_WITH_RSA', 'SHA384_WITH_RSA', 'SHA512_WITH_RSA',
  'SHA256_WITH_ECDSA', 'SHA384_WITH_ECDSA', 'SHA512_WITH_ECDSA', 'EDDSA',
] as const;
export type CertSignatureAlgorithm = (typeof CERT_SIGNATURE_ALGORITHMS)[number];

export type HashName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

interface AlgorithmSpec {
  keyAlgorithm: 'RSA' | 'EC' | 'ED';
  /** node:crypto digest; null for EdDSA (pure). */
  hash: HashName | null;
  oid: string;
  /** RFC 4055 §5: the PKCS#1 v1.5 identifiers carry NULL parameters; ECDSA/EdDSA have none (RFC 5758, 8410). */
  nullParams: boolean;
}

const SPECS: Record<CertSignatureAlgorithm, AlgorithmSpec> = {
  SHA224_WITH_RSA: { keyAlgorithm: 'RSA', hash: 'sha224', oid: '1.2.840.113549.1.1.14', nullParams: true },
  SHA256_WITH_RSA: { keyAlgorithm: 'RSA', hash: 'sha256', oid: '1.2.840.113549.1.1.11', nullParams: true },
  SHA384_WITH_RSA: { keyAlgorithm: 'RSA', hash: 'sha384', oid: '1.2.840.113549.1.1.12', nullParams: true },
  SHA512_WITH_RSA: { keyAlgorithm: 'RSA', hash: 'sha512', oid: '1.2.840.113549.1.1.13', nullParams: true },
  SHA256_WITH_ECDSA: { keyAlgorithm: 'EC', hash: 'sha256', oid: '1.2.840.10045.4.3.2', nullParams: false },
  SHA384_WITH_ECDSA: { keyAlgorithm: 'EC', hash: 'sha384', oid: '1.2.840.10045.4.3.3', nullParams: false },
  SHA512_WITH_ECDSA: { keyAlgorithm: 'EC', hash: 'sha512', oid: '1.2.840.10045.4.3.4', nullParams: false },
  EDDSA: { keyAlgorithm: 'ED', hash: null, oid: '1.3.101.112', nullParams: false },
};

/** Digest AlgorithmIdentifiers (RFC 5754 §2: parameters absent). */
export const HASH_OIDS: Record<HashName, string> = {
  sha1: '1.3.14.3.2.26',
  sha224: '2.16.840.1.101.3.4.2.4',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

export function hashAlgorithmIdentifier(hash: HashName): Buffer {
  return der.seq(der.oid(HASH_OIDS[hash]));
}

export interface TbsSigner {
  /** The signing key's (integrity-checked) metadata, including its attached certificate. */
  readonly info: KeyInfo;
  readonly algorithm: CertSignatureAlgorithm;
  /** The digest the signature uses (null for EdDSA). */
  readonly hash: HashName | null;
  /** DER AlgorithmIdentifier of the signature (for signatureAlgorithm / signature fields). */
  readonly algorithmIdentifier: Buffer;
  /** Signs the DER bytes (hash-then-sign; ECDSA signatures are DER Ecdsa-Sig-Value). Runs in the libuv pool. */
  sign(data: Uint8Array): Promise<Buffer>;
}

function signAsync(hash: HashName | null, data: Uint8Array, key: KeyObject, ecdsa: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    nodeSign(hash, data, ecdsa ? { key, dsaEncoding: 'der' } : key, (err, sig) => (err ? reject(err) : resolve(sig)));
  });
}

async function signOnTokenTbs(token: TokenKey, spec: AlgorithmSpec, data: Buffer): Promise<Buffer> {
  if (spec.keyAlgorithm === 'ED') return token.sign({ name: 'EDDSA' }, data);
  const hash = spec.hash as TokenHash;
  if (spec.keyAlgorithm === 'RSA') return token.sign({ name: 'RSA_PKCS1', hash }, data);
  return rawToDer(await token.sign({ name: 'ECDSA', hash }, data));
}

/** The certificate signature algorithm Warden picks for a key of its own (TSA key, default CSR). */
export function defaultAlgorithmFor(info: KeyInfo): CertSignatureAlgorithm {
  if (info.algorithm === 'RSA') return 'SHA256_WITH_RSA';
  if (info.algorithm === 'ED') return 'EDDSA';
  if (info.algorithm === 'EC') {
    if (info.curveOid === '1.3.132.0.34' || info.curveOid === '1.3.36.3.3.2.8.1.1.11') return 'SHA384_WITH_ECDSA';
    if (info.curveOid === '1.3.132.0.35' || info.curveOid === '1.3.36.3.3.2.8.1.1.13') return 'SHA512_WITH_ECDSA';
    return 'SHA256_WITH_ECDSA';
  }
  throw new WardenError(607, `${info.algorithm} keys cannot sign certificates (RSA, EC or ED keys only)`);
}

/**
 * Opens `label` for signing (password 620, system-key rule and sign attribute 614, missing 650 are
 * the keystore's), checks the algorithm fits the key (607) and runs `fn` with a signer. The private
 * key object exists only for the duration of `fn`.
 */
export async function withSigner<T>(
  keystore: KeyStore,
  label: string,
  password: Password,
  algorithm: CertSignatureAlgorithm | null,
  fn: (signer: TbsSigner) => Promise<T>,
  opts: UseOptions = {},
): Promise<T> {
  return keystore.use(label, password, 'sign', async ({ info, material }) => {
    const alg = algorithm ?? defaultAlgorithmFor(info);
    const spec = SPECS[alg];
    if (info.algorithm !== spec.keyAlgorithm) {
      throw new WardenError(607, `signatureAlgorithm ${alg} needs an ${spec.keyAlgorithm} key; '${label}' is an ${info.algorithm} key`);
    }
    const token = material.token;
    if (!token && !material.privateKey) throw new WardenError(613, `Key '${label}' has no private key`);
    const key = token ? null : createPrivateKey({ key: material.privateKey as Buffer, format: 'der', type: 'pkcs8' });
    const signer: TbsSigner = {
      info,
      algorithm: alg,
      hash: spec.hash,
      algorithmIdentifier: spec.nullParams ? der.seq(der.oid(spec.oid), der.null()) : der.seq(der.oid(spec.oid)),
      // A key on a PKCS#11 token signs there (src/crypto/token.ts).
      sign: (data) => (token ? signOnTokenTbs(token, spec, Buffer.from(data)) : signAsync(spec.hash, data, key as KeyObject, spec.keyAlgorithm === 'EC')),
    };
    return fn(signer);
  }, opts);
}
