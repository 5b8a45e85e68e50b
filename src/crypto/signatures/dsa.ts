// DSA (FIPS 186-4 §4.6–4.7): SHAxxx_WITH_DSA through node:crypto on the threadpool; NONE_WITH_DSA
// (a supplied digest, which OpenSSL's one-shot API cannot sign) in BigInt arithmetic here, with an
// RFC 6979 §3.2 deterministic k and blinding of both the exponentiation and the inversion.
import { createHmac, randomBytes } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import { DIGEST_LENGTHS, HASHES, sha2ByLength, type HashInfo } from '../hashes.ts';
import {
  bigintToBytes, bytesToBigint, decodeSignatureAny, decodeSignatureRaw, dsaPrivate, dsaPublic, encodeSignatureDer, encodeSignatureRaw,
  type DsaDomain, type RS,
} from './der.ts';
import { privateDer, privateKeyObject, publicDer, publicKeyObject, signAsync, verifyAsync } from './node.ts';
import { MAX_HASHED_PAYLOAD, type SignatureAlgorithm, type SignatureKey } from './types.ts';

const DSA = ['DSA'] as const;
const NATURAL = ['DER', 'RAW'] as const;

const domains = new WeakMap<Buffer, DsaDomain & { y: bigint }>();
const privates = new WeakMap<Buffer, DsaDomain & { x: bigint }>();

function publicOf(key: SignatureKey): DsaDomain & { y: bigint } {
  const der = publicDer(key);
  let d = domains.get(der);
  if (!d) {
    d = dsaPublic(der);
    domains.set(der, d);
  }
  return d;
}

function privateOf(key: SignatureKey): DsaDomain & { x: bigint } {
  const der = privateDer(key);
  let d = privates.get(der);
  if (!d) {
    d = dsaPrivate(der);
    privates.set(der, d);
  }
  return d;
}

const bitLength = (n: bigint) => n.toString(2).length;
const qBytes = (q: bigint) => Math.ceil(bitLength(q) / 8);

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    b = (b * b) % mod;
    e >>= 1n;
  }
  return result;
}

/** Inverse modulo a prime (Fermat). */
const modInv = (a: bigint, p: bigint) => modPow(((a % p) + p) % p, p - 2n, p);

/** RFC 6979 §2.3.2 bits2int: the leftmost qlen bits of the digest (FIPS 186-4 §4.6 z). */
function bits2int(b: Buffer, qlen: number): bigint {
  let v = bytesToBigint(b);
  const blen = b.length * 8;
  if (blen > qlen) v >>= BigInt(blen - qlen);
  return v;
}

/** RFC 6979 §3.2 candidate nonces k for private key x, digest h1, HMAC over `hash`. */
export function* rfc6979Nonces(x: bigint, q: bigint, h1: Buffer, hash: HashInfo): Generator<bigint> {
  const qlen = bitLength(q);
  const rlen = Math.ceil(qlen / 8);
  const algo = hash.nodeName as string;
  const hmac = (k: Buffer, ...parts: Buffer[]) => {
    const m = createHmac(algo, k);
    for (const p of parts) m.update(p);
    return m.digest();
  };
  const bx = bigintToBytes(x, rlen);
  const bh = bigintToBytes(bits2int(h1, qlen) % q, rlen);
  let v = Buffer.alloc(hash.length, 0x01);
  let k = Buffer.alloc(hash.length, 0x00);
  k = hmac(k, v, Buffer.from([0x00]), bx, bh);
  v = hmac(k, v);
  k = hmac(k, v, Buffer.from([0x01]), bx, bh);
  v = hmac(k, v);
  for (;;) {
    let t = Buffer.alloc(0);
    while (t.length < rlen) {
      v = hmac(k, v);
      t = Buffer.concat([t, v]);
    }
    const candidate = bits2int(t.subarray(0, rlen), qlen);
    if (candidate >= 1n && candidate < q) yield candidate;
    k = hmac(k, v, Buffer.from([0x00]));
    v = hmac(k, v);
  }
}

const randomScalar = (q: bigint) => (bytesToBigint(randomBytes(qBytes(q) + 8)) % (q - 1n)) + 1n;

/** DSA signature of a digest (FIPS 186-4 §4.6). g^k is computed as g^(k + m·q) and s with a blinded inverse. */
export function dsaSignDigest(priv: DsaDomain & { x: bigint }, digest: Buffer, hash: HashInfo): RS {
  const { p, q, g, x } = priv;
  const z = bits2int(digest, bitLength(q));
  for (const k of rfc6979Nonces(x, q, digest, hash)) {
    const blindedExp = k + (bytesToBigint(randomBytes(8)) + 1n) * q;
    const r = modPow(g, blindedExp, p) % q;
    if (r === 0n) continue;
    const b = randomScalar(q);
    const s = (modInv((k * b) % q, q) * ((b * ((z + x * r) % q)) % q)) % q;
    if (s === 0n) continue;
    return { r, s };
  }
  throw new Error('unreachable: the nonce generator is infinite');
}

/** DSA verification of a digest (FIPS 186-4 §4.7). */
export function dsaVerifyDigest(pub: DsaDomain & { y: bigint }, digest: Buffer, { r, s }: RS): boolean {
  const { p, q, g, y } = pub;
  if (r <= 0n || r >= q || s <= 0n || s >= q) return false;
  const w = modInv(s, q);
  const z = bits2int(digest, bitLength(q));
  const u1 = (z * w) % q;
  const u2 = (r * w) % q;
  const v = ((modPow(g, u1, p) * modPow(y, u2, p)) % p) % q;
  return v === r;
}

function encode(rs: RS, q: bigint, type: string): Buffer {
  return type === 'RAW' ? encodeSignatureRaw(rs, qBytes(q)) : encodeSignatureDer(rs);
}

/** DSA with a server-side SHA-1/SHA-2 hash. */
export function dsa(hash: HashInfo): SignatureAlgorithm {
  const nodeName = hash.nodeName as string;
  const check = (payload: Buffer) => {
    if (payload.length > MAX_HASHED_PAYLOAD) throw new WardenError(612, `payload is ${payload.length} bytes; at most ${MAX_HASHED_PAYLOAD} bytes are signed directly (hash larger data and use NONE_WITH_DSA)`);
  };
  return Object.freeze({
    name: `${hash.name}_WITH_DSA`, aliases: [], scheme: 'DSA', keyAlgorithms: DSA, curves: null,
    hash, prehashed: false, deterministic: false, signatureTypes: NATURAL,
    summary: `DSA with ${hash.name} (FIPS 186-4; the digest is truncated to N bits)`,
    async sign(key, payload, opts) {
      check(payload);
      const { q } = publicOf(key);
      const raw = await signAsync(nodeName, payload, { key: privateKeyObject(key), dsaEncoding: 'ieee-p1363' });
      return encode(decodeSignatureRaw(raw, qBytes(q)), q, opts.signatureType);
    },
    async verify(key, payload, signature) {
      check(payload);
      const { q } = publicOf(key);
      for (const rs of decodeSignatureAny(signature, qBytes(q))) {
        if (rs.r <= 0n || rs.r >= q || rs.s <= 0n || rs.s >= q) continue;
        if (await verifyAsync(nodeName, payload, { key: publicKeyObject(key), dsaEncoding: 'ieee-p1363' }, encodeSignatureRaw(rs, qBytes(q)))) return true;
      }
      return false;
    },
  } satisfies SignatureAlgorithm);
}

/** DSA over a supplied digest; RFC 6979 uses the SHA-1/SHA-2 hash of that digest's length. */
export function dsaNone(): SignatureAlgorithm {
  const check = (payload: Buffer): HashInfo => {
    if (!DIGEST_LENGTHS.includes(payload.length)) throw new WardenError(612, `NONE_WITH_DSA takes a digest of ${DIGEST_LENGTHS.join(', ')} bytes, got ${payload.length}`);
    return sha2ByLength(payload.length) ?? HASHES.SHA256;
  };
  return Object.freeze({
    name: 'NONE_WITH_DSA', aliases: [], scheme: 'DSA', keyAlgorithms: DSA, curves: null,
    hash: null, prehashed: true, deterministic: true, signatureTypes: NATURAL,
    summary: `DSA over a supplied digest (${DIGEST_LENGTHS.join(', ')} bytes), deterministic k (RFC 6979)`,
    async sign(key, payload, opts) {
      const hash = check(payload);
      const priv = privateOf(key);
      return encode(dsaSignDigest(priv, payload, hash), priv.q, opts.signatureType);
    },
    async verify(key, payload, signature) {
      check(payload);
      const pub = publicOf(key);
      return decodeSignatureAny(signature, qBytes(pub.q)).some((rs) => dsaVerifyDigest(pub, payload, rs));
    },
  } satisfies SignatureAlgorithm);
}
