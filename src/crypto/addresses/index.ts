// Crypto-currency addresses of a key (spec §2.6, §3.9). The wire carries the address *base*: the bytes
// without network prefix or checksum (Base64 in /v1/key/address, upper-case hex in addressTruncated);
// Warden also reports the usual text encoding. Formats and the keys they take:
//   BTC  secp256k1  HASH160(compressed public key), 20 bytes; text: P2PKH Base58Check, version 0x00
//   ETH  secp256k1  last 20 bytes of Keccak-256(X ‖ Y); text: EIP-55 mixed-case hex
//   XLM  Ed25519    the 32-byte public key; text: StrKey account ID ("G…", version 6 << 3, CRC16-XModem)
//   XRP  secp256k1 or Ed25519  account ID = HASH160(33-byte public key, Ed25519 prefixed 0xED); text: XRPL Base58Check ("r…")
//   IOTA Ed25519    BLAKE2b-256(public key) (Stardust Ed25519 address); text: bech32, hrp "iota", type byte 0x00
import { createPublicKey } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { blake2b } from '@noble/hashes/blake2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { base32nopad, base58check, base58xrp, bech32 } from '@scure/base';
import { WardenError } from '../../server/errors.ts';
import { hash160 } from '../derivation/hd.ts';
import { SECP256K1_OID } from '../derivation/keys.ts';

export const ADDRESS_FORMATS = ['BTC', 'ETH', 'XLM', 'XRP', 'IOTA'] as const;
export type AddressFormat = (typeof ADDRESS_FORMATS)[number];

export interface Address {
  format: AddressFormat;
  /** The address base: no network prefix, no checksum (spec §2.6). */
  raw: Buffer;
  /** The usual text form of the address. */
  encoded: string;
}

interface AddressKey {
  algorithm: string;
  curveOid: string | null;
  /** DER SubjectPublicKeyInfo. */
  publicKey: Buffer | null;
}

export function checkAddressFormat(format: string): AddressFormat {
  if (!(ADDRESS_FORMATS as readonly string[]).includes(format)) {
    throw new WardenError(605, `Unsupported crypto currency '${format}' (supported: ${ADDRESS_FORMATS.join(', ')})`);
  }
  return format as AddressFormat;
}

/** Which keys a format takes; 605 when the key's algorithm or curve cannot have that address. */
export function checkAddressKey(format: AddressFormat, key: { algorithm: string; curveOid: string | null }): void {
  const k1 = key.algorithm === 'EC' && key.curveOid === SECP256K1_OID;
  const ed = key.algorithm === 'ED';
  const ok = format === 'BTC' || format === 'ETH' ? k1 : format === 'XRP' ? k1 || ed : ed;
  if (!ok) {
    const needs = format === 'BTC' || format === 'ETH' ? 'an EC secp256k1 key' : format === 'XRP' ? 'an EC secp256k1 or ED key' : 'an ED (Ed25519) key';
    throw new WardenError(605, `${format} addresses need ${needs}; the key is ${key.algorithm}${key.curveOid ? ` on ${key.curveOid}` : ''}`);
  }
}

function rawPublic(key: AddressKey): Uint8Array {
  if (!key.publicKey) throw new WardenError(613, 'The key has no public part');
  const jwk = createPublicKey({ key: key.publicKey, format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const x = Buffer.from(jwk.x ?? '', 'base64url');
  if (key.algorithm === 'ED') return x;
  const y = Buffer.from(jwk.y ?? '', 'base64url');
  return Buffer.concat([Buffer.from([4]), x, y]);
}

/** CRC-16/XMODEM (poly 0x1021, init 0), Stellar's StrKey checksum. */
export function crc16xmodem(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

function eip55(addr: Uint8Array): string {
  const hex = Buffer.from(addr).toString('hex');
  const h = Buffer.from(keccak_256(new TextEncoder().encode(hex))).toString('hex');
  return '0x' + [...hex].map((c, i) => (parseInt(h[i], 16) >= 8 ? c.toUpperCase() : c)).join('');
}

const sha256d = (b: Uint8Array) => sha256(sha256(b));

export function addressOf(format: AddressFormat, key: AddressKey): Address {
  checkAddressKey(format, key);
  const pub = rawPublic(key);
  switch (format) {
    case 'BTC': {
      const raw = hash160(secp256k1.Point.fromBytes(pub).toBytes(true));
      return { format, raw: Buffer.from(raw), encoded: base58check(sha256).encode(Buffer.concat([Buffer.from([0]), raw])) };
    }
    case 'ETH': {
      const raw = keccak_256(pub.subarray(1)).subarray(12);
      return { format, raw: Buffer.from(raw), encoded: eip55(raw) };
    }
    case 'XLM': {
      const body = Buffer.concat([Buffer.from([6 << 3]), pub]);
      const crc = crc16xmodem(body);
      return { format, raw: Buffer.from(pub), encoded: base32nopad.encode(Buffer.concat([body, Buffer.from([crc & 0xff, crc >>> 8])])) };
    }
    case 'XRP': {
      const serialized = key.algorithm === 'ED' ? Buffer.concat([Buffer.from([0xed]), pub]) : secp256k1.Point.fromBytes(pub).toBytes(true);
      const raw = hash160(serialized);
      const payload = Buffer.concat([Buffer.from([0]), raw]);
      return { format, raw: Buffer.from(raw), encoded: base58xrp.encode(Buffer.concat([payload, sha256d(payload).subarray(0, 4)])) };
    }
    case 'IOTA': {
      const raw = blake2b(pub, { dkLen: 32 });
      return { format, raw: Buffer.from(raw), encoded: bech32.encode('iota', bech32.toWords(Buffer.concat([Buffer.from([0]), raw]))) };
    }
  }
}

/** Spec §2.4 addressTruncated of an SKA key with an addressFormat: upper-case hex of the address base. */
export function addressTruncatedOf(info: AddressKey & { ext?: { addressFormat?: string } | null }): { address: string; format: string } | null {
  const format = info.ext?.addressFormat;
  if (!format || !info.publicKey) return null;
  const a = addressOf(checkAddressFormat(format), info);
  return { address: a.raw.toString('hex').toUpperCase(), format: a.format };
}
