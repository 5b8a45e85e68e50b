// RSA encryption (RSAES-PKCS1-v1_5, RSAES-OAEP with SHA-1/2 + MGF1 of the same hash, raw RSA) per
// RFC 8017 §7. Public-key operations run inline (~30 µs); private-key ones go to the RSA pool.
// PKCS#1 v1.5 decryption = raw RSA + implicit-rejection unpadding (implicit-rejection.ts).
import { constants, createPrivateKey, createPublicKey, publicEncrypt, type KeyObject } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import type { KeyMaterial } from '../families/types.ts';
import { implicitRejectionKey, privateExponentHash, unpadPkcs1Type2 } from './implicit-rejection.ts';
import type { OaepHash, RsaCipher } from './registry.ts';
import { RsaDecryptError, rsaPrivateDecrypt } from './rsa-pool.ts';

const HASH_BYTES: Record<OaepHash, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

interface PrivateEntry {
  key: KeyObject;
  k: number;
  dHash: Buffer | null;
}

// Parsed keys by the identity of the sealed DER buffer the keystore hands out (stable while the
// keystore keeps the unsealed key cached); parsing an RSA key costs more than a public-key operation.
const publicCache = new WeakMap<Buffer, { key: KeyObject; k: number }>();
const privateCache = new WeakMap<Buffer, PrivateEntry>();

const modulusBytes = (key: KeyObject): number => Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);

export function rsaPublicKey(material: KeyMaterial): { key: KeyObject; k: number } {
  const der = material.publicKey;
  if (!der) throw new WardenError(613, 'The key has no RSA public key');
  let entry = publicCache.get(der);
  if (!entry) {
    const key = createPublicKey({ key: der, format: 'der', type: 'spki' });
    entry = { key, k: modulusBytes(key) };
    publicCache.set(der, entry);
  }
  return entry;
}

export function rsaPrivateKey(material: KeyMaterial): PrivateEntry {
  const der = material.privateKey;
  if (!der) throw new WardenError(613, 'Decryption needs an RSA private key; this key holds only the public part');
  let entry = privateCache.get(der);
  if (!entry) {
    const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    entry = { key, k: modulusBytes(key), dHash: null };
    privateCache.set(der, entry);
  }
  return entry;
}

/** Largest plaintext for a modulus of k bytes (RFC 8017 §7.1.1 and §7.2.1). */
export function rsaMaxPlaintext(cipher: Pick<RsaCipher, 'padding' | 'oaepHash'>, k: number): number {
  if (cipher.padding === 'pkcs1') return k - 11;
  if (cipher.padding === 'oaep') return k - 2 * HASH_BYTES[cipher.oaepHash ?? 'sha1'] - 2;
  return k;
}

export function rsaEncrypt(cipher: Pick<RsaCipher, 'name' | 'padding' | 'oaepHash'>, material: KeyMaterial, plaintext: Buffer): Buffer {
  const { key, k } = rsaPublicKey(material);
  const max = rsaMaxPlaintext(cipher, k);
  if (plaintext.length > max) {
    throw new WardenError(612, `${cipher.name} with a ${k * 8}-bit key encrypts at most ${Math.max(0, max)} bytes (got ${plaintext.length})`);
  }
  try {
    switch (cipher.padding) {
      case 'pkcs1':
        return publicEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, plaintext);
      case 'oaep':
        return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: cipher.oaepHash ?? 'sha1' }, plaintext);
      case 'none': {
        // The payload is an integer below the modulus, left-padded to k bytes (spec §4.4, Go README).
        const block = Buffer.alloc(k);
        plaintext.copy(block, k - plaintext.length);
        return publicEncrypt({ key, padding: constants.RSA_NO_PADDING }, block);
      }
    }
  } catch (e) {
    throw new WardenError(612, `${cipher.name}: the payload cannot be encrypted with this key (for RSA_NO_PADDING it must be smaller than the modulus)`, { cause: e });
  }
}

/**
 * RSA decryption. Bad OAEP encodings and ciphertexts that are not an integer below the modulus are
 * 410; bad PKCS#1 v1.5 padding is never an error (implicit rejection, see implicit-rejection.ts).
 * RSA_NO_PADDING returns the whole modulus-size block (spec §4.4).
 */
export async function rsaDecrypt(cipher: Pick<RsaCipher, 'name' | 'padding' | 'oaepHash'>, material: KeyMaterial, ciphertext: Buffer): Promise<Buffer> {
  const entry = rsaPrivateKey(material);
  const { key, k } = entry;
  if (ciphertext.length === 0 || ciphertext.length > k) {
    throw new WardenError(410, `Decryption failed: an RSA ciphertext for a ${k * 8}-bit key has at most ${k} bytes (got ${ciphertext.length})`);
  }
  try {
    if (cipher.padding === 'oaep') return await rsaPrivateDecrypt(key, constants.RSA_PKCS1_OAEP_PADDING, cipher.oaepHash ?? 'sha1', ciphertext);
    const em = await rsaPrivateDecrypt(key, constants.RSA_NO_PADDING, null, ciphertext);
    if (cipher.padding === 'none') return em;
    entry.dHash ??= privateExponentHash(key);
    return unpadPkcs1Type2(em, implicitRejectionKey(entry.dHash, ciphertext, k));
  } catch (e) {
    if (e instanceof RsaDecryptError) throw new WardenError(410, `Decryption failed (${cipher.name}): wrong key or corrupted ciphertext`, { cause: e });
    if (e instanceof WardenError) throw e;
    // A worker that died mid-operation: the keystore's fault, not the caller's (the pool respawns it).
    throw new WardenError(701, 'The RSA operation failed in the crypto worker; retry the call', { cause: e });
  }
}
