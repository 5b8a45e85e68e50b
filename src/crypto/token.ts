// Keys whose material stays on a PKCS#11 token (src/keystore/pkcs11): the crypto layer sees the public
// key and a TokenKey handle, and runs each private/secret-key operation through it with a mechanism
// named here in Warden terms (the keystore maps it onto CKM_* and its parameters). Where the token has
// no mechanism for what was asked, the answer is 611, never a software fallback with the key.
import { WardenError } from '../server/errors.ts';
import { bytesToBigint, encodeSignatureDer } from './signatures/der.ts';

export type TokenHash = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export type TokenMechanism =
  /** RSA PKCS#1 v1.5 over the payload, hashed on the token (CKM_SHA*_RSA_PKCS); hash null = CKM_RSA_PKCS on given bytes. */
  | { name: 'RSA_PKCS1'; hash: TokenHash | null }
  | { name: 'RSA_PSS'; hash: TokenHash; saltLength: number; prehashed?: boolean }
  | { name: 'RSA_OAEP'; hash: TokenHash; label?: Buffer | null }
  /** RSAES-PKCS1-v1_5 decryption (CKM_RSA_PKCS) and raw RSA (CKM_RSA_X_509). */
  | { name: 'RSA_PKCS1_DECRYPT' }
  | { name: 'RSA_RAW' }
  /** ECDSA: `hash` = the token hashes (CKM_ECDSA_SHA*) or Warden pre-hashes for CKM_ECDSA; null = the payload is the digest. Raw r‖s. */
  | { name: 'ECDSA'; hash: TokenHash | null }
  | { name: 'EDDSA' }
  | { name: 'AES_GCM'; iv: Buffer; aad: Buffer | null; tagBits: number }
  | { name: 'AES_CBC'; iv: Buffer; pad: boolean }
  | { name: 'AES_ECB' }
  | { name: 'AES_CTR'; iv: Buffer; counterBits: number }
  | { name: 'AES_KEY_WRAP'; pad: boolean }
  | { name: 'HMAC'; hash: TokenHash }
  /** Triple-DES (CKM_DES3_CBC, CKM_DES3_CBC_PAD, CKM_DES3_ECB). */
  | { name: 'DES3_CBC'; iv: Buffer; pad: boolean }
  | { name: 'DES3_ECB' }
  /** DSA: `hash` = the token hashes (CKM_DSA_SHA*) or Warden pre-hashes for CKM_DSA; null = the payload is the digest. Raw r‖s. */
  | { name: 'DSA'; hash: TokenHash | null };

export type TokenKeyKind = 'RSA' | 'EC' | 'ED' | 'DSA' | 'AES' | 'HMAC' | 'DES3';

/**
 * An unwrap the token runs itself (C_UnwrapKey): the wrapped bytes become the new key's token object
 * when the keystore creates it, so the key never exists outside the token (src/keystore/pkcs11/custody.ts).
 */
export interface TokenUnwrap {
  key: TokenKey;
  mechanism: TokenMechanism;
  wrapped: Buffer;
  /** The key's length in bytes as the format tells it (RFC 3394: wrapped − 8), for tokens that set no CKA_VALUE_LEN. */
  length: number;
}

export interface TokenKey {
  readonly kind: TokenKeyKind;
  sign(mechanism: TokenMechanism, data: Buffer): Promise<Buffer>;
  verify(mechanism: TokenMechanism, data: Buffer, signature: Buffer): Promise<boolean>;
  encrypt(mechanism: TokenMechanism, data: Buffer): Promise<Buffer>;
  decrypt(mechanism: TokenMechanism, data: Buffer): Promise<Buffer>;
  /** Wraps `target` (another key of the same token) under this key with C_WrapKey. */
  wrapKey(mechanism: TokenMechanism, target: TokenKey): Promise<Buffer>;
  /** Wraps this key with C_WrapKey under an RSA public key (SPKI), loaded onto the token as a session object. */
  wrapUnderPublicKey(mechanism: TokenMechanism, spki: Buffer): Promise<Buffer>;
  /**
   * C_UnwrapKey under this key into a short-lived session object that releases its value: the bytes
   * of an incoming private key Warden must parse (its public key is not readable from a private
   * object), then import onto the token like a plain import. Needs CKA_UNWRAP, not CKA_DECRYPT.
   */
  unwrapToBytes(mechanism: TokenMechanism, wrapped: Buffer): Promise<Buffer>;
  /** ECDH (CKM_ECDH1_DERIVE, no KDF) with a peer's uncompressed point: the shared secret, for a KDF Warden runs. */
  ecdh(peerPoint: Buffer): Promise<Buffer>;
}

/** 611 for an operation the token cannot run on its own key. */
export function refusedOnToken(what: string): WardenError {
  return new WardenError(611, `the PKCS#11 token has no mechanism for ${what}; Warden never takes a key out of the token to do it in software`);
}

/** Raw r‖s (PKCS#11 ECDSA output) → DER ECDSA-Sig-Value. */
export function rawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  return encodeSignatureDer({ r: bytesToBigint(raw.subarray(0, half)), s: bytesToBigint(raw.subarray(half)) });
}
