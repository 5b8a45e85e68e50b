// Symmetric encryption and decryption for the descriptors of the cipher registry (AES, Camellia,
// TDEA, ChaCha20 in the modes of spec §4.4) on node:crypto. IVs and nonces are generated here.
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCMTypes } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import type { SymmetricCipher } from './registry.ts';

export interface SymmetricEncryption {
  /** Ciphertext without the tag. */
  ciphertext: Buffer;
  /** The IV / nonce as it goes on the wire; null for ECB. */
  iv: Buffer | null;
  /** The AEAD tag; null for non-AEAD modes. */
  tag: Buffer | null;
}

export interface SymmetricOptions {
  aad: Buffer | null;
  /** Tag length in bits for AEAD modes (already validated by tagBitsFor). */
  tagBits: number;
}

/**
 * OpenSSL's chacha20 takes a 16-byte IV: a 32-bit little-endian block counter followed by the
 * 96-bit nonce (RFC 8439 §2.3). The wire carries the 12-byte nonce and the counter starts at 0;
 * a 16-byte IV (counter ‖ nonce, OpenSSL layout) is accepted on decrypt for other start counters.
 */
function chachaIv(nonce: Buffer): Buffer {
  return nonce.length === 16 ? nonce : Buffer.concat([Buffer.alloc(4), nonce]);
}

function checkKey(cipher: SymmetricCipher, key: Buffer): string {
  const name = cipher.nodeName(key.length);
  const ok =
    cipher.keyAlgorithm === 'TDEA' ? key.length === 24 : cipher.keyAlgorithm === 'ChaCha20' ? key.length === 32 : [16, 24, 32].includes(key.length);
  if (!ok) throw new WardenError(603, `A ${key.length * 8}-bit key cannot be used with ${cipher.name}`);
  return name;
}

export function symmetricEncrypt(cipher: SymmetricCipher, key: Buffer, plaintext: Buffer, opts: SymmetricOptions): SymmetricEncryption {
  const name = checkKey(cipher, key);
  if (cipher.padding === 'none' && cipher.blockSize > 1 && plaintext.length % cipher.blockSize !== 0) {
    throw new WardenError(612, `${cipher.name} needs a payload whose length is a multiple of ${cipher.blockSize} bytes (got ${plaintext.length})`);
  }
  const iv = cipher.ivLength > 0 ? randomBytes(cipher.ivLength) : null;
  const nodeIv = iv && cipher.mode === 'chacha20' ? chachaIv(iv) : iv;
  if (cipher.aead) {
    // GCM and ChaCha20-Poly1305 share node's CipherGCM interface (AAD before data, tag after final).
    const c = createCipheriv(name as CipherGCMTypes, key, nodeIv as Buffer, { authTagLength: opts.tagBits / 8 });
    if (opts.aad) c.setAAD(opts.aad);
    const ciphertext = Buffer.concat([c.update(plaintext), c.final()]);
    return { ciphertext, iv, tag: c.getAuthTag() };
  }
  const c = createCipheriv(name, key, nodeIv);
  if (cipher.padding === 'none') c.setAutoPadding(false);
  return { ciphertext: Buffer.concat([c.update(plaintext), c.final()]), iv, tag: null };
}

export interface SymmetricDecryptOptions extends SymmetricOptions {
  iv: Buffer | null;
}

/**
 * Decrypts `data` (for AEAD modes: ciphertext ‖ tag). Every failure of the data itself (wrong tag,
 * wrong AAD, bad padding, truncated input) is 410 res.error.decrypt.failed; malformed parameters
 * (missing or wrong-size IV) are 600.
 */
export function symmetricDecrypt(cipher: SymmetricCipher, key: Buffer, data: Buffer, opts: SymmetricDecryptOptions): Buffer {
  const name = checkKey(cipher, key);
  let iv: Buffer | null = null;
  if (cipher.ivLength > 0) {
    if (!opts.iv || opts.iv.length === 0) throw new WardenError(600, `initializationVector is required for ${cipher.name}`);
    const okLength = opts.iv.length === cipher.ivLength || (cipher.mode === 'chacha20' && opts.iv.length === 16);
    if (!okLength) throw new WardenError(600, `initializationVector must be ${cipher.ivLength} bytes for ${cipher.name} (got ${opts.iv.length})`);
    iv = cipher.mode === 'chacha20' ? chachaIv(opts.iv) : opts.iv;
  }
  let body = data;
  let tag: Buffer | null = null;
  if (cipher.aead) {
    const tagBytes = opts.tagBits / 8;
    if (data.length < tagBytes) throw new WardenError(410, `encryptedPayload is shorter than the ${opts.tagBits}-bit tag`);
    body = data.subarray(0, data.length - tagBytes);
    tag = data.subarray(data.length - tagBytes);
  }
  try {
    if (tag) {
      const d = createDecipheriv(name as CipherGCMTypes, key, iv as Buffer, { authTagLength: tag.length });
      d.setAuthTag(tag);
      if (opts.aad) d.setAAD(opts.aad);
      return Buffer.concat([d.update(body), d.final()]);
    }
    const d = createDecipheriv(name, key, iv);
    if (cipher.padding === 'none') d.setAutoPadding(false);
    return Buffer.concat([d.update(body), d.final()]);
  } catch (e) {
    throw new WardenError(410, cipher.aead ? 'Decryption failed: the tag does not match (wrong key, IV, AAD or tampered data)' : 'Decryption failed (wrong key or IV, bad padding or truncated data)', { cause: e });
  }
}
