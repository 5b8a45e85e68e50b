// Encrypt and decrypt with an opened key: checks that the cipher fits the key's algorithm (607) and
// shapes the result into the four fields of spec §4.4 (EncryptRequestResponseDto).
import type { OpenedKey } from '../../keystore/interface.ts';
import { WardenError } from '../../server/errors.ts';
import type { CipherDescriptor } from './registry.ts';
import { rsaDecrypt, rsaEncrypt } from './rsa.ts';
import { symmetricDecrypt, symmetricEncrypt } from './symmetric.ts';
import { tokenRsaDecrypt, tokenSymmetricDecrypt, tokenSymmetricEncrypt } from './token.ts';

export interface EncryptResult {
  /** Ciphertext, with the tag appended for AEAD modes. */
  encryptedPayload: Buffer;
  encryptedPayloadWithoutMessageAuthenticationCode: Buffer | null;
  initializationVector: Buffer | null;
  messageAuthenticationCode: Buffer | null;
}

export interface CipherParameters {
  aad: Buffer | null;
  /** Tag bits for AEAD modes (tagBitsFor), 0 otherwise. */
  tagBits: number;
}

function checkFits(cipher: CipherDescriptor, key: OpenedKey): void {
  if (key.info.algorithm !== cipher.keyAlgorithm) {
    throw new WardenError(607, `${cipher.name} needs ${cipher.keyAlgorithm === 'RSA' ? 'an' : 'a'} ${cipher.keyAlgorithm} key; '${key.info.label}' is a ${key.info.algorithm} key`);
  }
}

function secretOf(key: OpenedKey): Buffer {
  if (!key.material.secret) throw new WardenError(613, `'${key.info.label}' holds no secret key`);
  return key.material.secret;
}

export async function encryptWith(cipher: CipherDescriptor, key: OpenedKey, plaintext: Buffer, params: CipherParameters): Promise<EncryptResult> {
  checkFits(cipher, key);
  if (cipher.kind === 'rsa') {
    // RSA: the three optional fields are null (spec §4.4, documented sample).
    return {
      encryptedPayload: rsaEncrypt(cipher, key.material, plaintext),
      encryptedPayloadWithoutMessageAuthenticationCode: null,
      initializationVector: null,
      messageAuthenticationCode: null,
    };
  }
  // A key on a PKCS#11 token encrypts there (src/crypto/ciphers/token.ts).
  const token = key.material.token;
  const r = token ? await tokenSymmetricEncrypt(cipher, token, plaintext, params) : symmetricEncrypt(cipher, secretOf(key), plaintext, params);
  return {
    encryptedPayload: r.tag ? Buffer.concat([r.ciphertext, r.tag]) : r.ciphertext,
    // Without a MAC the ciphertext "without MAC" is the ciphertext itself (docs/decisions.md).
    encryptedPayloadWithoutMessageAuthenticationCode: r.ciphertext,
    initializationVector: r.iv,
    messageAuthenticationCode: r.tag,
  };
}

export async function decryptWith(cipher: CipherDescriptor, key: OpenedKey, data: Buffer, params: CipherParameters & { iv: Buffer | null }): Promise<Buffer> {
  checkFits(cipher, key);
  const token = key.material.token;
  if (cipher.kind === 'rsa') return token ? tokenRsaDecrypt(cipher, token, data) : rsaDecrypt(cipher, key.material, data);
  return token ? tokenSymmetricDecrypt(cipher, token, data, params) : symmetricDecrypt(cipher, secretOf(key), data, params);
}
