// Key wrapping with ML-KEM (wrap methods ML-KEM-512/768/1024; docs/algorithms.md). The TSB lists the
// names but defines no construction, so Warden's is: wrappedKey = c ‖ AES-256-KWP(K, key), where
// (K, c) = ML-KEM.Encaps(ek) (FIPS 203 Algorithm 20) and AES-KWP is RFC 5649 keyed with the 32-byte
// shared secret K directly (SP 800-227 §4.4: the shared secret may be used as a symmetric key). A
// fresh encapsulation per wrap means each K wraps exactly one key. Unwrap decapsulates the first
// |c| bytes (implicit rejection: a wrong c gives a wrong K) and the KWP integrity check fails (410).
import { WardenError } from '../../server/errors.ts';
import type { KeyMaterial } from '../families/types.ts';
import { ML_KEM } from '../families/ml-kem.ts';
import { aesKeyUnwrapPad, aesKeyWrapPad } from '../wrapping/aes-kw.ts';
import { ML_KEM_OIDS, publicRaw, seedOrExpanded, type MlKemLevel } from './keys.ts';

export const ML_KEM_WRAP_LEVELS: readonly MlKemLevel[] = ['512', '768', '1024'];

export function kemLevelOf(algorithm: string): MlKemLevel {
  const level = algorithm.slice('ML-KEM-'.length) as MlKemLevel;
  if (!ML_KEM_WRAP_LEVELS.includes(level)) throw new WardenError(607, `${algorithm} is not an ML-KEM key`);
  return level;
}

export function kemWrap(level: MlKemLevel, material: KeyMaterial, keyBytes: Buffer): Buffer {
  const kem = ML_KEM[level];
  const ek = publicRaw(material, ML_KEM_OIDS[level], `ML-KEM-${level}`);
  const { cipherText, sharedSecret } = kem.encapsulate(ek);
  try {
    return Buffer.concat([cipherText, aesKeyWrapPad(Buffer.from(sharedSecret), keyBytes)]);
  } finally {
    sharedSecret.fill(0);
  }
}

export function kemUnwrap(level: MlKemLevel, material: KeyMaterial, wrapped: Buffer): Buffer {
  const kem = ML_KEM[level];
  const ctLen = kem.lengths.cipherText as number;
  if (wrapped.length < ctLen + 16) throw new WardenError(410, `Unwrapping failed: an ML-KEM-${level} wrapped key is a ${ctLen}-byte ciphertext followed by an RFC 5649 wrapping`);
  const { seed, expanded } = seedOrExpanded(material, ML_KEM_OIDS[level], `ML-KEM-${level}`);
  const dk = seed ? kem.keygen(seed).secretKey : (expanded as Buffer);
  const sharedSecret = kem.decapsulate(wrapped.subarray(0, ctLen), dk);
  try {
    return aesKeyUnwrapPad(Buffer.from(sharedSecret), wrapped.subarray(ctLen));
  } finally {
    sharedSecret.fill(0);
  }
}
