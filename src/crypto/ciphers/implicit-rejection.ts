// RSAES-PKCS1-v1_5 decryption padding check with implicit rejection (draft-irtf-cfrg-rsa-guidance,
// the algorithm of OpenSSL ≥ 3.2): a bad padding yields a deterministic pseudo-random message
// instead of an error, so the API is no Bleichenbacher/Marvin padding oracle.
//
// Why here: Node 20's OpenSSL 3.0 has no implicit rejection, so Node refuses RSA_PKCS1_PADDING in
// privateDecrypt (CVE-2023-46809). Warden decrypts with RSA_NO_PADDING (constant-time, blinded
// OpenSSL) and removes the padding with this code, which is byte-for-byte OpenSSL 3.2's
// ossl_rsa_padding_check_PKCS1_type_2 (the known-answer tests in test/encrypt-decrypt-rsa.test.ts
// are OpenSSL's). The checks below run without data-dependent branches or indexing (masks only),
// as far as a JIT-compiled language allows; since both outcomes return a message, the remaining
// signal an attacker could time is small and carries no padding-validity bit in the response.
import { createHash, createHmac, type KeyObject } from 'node:crypto';

const MAX_LEN_GEN_TRIES = 128;

/** ossl_rsa_prf: HMAC-SHA256(kdk, be16(i) ‖ label ‖ be16(bits)) blocks, truncated to `bytes`. */
export function rsaPrf(kdk: Buffer, label: string, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  const bits = Buffer.alloc(2);
  bits.writeUInt16BE((bytes * 8) & 0xffff);
  const iter = Buffer.alloc(2);
  for (let pos = 0, i = 0; pos < bytes; pos += 32, i++) {
    iter.writeUInt16BE(i);
    const block = createHmac('sha256', kdk).update(iter).update(label, 'latin1').update(bits).digest();
    block.copy(out, pos, 0, Math.min(32, bytes - pos));
  }
  return out;
}

/** SHA-256 of the private exponent as a k-byte big-endian string: the HMAC key of the KDK. */
export function privateExponentHash(privateKey: KeyObject): Buffer {
  const jwk = privateKey.export({ format: 'jwk' });
  const n = Buffer.from(jwk.n as string, 'base64url');
  const k = n[0] === 0 ? n.length - 1 : n.length;
  const d = Buffer.from(jwk.d as string, 'base64url');
  const padded = Buffer.alloc(k);
  d.copy(padded, k - d.length);
  return createHash('sha256').update(padded).digest();
}

/** KDK = HMAC-SHA256(SHA256(I2OSP(d, k)), ciphertext left-padded with zeros to k bytes). */
export function implicitRejectionKey(dHash: Buffer, ciphertext: Buffer, k: number): Buffer {
  const h = createHmac('sha256', dHash);
  if (ciphertext.length < k) h.update(Buffer.alloc(k - ciphertext.length));
  return h.update(ciphertext).digest();
}

// Constant-time helpers on small non-negative integers (< 2^30): results are 0 or 1.
const isZero = (x: number): number => ((~x & (x - 1)) >>> 31) & 1;
const eq = (a: number, b: number): number => isZero(a ^ b);
const lt = (a: number, b: number): number => ((a - b) >>> 31) & 1;
const select = (bit: number, a: number, b: number): number => {
  const m = -bit;
  return (a & m) | (b & ~m);
};

/**
 * Removes EME-PKCS1-v1_5 padding from `em` (the k-byte raw RSA output). On any padding error the
 * result is the synthetic message derived from `kdk`; the caller cannot tell the two apart.
 */
export function unpadPkcs1Type2(em: Buffer, kdk: Buffer): Buffer {
  const k = em.length;
  const synthetic = rsaPrf(kdk, 'message', k);
  const candidates = rsaPrf(kdk, 'length', MAX_LEN_GEN_TRIES * 2);

  // Message length of the synthetic answer: the last of 128 PRF candidates (masked to the bit size of
  // the largest possible length) that is small enough; no modulo, so no bias and no variable-time DIV.
  const maxSep = k - 2 - 8;
  let mask = maxSep;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  let syntheticLength = 0;
  for (let i = 0; i < MAX_LEN_GEN_TRIES * 2; i += 2) {
    const candidate = ((candidates[i] << 8) | candidates[i + 1]) & mask;
    syntheticLength = select(lt(candidate, maxSep), candidate, syntheticLength);
  }
  const syntheticIndex = k - syntheticLength;

  // 0x00 0x02 PS(≥ 8 non-zero bytes) 0x00 M
  let good = isZero(em[0]) & eq(em[1], 2);
  let found = 0;
  let zeroIndex = 0;
  for (let i = 2; i < k; i++) {
    const isZeroByte = isZero(em[i]);
    zeroIndex = select(~found & isZeroByte & 1, i, zeroIndex);
    found |= isZeroByte;
  }
  good &= 1 - lt(zeroIndex, 2 + 8);
  const msgIndex = select(good, zeroIndex + 1, syntheticIndex);

  // Read both buffers at every position so the memory access pattern does not depend on `good`.
  const out = Buffer.alloc(k - msgIndex);
  for (let i = msgIndex, j = 0; i < k; i++, j++) out[j] = select(good, em[i], synthetic[i]) & 0xff;
  return out;
}
