// ECDSA families (spec §4.1). SHA-1/2/3 and double SHA-256 sign through node:crypto (constant-time
// OpenSSL, threadpool); Keccak, NONE (supplied digest) and RFC 6979 deterministic ECDSA sign through
// @noble/curves on every curve (src/crypto/signatures/weierstrass.ts). On secp256k1 every signature is
// normalised to low S (BIP-62 / EIP-2: Bitcoin and Ethereum refuse high-S); verification takes both.
import { createHash } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import { DIGEST_LENGTHS, HASHES, sha2ByLength, type HashInfo } from '../hashes.ts';
import { DerError, decodeSignatureAny, decodeSignatureRaw, encodeSignatureDer, encodeSignatureRaw, type RS } from './der.ts';
import { privateDer, privateKeyObject, publicDer, publicKeyObject, signAsync, verifyAsync } from './node.ts';
import { MAX_HASHED_PAYLOAD, type SignatureAlgorithm, type SignatureKey, type SignatureType } from './types.ts';
import { SECP256K1_OID, curveOrder, nobleEcdsa, publicPoint, scalarBytes, secretScalar } from './weierstrass.ts';

const EC = ['EC'] as const;

type Engine = 'node' | 'noble';

interface EcdsaSpec {
  name: string;
  /** Server-side digest; null = the payload is the digest (NONE_WITH_ECDSA). */
  hash: HashInfo | null;
  engine: Engine;
  deterministic: boolean;
  summary: string;
  /** Ethereum r‖s‖v output allowed (KECCAK256 on secp256k1). */
  eth?: boolean;
}

function curveOf(key: SignatureKey): string {
  if (!key.curveOid) throw new WardenError(607, 'The EC key has no curve');
  return key.curveOid;
}

function checkPayload(spec: EcdsaSpec, payload: Buffer): void {
  if (spec.hash) {
    if (payload.length > MAX_HASHED_PAYLOAD) {
      throw new WardenError(612, `payload is ${payload.length} bytes; at most ${MAX_HASHED_PAYLOAD} bytes are signed directly (hash larger data and use NONE_WITH_ECDSA)`);
    }
  } else if (!DIGEST_LENGTHS.includes(payload.length)) {
    throw new WardenError(612, `NONE_WITH_ECDSA takes a digest of ${DIGEST_LENGTHS.join(', ')} bytes, got ${payload.length}`);
  }
}

/** The digest noble signs, and the hash its RFC 6979 HMAC-DRBG runs on. */
function nobleInput(spec: EcdsaSpec, payload: Buffer): { digest: Buffer; drbg: HashInfo } {
  if (spec.hash) return { digest: spec.hash.digest(payload), drbg: spec.hash };
  return { digest: payload, drbg: sha2ByLength(payload.length) ?? HASHES.SHA512 };
}

/** What node:crypto hashes and with which digest name (double SHA-256 = ECDSA-SHA256 over SHA-256(payload)). */
function nodeInput(spec: EcdsaSpec, payload: Buffer): { data: Buffer; digest: string } {
  const hash = spec.hash as HashInfo;
  if (hash.name === 'DOUBLE_SHA256') return { data: createHash('sha256').update(payload).digest(), digest: 'sha256' };
  return { data: payload, digest: hash.nodeName as string };
}

function lowS(rs: RS, n: bigint): RS {
  return rs.s > n >> 1n ? { r: rs.r, s: n - rs.s } : rs;
}

function ecdsaFamily(spec: EcdsaSpec): SignatureAlgorithm {
  const signatureTypes: readonly SignatureType[] = spec.eth ? ['DER', 'RAW', 'ETH'] : ['DER', 'RAW'];
  return Object.freeze({
    name: spec.name, aliases: [], scheme: 'ECDSA', keyAlgorithms: EC, curves: null,
    hash: spec.hash, prehashed: spec.hash === null, deterministic: spec.deterministic, signatureTypes, summary: spec.summary,

    async sign(key, payload, opts) {
      const curve = curveOf(key);
      checkPayload(spec, payload);
      const size = scalarBytes(curve);
      const k1 = curve === SECP256K1_OID;
      if (opts.signatureType === 'ETH') {
        if (!k1) throw new WardenError(607, 'signatureType ETH needs a secp256k1 key');
        const { digest, drbg } = nobleInput(spec, payload);
        const inst = nobleEcdsa(curve, drbg.noble);
        if (!inst) throw new WardenError(607, `No ECDSA implementation for curve ${curve}`);
        const rec = inst.sign(digest, secretScalar(privateDer(key), curve), { prehash: false, lowS: true, extraEntropy: !spec.deterministic, format: 'recovered' });
        // noble: recovery‖r‖s; Ethereum: r‖s‖v with v = 27 + recovery id.
        return Buffer.concat([Buffer.from(rec.subarray(1)), Buffer.from([27 + rec[0]])]);
      }
      let rs: RS;
      if (spec.engine === 'node') {
        const { data, digest } = nodeInput(spec, payload);
        const raw = await signAsync(digest, data, { key: privateKeyObject(key), dsaEncoding: 'ieee-p1363' });
        rs = decodeSignatureRaw(raw, size);
        if (k1) rs = lowS(rs, curveOrder(curve));
      } else {
        const { digest, drbg } = nobleInput(spec, payload);
        const inst = nobleEcdsa(curve, drbg.noble);
        if (!inst) throw new WardenError(607, `No ECDSA implementation for curve ${curve}`);
        const compact = inst.sign(digest, secretScalar(privateDer(key), curve), { prehash: false, lowS: k1, extraEntropy: !spec.deterministic });
        rs = decodeSignatureRaw(Buffer.from(compact), size);
      }
      return opts.signatureType === 'RAW' ? encodeSignatureRaw(rs, size) : encodeSignatureDer(rs);
    },

    async verify(key, payload, signature) {
      const curve = curveOf(key);
      checkPayload(spec, payload);
      const size = scalarBytes(curve);
      const n = curveOrder(curve);
      // An Ethereum r‖s‖v signature: v must be 27/28 (or 0/1) and recover this very key. (A 65-byte
      // string that fails this may still be a short DER signature: fall through.)
      if (spec.eth && curve === SECP256K1_OID && signature.length === 2 * size + 1) {
        const v = signature[2 * size];
        const recovery = v >= 27 ? v - 27 : v;
        if (recovery <= 1) {
          const { digest, drbg } = nobleInput(spec, payload);
          const inst = nobleEcdsa(curve, drbg.noble);
          const recovered = Buffer.concat([Buffer.from([recovery]), signature.subarray(0, 2 * size)]);
          try {
            if (inst?.verify(recovered, digest, publicPoint(publicDer(key)), { prehash: false, lowS: false, format: 'recovered' })) return true;
          } catch {
            // not a valid r‖s‖v
          }
        }
      }
      const candidates = decodeSignatureAny(signature, size).filter((c) => c.r > 0n && c.r < n && c.s > 0n && c.s < n);
      for (const rs of candidates) {
        let raw: Buffer;
        try {
          raw = encodeSignatureRaw(rs, size);
        } catch (e) {
          if (e instanceof DerError) continue;
          throw e;
        }
        let ok: boolean;
        if (spec.engine === 'node') {
          const { data, digest } = nodeInput(spec, payload);
          ok = await verifyAsync(digest, data, { key: publicKeyObject(key), dsaEncoding: 'ieee-p1363' }, raw);
        } else {
          const { digest, drbg } = nobleInput(spec, payload);
          const inst = nobleEcdsa(curve, drbg.noble);
          try {
            ok = inst?.verify(raw, digest, publicPoint(publicDer(key)), { prehash: false, lowS: false }) ?? false;
          } catch {
            ok = false;
          }
        }
        if (ok) return true;
      }
      return false;
    },
  } satisfies SignatureAlgorithm);
}

/** ECDSA with a SHA-1/SHA-2 hash (SHAxxx_WITH_ECDSA). */
export function ecdsa(hash: HashInfo): SignatureAlgorithm {
  return ecdsaFamily({ name: `${hash.name}_WITH_ECDSA`, hash, engine: 'node', deterministic: false, summary: `ECDSA with ${hash.name} (X9.62 / SEC 1)` });
}

/** ECDSA with SHA3-224/256/384/512 (SHA3xxx_WITH_ECDSA). */
export function sha3(bits: 224 | 256 | 384 | 512): SignatureAlgorithm {
  const hash = HASHES[`SHA3_${bits}`];
  return ecdsaFamily({ name: `SHA3${bits}_WITH_ECDSA`, hash, engine: 'node', deterministic: false, summary: `ECDSA with SHA3-${bits} (FIPS 202)` });
}

/** ECDSA with the original Keccak (Ethereum); KECCAK256 also offers signatureType ETH on secp256k1. */
export function keccak(bits: 224 | 256 | 384 | 512): SignatureAlgorithm {
  const hash = HASHES[`KECCAK${bits}`];
  return ecdsaFamily({
    name: `KECCAK${bits}_WITH_ECDSA`, hash, engine: 'noble', deterministic: false, eth: bits === 256,
    summary: `ECDSA with Keccak-${bits} (pre-FIPS padding, as Ethereum uses it)${bits === 256 ? '; signatureType ETH gives r‖s‖v on secp256k1' : ''}`,
  });
}

/** ECDSA over SHA-256(SHA-256(payload)) (Bitcoin). */
export function doubleSha256(): SignatureAlgorithm {
  return ecdsaFamily({ name: 'DOUBLE_SHA256_WITH_ECDSA', hash: HASHES.DOUBLE_SHA256, engine: 'node', deterministic: false, summary: 'ECDSA over SHA-256(SHA-256(payload)) (Bitcoin)' });
}

/** RFC 6979 deterministic ECDSA with SHA-256 (JCA SHA256withECDDSA). */
export function ecdsaDeterministic(): SignatureAlgorithm {
  return ecdsaFamily({ name: 'SHA256_WITH_ECDSA_DETERMINISTIC', hash: HASHES.SHA256, engine: 'noble', deterministic: true, summary: 'Deterministic ECDSA with SHA-256 (RFC 6979 §3.2, HMAC-DRBG over SHA-256)' });
}

/** ECDSA over a supplied digest. */
export function ecdsaNone(): SignatureAlgorithm {
  return ecdsaFamily({ name: 'NONE_WITH_ECDSA', hash: null, engine: 'noble', deterministic: false, summary: `ECDSA over a supplied digest (${DIGEST_LENGTHS.join(', ')} bytes; truncated to the order size as X9.62 says)` });
}
