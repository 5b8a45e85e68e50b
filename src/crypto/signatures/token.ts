// Signing with a key on a PKCS#11 token (src/crypto/token.ts): each catalogue algorithm mapped onto a
// token mechanism. Digests of public data may be computed here (the token only has raw CKM_ECDSA, or
// the hash is one PKCS#11 has no mechanism for); the private key is only ever used on the token.
// Verification needs no token: it runs on the public key in software (docs/hsm.md).
import { WardenError } from '../../server/errors.ts';
import { DIGEST_LENGTHS, HASHES, sha2ByLength, type HashInfo } from '../hashes.ts';
import { rawToDer, refusedOnToken, type TokenHash, type TokenKey } from '../token.ts';
import { bytesToBigint, bigintToBytes } from './der.ts';
import { MAX_HASHED_PAYLOAD, type SignOptions, type SignatureAlgorithm, type SignatureKey } from './types.ts';
import { SECP256K1_OID, curveOrder, curvePoint, nobleEcdsa, publicPoint } from './weierstrass.ts';

const TOKEN_HASHES: Partial<Record<string, TokenHash>> = { SHA1: 'sha1', SHA224: 'sha224', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512' };

export function tokenHashOf(hash: HashInfo): TokenHash | null {
  return TOKEN_HASHES[hash.name] ?? null;
}

function checkDigest(alg: SignatureAlgorithm, hash: HashInfo, payload: Buffer): void {
  if (payload.length !== hash.length) throw new WardenError(612, `payload must be a ${hash.name} digest of ${hash.length} bytes, got ${payload.length}`);
  void alg;
}

export async function signOnToken(alg: SignatureAlgorithm, key: SignatureKey, token: TokenKey, payload: Buffer, opts: SignOptions): Promise<Buffer> {
  if (!alg.prehashed && payload.length > MAX_HASHED_PAYLOAD) throw new WardenError(612, `payload is ${payload.length} bytes; at most ${MAX_HASHED_PAYLOAD} bytes are signed`);
  const hash = alg.hash;
  switch (alg.scheme) {
    case 'RSA_PKCS1': {
      if (!alg.prehashed) {
        const h = hash && tokenHashOf(hash);
        if (!h) throw refusedOnToken(`${alg.name} signatures`);
        return token.sign({ name: 'RSA_PKCS1', hash: h }, payload);
      }
      // NONE…_WITH_RSA: CKM_RSA_PKCS pads what it is given; the DigestInfo (public) is added here.
      if (hash) {
        checkDigest(alg, hash, payload);
        return token.sign({ name: 'RSA_PKCS1', hash: null }, Buffer.concat([hash.digestInfoPrefix as Buffer, payload]));
      }
      return token.sign({ name: 'RSA_PKCS1', hash: null }, payload);
    }
    case 'RSA_PSS': {
      // NONE_WITH_RSA_PSS: the digest's length names its hash, as in software (CKM_RSA_PKCS_PSS takes it as a parameter).
      const named = hash ?? (alg.prehashed ? sha2ByLength(payload.length) : null);
      if (!hash && alg.prehashed && !named) throw new WardenError(612, `${alg.name} takes a SHA-1/SHA-2 digest (${DIGEST_LENGTHS.join(', ')} bytes), got ${payload.length} bytes`);
      const h = named && tokenHashOf(named);
      if (!named || !h) throw refusedOnToken(`${alg.name} signatures`);
      if (alg.prehashed) checkDigest(alg, named, payload);
      return token.sign({ name: 'RSA_PSS', hash: h, saltLength: named.length, prehashed: alg.prehashed }, payload);
    }
    case 'ECDSA': {
      if (alg.deterministic) throw refusedOnToken(`${alg.name} (RFC 6979 nonces come from the private key)`);
      if (opts.signatureType === 'ETH') return ethSignature(key, token, hash ? hash.digest(payload) : payload);
      let raw: Buffer;
      // NONE_WITH_ECDSA: the same digest-length rule as in software (an empty digest is no digest).
      if (!hash && !DIGEST_LENGTHS.includes(payload.length)) throw new WardenError(612, `${alg.name} takes a digest of ${DIGEST_LENGTHS.join(', ')} bytes, got ${payload.length}`);
      if (!hash) raw = await token.sign({ name: 'ECDSA', hash: null }, payload);
      else {
        const h = tokenHashOf(hash);
        // SHA-3, Keccak, double SHA-256: the digest of public data is computed here, signed raw on the token.
        raw = h ? await token.sign({ name: 'ECDSA', hash: h }, payload) : await token.sign({ name: 'ECDSA', hash: null }, hash.digest(payload));
      }
      if (key.curveOid === SECP256K1_OID) raw = lowS(raw, curveOrder(SECP256K1_OID));
      return opts.signatureType === 'RAW' ? raw : rawToDer(raw);
    }
    case 'EDDSA':
      return token.sign({ name: 'EDDSA' }, payload);
    case 'DSA': {
      let raw: Buffer;
      if (!hash) {
        // NONE_WITH_DSA: a supplied digest, signed by CKM_DSA with the token's random k (software: RFC 6979 k).
        if (!DIGEST_LENGTHS.includes(payload.length)) throw new WardenError(612, `${alg.name} takes a digest of ${DIGEST_LENGTHS.join(', ')} bytes, got ${payload.length}`);
        raw = await token.sign({ name: 'DSA', hash: null }, payload);
      } else {
        const h = tokenHashOf(hash);
        raw = h ? await token.sign({ name: 'DSA', hash: h }, payload) : await token.sign({ name: 'DSA', hash: null }, hash.digest(payload));
      }
      return opts.signatureType === 'RAW' ? raw : rawToDer(raw);
    }
    default:
      throw refusedOnToken(`${alg.name} signatures`);
  }
}

/**
 * Ethereum r‖s‖v: the token signs the digest (CKM_ECDSA), s is made low, and v — which public key the
 * signature recovers to — is found from public data: the recovery id whose recovered key is the key's own.
 */
async function ethSignature(key: SignatureKey, token: TokenKey, digest: Buffer): Promise<Buffer> {
  if (key.curveOid !== SECP256K1_OID) throw new WardenError(607, 'signatureType ETH needs a secp256k1 key');
  const raw = lowS(await token.sign({ name: 'ECDSA', hash: null }, digest), curveOrder(SECP256K1_OID));
  const inst = nobleEcdsa(SECP256K1_OID, HASHES.SHA256.noble);
  const point = curvePoint(SECP256K1_OID);
  const spki = key.material.publicKey;
  if (!inst || !point || !spki) throw new WardenError(613, 'the key has no secp256k1 public key');
  const own = point.fromBytes(publicPoint(spki));
  for (const v of [0, 1]) {
    try {
      const recovered = point.fromBytes(inst.recoverPublicKey(Buffer.concat([Buffer.from([v]), raw]), digest, { prehash: false }));
      if (recovered.equals(own)) return Buffer.concat([raw, Buffer.from([27 + v])]);
    } catch {
      // no point for this recovery id
    }
  }
  throw new WardenError(701, 'the token signature recovers to no public key of this key');
}

/** secp256k1 signatures are normalised to low s (BIP 62), as the software path does. */
function lowS(raw: Buffer, n: bigint): Buffer {
  const half = raw.length / 2;
  const s = bytesToBigint(raw.subarray(half));
  if (s <= n >> 1n) return raw;
  return Buffer.concat([raw.subarray(0, half), bigintToBytes(n - s, half)]);
}
