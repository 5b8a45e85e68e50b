// The small crypto pieces of approver management (spec multi-authorization §5): one-time codes (six
// digits, stored as a keyed hash), the onboarding transport encryption (AES-GCM keyed with the raw
// UTF-8 bytes of the transport password) and the backup wrapping under the RSA backup key.
import { constants, createCipheriv, createHmac, createPrivateKey, createPublicKey, privateDecrypt, publicEncrypt, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import { aesKeyUnwrapPad, aesKeyWrapPad } from '../crypto/wrapping/aes-kw.ts';
import { WardenError } from '../server/errors.ts';

/** A fresh six-digit one-time code (spec §5 sample "410447"), uniformly drawn. */
export function newOneTimeCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}

/**
 * The stored form of a code: HMAC-SHA256 under a secret of this Warden, bound to the approver. A plain
 * hash of six digits falls to a million guesses; with the key (sealed under the master key) a copy of
 * the database alone does not reveal codes.
 */
export function hashOneTimeCode(key: Buffer, approverName: string, code: string): string {
  return createHmac('sha256', key).update('warden/approver-otc\0').update(approverName, 'utf8').update('\0').update(code, 'utf8').digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Onboarding transport (spec §5): AES-GCM, key = the UTF-8 bytes of transportPassword (16 or 32 bytes,
 * AES-128 or AES-256), random 12-byte IV, the 128-bit tag appended to the ciphertext (Java style).
 */
export function transportKey(transportPassword: string | null): Buffer {
  const key = Buffer.from(transportPassword ?? '', 'utf8');
  if (key.length !== 16 && key.length !== 32) {
    throw new WardenError(600, `transportPassword must be 16 or 32 bytes of UTF-8 (it is the AES-128/256 key); got ${key.length}`);
  }
  return key;
}

export function transportEncrypt(key: Buffer, plaintext: Buffer): { encryptedPayload: string; initializationVector: string } {
  const iv = randomBytes(12);
  const cipher = createCipheriv(key.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return { encryptedPayload: body.toString('base64'), initializationVector: iv.toString('base64') };
}

/**
 * Backup wrapping (Warden format, README decision 8): a fresh AES-256 key encrypts the PKCS#8 with
 * RFC 5649 key wrap, and RSA-OAEP (SHA-256, MGF1-SHA-256) encrypts that AES key to the backup key.
 * The OAEP label names the purpose, so the blob is no RSA_WRAP_OAEP value: /v1/unwrap cannot turn it
 * into an extractable AES key. Layout: u16 length of the RSA part ‖ RSA part ‖ KWP part.
 */
const OAEP_LABEL = Buffer.from('warden/approver-backup/v1', 'utf8');

export function wrapBackup(backupPublicKey: Buffer, pkcs8: Buffer): Buffer {
  const kek = randomBytes(32);
  try {
    const rsa = publicEncrypt({ key: createPublicKey({ key: backupPublicKey, format: 'der', type: 'spki' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: OAEP_LABEL }, kek);
    const head = Buffer.alloc(2);
    head.writeUInt16BE(rsa.length, 0);
    return Buffer.concat([head, rsa, aesKeyWrapPad(kek, pkcs8)]);
  } finally {
    kek.fill(0);
  }
}

export function unwrapBackup(backupPrivateKey: Buffer, blob: Buffer): Buffer {
  if (blob.length < 2 || blob.length < 2 + blob.readUInt16BE(0) + 16) throw new WardenError(410, 'The approver backup is truncated');
  const n = blob.readUInt16BE(0);
  let kek: Buffer;
  try {
    kek = privateDecrypt({ key: createPrivateKey({ key: backupPrivateKey, format: 'der', type: 'pkcs8' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256', oaepLabel: OAEP_LABEL }, blob.subarray(2, 2 + n));
  } catch (e) {
    throw new WardenError(410, 'The approver backup does not open with the backup key', { cause: e });
  }
  try {
    return aesKeyUnwrapPad(kek, blob.subarray(2 + n));
  } catch (e) {
    throw new WardenError(410, 'The approver backup failed its integrity check', { cause: e });
  } finally {
    kek.fill(0);
  }
}
