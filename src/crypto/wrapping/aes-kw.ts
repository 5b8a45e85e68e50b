// AES key wrap (RFC 3394) and AES key wrap with padding (RFC 5649) on OpenSSL's id-aesN-wrap[-pad]
// ciphers, with the default initial values of both RFCs.
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';

/** RFC 3394 §2.2.3.1 default IV. */
const KW_IV = Buffer.from('A6A6A6A6A6A6A6A6', 'hex');
/** RFC 5649 §3 alternative initial value prefix (the 32-bit length is appended by OpenSSL). */
const KWP_AIV = Buffer.from('A65959A6', 'hex');

function cipherName(kek: Buffer, pad: boolean): string {
  if (![16, 24, 32].includes(kek.length)) throw new WardenError(613, `A ${kek.length * 8}-bit key is not an AES key-encryption key`);
  return `id-aes${kek.length * 8}-wrap${pad ? '-pad' : ''}`;
}

/** RFC 3394 wrap; the input must be a multiple of 8 bytes and at least 16 bytes. */
export function aesKeyWrap(kek: Buffer, data: Buffer): Buffer {
  if (data.length < 16 || data.length % 8 !== 0) {
    throw new WardenError(613, `AES key wrap (RFC 3394) needs key data of at least 16 bytes in multiples of 8 (got ${data.length}); use a _PAD_ method`);
  }
  const c = createCipheriv(cipherName(kek, false), kek, KW_IV);
  return Buffer.concat([c.update(data), c.final()]);
}

/** RFC 5649 wrap of 1 or more bytes. */
export function aesKeyWrapPad(kek: Buffer, data: Buffer): Buffer {
  if (data.length === 0) throw new WardenError(613, 'AES key wrap with padding needs at least one byte of key data');
  const c = createCipheriv(cipherName(kek, true), kek, KWP_AIV);
  return Buffer.concat([c.update(data), c.final()]);
}

function unwrap(kek: Buffer, wrapped: Buffer, pad: boolean): Buffer {
  const name = cipherName(kek, pad);
  // RFC 3394 output is n+1 ≥ 3 semiblocks; RFC 5649 output at least 2.
  if (wrapped.length % 8 !== 0 || wrapped.length < (pad ? 16 : 24)) {
    throw new WardenError(410, `Unwrapping failed: a wrapped key of ${wrapped.length} bytes is malformed`);
  }
  try {
    const d = createDecipheriv(name, kek, pad ? KWP_AIV : KW_IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch (e) {
    throw new WardenError(410, 'Unwrapping failed: the integrity check of the wrapped key failed (wrong key or method, or tampered data)', { cause: e });
  }
}

export const aesKeyUnwrap = (kek: Buffer, wrapped: Buffer): Buffer => unwrap(kek, wrapped, false);
export const aesKeyUnwrapPad = (kek: Buffer, wrapped: Buffer): Buffer => unwrap(kek, wrapped, true);
