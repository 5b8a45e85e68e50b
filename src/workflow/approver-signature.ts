// Verification of approver signatures (spec multi-authorization §4.2, §4.6): JCA Signature.sign() output
// by the key type — RSA PKCS#1 v1.5 (PSS for RSASSA-PSS keys), ECDSA and DSA as DER SEQUENCE{r,s}
// (IEEE P1363 r‖s also accepted), Ed25519/Ed448 pure — with the digest named by the request.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { WardenError } from '../server/errors.ts';

/** `timestampDigestAlgorithm` / `approvalDigestAlgorithm` values (spec §4.2) → OpenSSL digest, null = none (EdDSA). */
const DIGESTS: Record<string, string | null> = {
  'SHA-224': 'sha224',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
  'SHA3-224': 'sha3-224',
  'SHA3-256': 'sha3-256',
  'SHA3-384': 'sha3-384',
  'SHA3-512': 'sha3-512',
  SHA224: 'sha224',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
  EdDSA: null,
  EDDSA: null,
  Ed25519: null,
  ED25519: null,
};

export const DIGEST_NAMES: readonly string[] = Object.freeze(Object.keys(DIGESTS));

/** The OpenSSL digest for a wire digest name; 501 for an unknown one. Missing → SHA-256 (JCA default of the samples). */
export function digestFor(name: string | null | undefined): string | null {
  if (name === null || name === undefined || name === '') return 'sha256';
  if (!(name in DIGESTS)) throw new WardenError(501, `Unknown digest algorithm '${name}' (one of ${Object.keys(DIGESTS).join(', ')})`);
  return DIGESTS[name];
}

const keyCache = new Map<string, KeyObject>();

function publicKey(spki: Buffer): KeyObject {
  const k = spki.toString('base64');
  let key = keyCache.get(k);
  if (!key) {
    key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    if (keyCache.size > 10000) keyCache.clear();
    keyCache.set(k, key);
  }
  return key;
}

/** Does `signature` by the key `spki` verify over `data` with `digestName`? Never throws for a bad signature. */
export function verifyApproverSignature(spki: Buffer, data: Buffer, signature: Buffer, digestName: string | null | undefined): boolean {
  const digest = digestFor(digestName);
  let key: KeyObject;
  try {
    key = publicKey(spki);
  } catch {
    return false;
  }
  const type = key.asymmetricKeyType;
  try {
    if (type === 'ed25519' || type === 'ed448') return verify(null, data, key, signature);
    if (digest === null) return false;
    if (type === 'rsa') return verify(digest, data, key, signature);
    if (type === 'rsa-pss') return verify(digest, data, key, signature);
    if (type === 'ec' || type === 'dsa') {
      if (verify(digest, data, { key, dsaEncoding: 'der' }, signature)) return true;
      return verify(digest, data, { key, dsaEncoding: 'ieee-p1363' }, signature);
    }
  } catch {
    return false;
  }
  return false;
}
