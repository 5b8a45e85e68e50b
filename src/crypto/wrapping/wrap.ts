// Wrapping and unwrapping key bytes with an opened key (spec §4.6, §4.7, README decision 7): checks that
// the method fits the wrapping key (607) and the wrapped key (613), then runs RFC 3394 / RFC 5649 / RSA.
import type { OpenedKey } from '../../keystore/interface.ts';
import { WardenError } from '../../server/errors.ts';
import { rsaDecrypt, rsaEncrypt } from '../ciphers/rsa.ts';
import type { KeyFamily, KeyParams } from '../families/types.ts';
import { familyFor } from '../registry.ts';
import { kemLevelOf, kemUnwrap, kemWrap } from '../pqc/kem-wrap.ts';
import { aesKeyUnwrap, aesKeyUnwrapPad, aesKeyWrap, aesKeyWrapPad } from './aes-kw.ts';
import type { WrapMethod } from './registry.ts';
import { refusedOnToken, type TokenKey, type TokenMechanism, type TokenUnwrap } from '../token.ts';

/** OAEP for RSA_WRAP_OAEP: SHA-256 with MGF1-SHA-256 (docs/decisions.md; the vendor leaves it open). */
const OAEP_WRAP = { padding: 'oaep', oaepHash: 'sha256' } as const;
const PKCS1_WRAP = { padding: 'pkcs1', oaepHash: null } as const;

/** The wrapping (or unwrapping) key must be of the method's algorithm (607) and hold what it needs. */
export function checkWrappingKey(method: WrapMethod, key: OpenedKey, direction: 'wrap' | 'unwrap'): void {
  const token = key.material.token;
  if (token && method.scheme === 'ml-kem') throw refusedOnToken(`${direction === 'wrap' ? 'wrapping' : 'unwrapping'} with ${method.name} (docs/hsm.md)`);
  if (key.info.algorithm !== method.wrappingAlgorithm) {
    throw new WardenError(607, `${method.name} needs ${method.wrappingAlgorithm === 'AES' ? 'an AES' : method.wrappingAlgorithm === 'RSA' ? 'an RSA' : `an ${method.wrappingAlgorithm}`} key to ${direction} with; '${key.info.label}' is a ${key.info.algorithm} key`);
  }
  // A token key's secret or private half is on the token: its key class says what it holds.
  const holdsSecret = token ? key.info.keyClass === 'secret' : !!key.material.secret;
  const holdsPrivate = token ? key.info.keyClass === 'private' : !!key.material.privateKey;
  if (method.wrappingAlgorithm === 'AES' && !holdsSecret) throw new WardenError(613, `'${key.info.label}' holds no secret key`);
  if (method.scheme === 'ml-kem' && direction === 'unwrap' && !holdsPrivate) {
    throw new WardenError(613, `Unwrapping with ${method.name} needs the ML-KEM private key; '${key.info.label}' holds only the public part`);
  }
  if (method.wrappingAlgorithm === 'RSA' && direction === 'unwrap' && !holdsPrivate) {
    throw new WardenError(613, `Unwrapping with ${method.name} needs an RSA private key; '${key.info.label}' holds only the public part`);
  }
}

/** The key a method can carry (613 otherwise): a secret key, or a private key of the method's family. */
function checkWrappable(method: WrapMethod, key: OpenedKey): void {
  const { info } = key;
  if (method.target === 'secret') {
    if (info.keyClass !== 'secret') throw new WardenError(613, `${method.name} wraps symmetric keys; '${info.label}' is a ${info.algorithm} ${info.keyClass} key (use AES_WRAP[_PAD]_${info.algorithm})`);
    return;
  }
  if (info.algorithm !== method.target) throw new WardenError(613, `${method.name} wraps ${method.target} private keys; '${info.label}' is a ${info.algorithm} key`);
  if (info.keyClass !== 'private' && info.keyClass !== 'secret') throw new WardenError(613, `'${info.label}' holds only a public key; there is no private key to wrap`);
}

/**
 * Wrapping a key that lives on the token: C_WrapKey there, the key's bytes never reach Warden. The
 * result is what the software keystore produces for the method: RFC 3394/5649 of the secret, RFC 3394
 * of the PKCS#8 zero-padded to 8 bytes (the token pads like README decision 7; an EC key's PKCS#8 from
 * the token omits the optional public key), or RSAES of the secret under the wrapping key's public key.
 */
export async function wrapOnToken(method: WrapMethod, wrapping: OpenedKey, target: OpenedKey): Promise<Buffer> {
  checkWrappingKey(method, wrapping, 'wrap');
  checkWrappable(method, target);
  const token = target.material.token as TokenKey;
  switch (method.scheme) {
    case 'kw':
    case 'kwp': {
      if (method.scheme === 'kwp' && method.target !== 'secret') {
        // PKCS#11 leaves the encoding before RFC 5649 to the token; SoftHSM zero-pads the PKCS#8 first,
        // so the result would not unwrap to the key's PKCS#8 as the software keystore's does.
        throw refusedOnToken(`${method.name} of a private key (the token pads the PKCS#8 before RFC 5649; use AES_WRAP_${method.target})`);
      }
      const kek = wrapping.material.token;
      if (!kek) throw refusedOnToken(`wrapping the token key '${target.info.label}' under a key that is not on the token`);
      return kek.wrapKey({ name: 'AES_KEY_WRAP', pad: method.scheme === 'kwp' }, token);
    }
    case 'rsa-pkcs1':
    case 'rsa-oaep': {
      const spki = wrapping.info.publicKey ?? wrapping.material.publicKey;
      if (!spki) throw new WardenError(613, `'${wrapping.info.label}' has no RSA public key to wrap with`);
      return token.wrapUnderPublicKey(method.scheme === 'rsa-oaep' ? { name: 'RSA_OAEP', hash: 'sha256' } : { name: 'RSA_PKCS1_DECRYPT' }, spki);
    }
    default:
      throw refusedOnToken(`wrapping with ${method.name}`);
  }
}

/** The bytes a method carries for a key: the raw secret, the PKCS#8 DER, or (BLS) the raw private key. */
export function wrappableBytes(method: WrapMethod, key: OpenedKey): Buffer {
  const { info, material } = key;
  // A token key's bytes never reach Warden: wrapOnToken runs C_WrapKey there.
  if (material.token) throw refusedOnToken(`wrapping the token key '${info.label}' with ${method.name}`);
  if (method.target === 'secret') {
    if (info.keyClass !== 'secret' || !material.secret) {
      throw new WardenError(613, `${method.name} wraps symmetric keys; '${info.label}' is a ${info.algorithm} ${info.keyClass} key (use AES_WRAP[_PAD]_${info.algorithm})`);
    }
    return material.secret;
  }
  if (info.algorithm !== method.target) {
    throw new WardenError(613, `${method.name} wraps ${method.target} private keys; '${info.label}' is a ${info.algorithm} key`);
  }
  // BLS is handled generically: whatever private bytes its family stores (raw key, decision 7).
  const bytes = method.target === 'BLS' ? (material.privateKey ?? material.secret) : material.privateKey;
  if (!bytes) throw new WardenError(613, `'${info.label}' holds only a public key; there is no private key to wrap`);
  return bytes;
}

/** README decision 7: zero-pad to a multiple of 8 bytes for RFC 3394 (DER keeps its own length). */
function zeroPad8(data: Buffer): Buffer {
  const rem = data.length % 8;
  return rem === 0 ? data : Buffer.concat([data, Buffer.alloc(8 - rem)]);
}

/**
 * Undoes zeroPad8 for a DER structure: reads the outer TLV length and drops the (< 8) zero bytes
 * after it. Data that is not such a DER structure (a raw BLS key, already a multiple of 8) is returned as it is.
 */
export function trimDerPadding(data: Buffer): Buffer {
  if (data.length < 2 || data[0] !== 0x30) return data;
  let len: number;
  let header: number;
  if (data[1] < 0x80) {
    len = data[1];
    header = 2;
  } else {
    const n = data[1] & 0x7f;
    if (n === 0 || n > 4 || data.length < 2 + n) return data;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + data[2 + i];
    header = 2 + n;
  }
  const total = header + len;
  if (total > data.length || data.length - total >= 8) return data;
  for (let i = total; i < data.length; i++) if (data[i] !== 0) return data;
  return data.subarray(0, total);
}

export async function wrapBytes(method: WrapMethod, wrapping: OpenedKey, bytes: Buffer): Promise<Buffer> {
  checkWrappingKey(method, wrapping, 'wrap');
  const rsaName = { name: method.name };
  switch (method.scheme) {
    case 'kw':
      return aesKeyWrap(wrapping.material.secret as Buffer, method.target === 'secret' ? bytes : zeroPad8(bytes));
    case 'kwp':
      return aesKeyWrapPad(wrapping.material.secret as Buffer, bytes);
    case 'rsa-pkcs1':
      return rsaEncrypt({ ...rsaName, ...PKCS1_WRAP }, wrapping.material, bytes);
    case 'rsa-oaep':
      return rsaEncrypt({ ...rsaName, ...OAEP_WRAP }, wrapping.material, bytes);
    case 'ml-kem':
      return kemWrap(kemLevelOf(method.wrappingAlgorithm), wrapping.material, bytes);
  }
}

/**
 * Unwraps to the key bytes. AES methods authenticate the data (410 on a failed integrity check);
 * RSA_WRAP_PAD uses implicit rejection, so a bad padding surfaces as bytes that are no valid key.
 */
export async function unwrapBytes(method: WrapMethod, unwrapping: OpenedKey, wrapped: Buffer): Promise<Buffer> {
  checkWrappingKey(method, unwrapping, 'unwrap');
  const rsaName = { name: method.name };
  if (unwrapping.material.token) throw refusedOnToken(`unwrapping to bytes with the token key '${unwrapping.info.label}'`);
  switch (method.scheme) {
    case 'kw': {
      const data = aesKeyUnwrap(unwrapping.material.secret as Buffer, wrapped);
      return method.target === 'secret' ? data : trimDerPadding(data);
    }
    case 'kwp':
      return aesKeyUnwrapPad(unwrapping.material.secret as Buffer, wrapped);
    case 'rsa-pkcs1':
      return rsaDecrypt({ ...rsaName, ...PKCS1_WRAP }, unwrapping.material, wrapped);
    case 'rsa-oaep':
      return rsaDecrypt({ ...rsaName, ...OAEP_WRAP }, unwrapping.material, wrapped);
    case 'ml-kem':
      return kemUnwrap(kemLevelOf(method.wrappingAlgorithm), unwrapping.material, wrapped);
  }
}

/**
 * What an unwrap with a token key yields. A secret key is unwrapped by the token straight into its new
 * object when the keystore creates it (C_UnwrapKey, `onToken`). A private key's PKCS#8 is unwrapped
 * with C_UnwrapKey into a short-lived session object and read back (its public key, which the row
 * needs, cannot be read from a private object), then imported onto the token like a plain import.
 */
export type Unwrapped = { bytes: Buffer; onToken?: undefined } | { bytes?: undefined; onToken: TokenUnwrap };

export async function unwrapKey(method: WrapMethod, unwrapping: OpenedKey, wrapped: Buffer): Promise<Unwrapped> {
  const token = unwrapping.material.token;
  if (!token) return { bytes: await unwrapBytes(method, unwrapping, wrapped) };
  checkWrappingKey(method, unwrapping, 'unwrap');
  const mechanism = unwrapMechanism(method);
  if (method.target === 'secret' && method.scheme === 'kw') {
    if (wrapped.length % 8 !== 0 || wrapped.length < 24) throw new WardenError(410, `Unwrapping failed: a wrapped key of ${wrapped.length} bytes is malformed`);
    return { onToken: { key: token, mechanism, wrapped, length: wrapped.length - 8 } };
  }
  // RFC 5649 and RSA hide the secret's length, and SoftHSM 2.6 sets no CKA_VALUE_LEN on an unwrapped
  // key: Warden could not tell a 20-byte secret from an AES-192 key without seeing it (docs/hsm.md).
  return { bytes: await unwrapOnToken(method, token, mechanism, wrapped) };
}

function unwrapMechanism(method: WrapMethod): TokenMechanism {
  switch (method.scheme) {
    case 'kw':
    case 'kwp':
      return { name: 'AES_KEY_WRAP', pad: method.scheme === 'kwp' };
    case 'rsa-pkcs1':
      return { name: 'RSA_PKCS1_DECRYPT' };
    case 'rsa-oaep':
      return { name: 'RSA_OAEP', hash: 'sha256' };
    default:
      throw refusedOnToken(`unwrapping with ${method.name}`);
  }
}

async function unwrapOnToken(method: WrapMethod, token: TokenKey, mechanism: TokenMechanism, wrapped: Buffer): Promise<Buffer> {
  if (method.scheme.startsWith('rsa')) {
    return token.unwrapToBytes(mechanism, wrapped).catch((e: unknown) => {
      if (e instanceof WardenError && e.code === 612) throw new WardenError(410, `Unwrapping failed (${method.name}): wrong key or corrupted data`, { cause: e });
      throw e;
    });
  }
  if (method.wrappingAlgorithm === 'AES' && (wrapped.length % 8 !== 0 || wrapped.length < (method.scheme === 'kwp' ? 16 : 24))) {
    throw new WardenError(410, `Unwrapping failed: a wrapped key of ${wrapped.length} bytes is malformed`);
  }
  const data = await token.unwrapToBytes(mechanism, wrapped).catch(unwrapFailed);
  return method.scheme === 'kw' && method.target !== 'secret' ? trimDerPadding(data) : data;
}

function unwrapFailed(e: unknown): never {
  if (e instanceof WardenError && e.code === 612) throw new WardenError(410, 'Unwrapping failed: the integrity check of the wrapped key failed (wrong key or tampered data)', { cause: e });
  throw e;
}

/**
 * Family of an unwrapped key. Asymmetric methods name it; a wrapped secret carries no algorithm, so
 * the caller may name it (unwrapKeyRequest.algorithm, a Warden extension; checked before unwrapping)
 * and otherwise a 16/24/32-byte secret is an AES key, as the TSB reports for the Go client's AES
 * round trip (docs/decisions.md). Returns null when the length fits no AES key.
 */
export function unwrappedFamily(method: WrapMethod, byteLength: number, requested: string | null | undefined): KeyFamily | null {
  if (method.target !== 'secret') {
    if (requested && requested !== method.target) throw new WardenError(600, `${method.name} unwraps ${method.target} keys, not ${requested}`);
    return familyFor(method.target);
  }
  if (requested) {
    const f = familyFor(requested);
    if (!f.symmetric) throw new WardenError(600, `${method.name} unwraps symmetric keys; ${requested} is not one`);
    return f;
  }
  return [16, 24, 32].includes(byteLength) ? familyFor('AES') : null;
}

/** Parameters of a secret the token is about to unwrap: its real size replaces them once the token knows it. */
export function provisionalParams(family: KeyFamily): KeyParams {
  return family.resolve({ keySize: family.algorithm === 'TDEA' ? null : 256 });
}
