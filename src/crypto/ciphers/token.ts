// Encryption and decryption with a key on a PKCS#11 token (src/crypto/token.ts). AES and TDEA modes and RSA
// decryption run on the token; RSA encryption uses the public key in software (public work, as for
// any RSA public key). IVs are drawn here (Warden's CSPRNG, as in software) and sent to the token.
import { randomBytes } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import type { TokenKey, TokenMechanism } from '../token.ts';
import { refusedOnToken } from '../token.ts';
import type { CipherDescriptor, SymmetricCipher } from './registry.ts';
import type { SymmetricDecryptOptions, SymmetricEncryption, SymmetricOptions } from './symmetric.ts';

function aesMechanism(cipher: SymmetricCipher, iv: Buffer | null, opts: SymmetricOptions): TokenMechanism {
  if (cipher.keyAlgorithm === 'TDEA') {
    // PKCS#5 padding of ECB is Warden's (below), as for AES.
    if (cipher.mode === 'cbc') return { name: 'DES3_CBC', iv: iv as Buffer, pad: cipher.padding === 'pkcs5' };
    if (cipher.mode === 'ecb') return { name: 'DES3_ECB' };
    throw refusedOnToken(cipher.name);
  }
  if (cipher.keyAlgorithm !== 'AES') throw refusedOnToken(`${cipher.name}`);
  switch (cipher.mode) {
    case 'gcm':
      return { name: 'AES_GCM', iv: iv as Buffer, aad: opts.aad, tagBits: opts.tagBits };
    case 'ctr':
      return { name: 'AES_CTR', iv: iv as Buffer, counterBits: 128 };
    case 'cbc':
      return { name: 'AES_CBC', iv: iv as Buffer, pad: cipher.padding === 'pkcs5' };
    case 'ecb':
      return { name: 'AES_ECB' };
    default:
      throw refusedOnToken(cipher.name);
  }
}

/** PKCS#5 padding of ECB (the token's CKM_AES_ECB has none): public structure, added and checked here. */
function pad(data: Buffer, block: number): Buffer {
  const n = block - (data.length % block);
  return Buffer.concat([data, Buffer.alloc(n, n)]);
}

function unpad(data: Buffer, block: number): Buffer {
  const n = data.length > 0 ? data[data.length - 1] : 0;
  if (n < 1 || n > block || n > data.length || !data.subarray(data.length - n).every((b) => b === n)) {
    throw new WardenError(410, 'Decryption failed (wrong key or IV, bad padding or truncated data)');
  }
  return data.subarray(0, data.length - n);
}

export async function tokenSymmetricEncrypt(cipher: SymmetricCipher, token: TokenKey, plaintext: Buffer, opts: SymmetricOptions): Promise<SymmetricEncryption> {
  if (cipher.padding === 'none' && cipher.blockSize > 1 && plaintext.length % cipher.blockSize !== 0) {
    throw new WardenError(612, `${cipher.name} needs a payload whose length is a multiple of ${cipher.blockSize} bytes (got ${plaintext.length})`);
  }
  const iv = cipher.ivLength > 0 ? randomBytes(cipher.ivLength) : null;
  const mechanism = aesMechanism(cipher, iv, opts);
  const data = cipher.mode === 'ecb' && cipher.padding === 'pkcs5' ? pad(plaintext, cipher.blockSize) : plaintext;
  const out = await token.encrypt(mechanism, data);
  if (!cipher.aead) return { ciphertext: out, iv, tag: null };
  const tagBytes = opts.tagBits / 8;
  return { ciphertext: out.subarray(0, out.length - tagBytes), iv, tag: out.subarray(out.length - tagBytes) };
}

export async function tokenSymmetricDecrypt(cipher: SymmetricCipher, token: TokenKey, data: Buffer, opts: SymmetricDecryptOptions): Promise<Buffer> {
  if (cipher.ivLength > 0) {
    if (!opts.iv || opts.iv.length === 0) throw new WardenError(600, `initializationVector is required for ${cipher.name}`);
    if (opts.iv.length !== cipher.ivLength) throw new WardenError(600, `initializationVector must be ${cipher.ivLength} bytes for ${cipher.name} (got ${opts.iv.length})`);
  }
  if (cipher.aead && data.length < opts.tagBits / 8) throw new WardenError(410, `encryptedPayload is shorter than the ${opts.tagBits}-bit tag`);
  const mechanism = aesMechanism(cipher, opts.iv, opts);
  let plain: Buffer;
  try {
    plain = await token.decrypt(mechanism, data);
  } catch (e) {
    // The token's "data invalid" (wrong tag, padding, length) is the caller's decryption failure.
    if (e instanceof WardenError && e.code === 612) throw new WardenError(410, cipher.aead ? 'Decryption failed: the tag does not match (wrong key, IV, AAD or tampered data)' : 'Decryption failed (wrong key or IV, bad padding or truncated data)', { cause: e });
    throw e;
  }
  return cipher.mode === 'ecb' && cipher.padding === 'pkcs5' ? unpad(plain, cipher.blockSize) : plain;
}

/** RSA decryption on the token: OAEP, PKCS#1 v1.5 (CKM_RSA_PKCS: a bad padding is the token's error, 410) or raw. */
export async function tokenRsaDecrypt(cipher: Extract<CipherDescriptor, { kind: 'rsa' }> | { name: string; padding: 'pkcs1' | 'oaep' | 'none'; oaepHash: string | null }, token: TokenKey, ciphertext: Buffer): Promise<Buffer> {
  // The software path answers a bad PKCS#1 v1.5 padding with implicit rejection (a synthetic message
  // keyed from the private key) so that the answer is no padding oracle; around C_Decrypt Warden cannot
  // do that, and CKM_RSA_PKCS reports the bad padding. Refused rather than a Bleichenbacher oracle (F11).
  if (cipher.padding === 'pkcs1') throw refusedOnToken(`${cipher.name} decryption without implicit rejection (the token's CKM_RSA_PKCS answers a bad padding distinguishably; use OAEP)`);
  // An RSA ciphertext is as long as the modulus: an empty one is a failed decryption, as in software (and
  // the token's multi-part form, which an empty buffer would need, does not exist for RSA).
  if (ciphertext.length === 0) throw new WardenError(410, `Decryption failed (${cipher.name}): wrong key or corrupted ciphertext`);
  const mechanism: TokenMechanism =
    cipher.padding === 'oaep' ? { name: 'RSA_OAEP', hash: (cipher.oaepHash ?? 'sha1') as 'sha1' } : { name: 'RSA_RAW' };
  try {
    return await token.decrypt(mechanism, ciphertext);
  } catch (e) {
    if (e instanceof WardenError && e.code === 612) throw new WardenError(410, `Decryption failed (${cipher.name}): wrong key or corrupted ciphertext`, { cause: e });
    throw e;
  }
}
