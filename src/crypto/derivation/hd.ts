// Hierarchical deterministic keys (spec §2.3, §2.7, §3.7, §3.8): BIP-32 on secp256k1 through
// @scure/bip32, SLIP-0010 on NIST P-256 and Ed25519 (hardened only) implemented here. One extended-key
// shape for all three curves; paths are parsed once (`44'/60'/0'`, also `h`/`H`).
import { createHmac } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { HDKey } from '@scure/bip32';
import { WardenError } from '../../server/errors.ts';

export type HdCurve = 'secp256k1' | 'nist256p1' | 'ed25519';

export const HARDENED = 0x80000000;

export interface ExtendedKey {
  curve: HdCurve;
  privateKey: Uint8Array;
  chainCode: Uint8Array;
  depth: number;
  /** First 4 bytes of HASH160 of the parent's public key (0 for a master key), as a number. */
  parentFingerprint: number;
  index: number;
}

const SEED_KEYS: Record<HdCurve, string> = { secp256k1: 'Bitcoin seed', nist256p1: 'Nist256p1 seed', ed25519: 'ed25519 seed' };

const hmac512 = (key: Uint8Array | string, data: Uint8Array) => new Uint8Array(createHmac('sha512', key).update(data).digest());
const toBig = (b: Uint8Array) => BigInt('0x' + (Buffer.from(b).toString('hex') || '0'));
const toBytes32 = (n: bigint) => Buffer.from(n.toString(16).padStart(64, '0'), 'hex');
const ser32 = (i: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i >>> 0);
  return b;
};

/** serP: the 33-byte compressed point; for Ed25519 SLIP-10 uses 0x00 ‖ the 32-byte public key. */
export function publicKeyOf(key: Pick<ExtendedKey, 'curve' | 'privateKey'>): Uint8Array {
  if (key.curve === 'ed25519') return Buffer.concat([Buffer.from([0]), ed25519.getPublicKey(key.privateKey)]);
  if (key.curve === 'nist256p1') return p256.getPublicKey(key.privateKey, true);
  return new HDKey({ privateKey: key.privateKey, chainCode: new Uint8Array(32) }).publicKey as Uint8Array;
}

export function hash160(data: Uint8Array): Uint8Array {
  return ripemd160(sha256(data));
}

export function fingerprintOf(key: Pick<ExtendedKey, 'curve' | 'privateKey'>): number {
  return Buffer.from(hash160(publicKeyOf(key))).readUInt32BE(0);
}

/** Master key generation (BIP-32 §Master key generation, SLIP-0010 with its retry rule). */
export function masterFromSeed(curve: HdCurve, seed: Uint8Array): ExtendedKey {
  if (seed.length < 16 || seed.length > 64) throw new WardenError(600, `seed must be 128 to 512 bits, got ${seed.length * 8}`);
  if (curve === 'secp256k1') {
    const k = HDKey.fromMasterSeed(seed);
    return { curve, privateKey: k.privateKey as Uint8Array, chainCode: k.chainCode as Uint8Array, depth: 0, parentFingerprint: 0, index: 0 };
  }
  let I = hmac512(SEED_KEYS[curve], seed);
  if (curve === 'nist256p1') {
    const n = p256.Point.Fn.ORDER;
    for (;;) {
      const k = toBig(I.subarray(0, 32));
      if (k !== 0n && k < n) break;
      I = hmac512(SEED_KEYS[curve], I);
    }
  }
  return { curve, privateKey: I.slice(0, 32), chainCode: I.slice(32), depth: 0, parentFingerprint: 0, index: 0 };
}

/** CKDpriv (BIP-32; SLIP-0010 for P-256 with its retry rule and for Ed25519, hardened only). */
export function deriveChild(parent: ExtendedKey, index: number): ExtendedKey {
  const hardened = index >= HARDENED;
  if (parent.curve === 'ed25519' && !hardened) {
    throw new WardenError(634, `Ed25519 (SLIP-0010) derives hardened children only; index ${index} is not hardened (use ${index}')`);
  }
  if (parent.depth >= 255) throw new WardenError(634, 'Derivation paths are at most 255 levels deep');
  const next = { depth: parent.depth + 1, parentFingerprint: fingerprintOf(parent), index };
  if (parent.curve === 'secp256k1') {
    const k = new HDKey({ privateKey: parent.privateKey, chainCode: parent.chainCode, depth: parent.depth, index: parent.index, parentFingerprint: parent.parentFingerprint }).deriveChild(index);
    return { curve: 'secp256k1', privateKey: k.privateKey as Uint8Array, chainCode: k.chainCode as Uint8Array, ...next };
  }
  const data = hardened
    ? Buffer.concat([Buffer.from([0]), parent.privateKey, ser32(index)])
    : Buffer.concat([publicKeyOf(parent), ser32(index)]);
  let I = hmac512(parent.chainCode, data);
  if (parent.curve === 'ed25519') return { curve: 'ed25519', privateKey: I.slice(0, 32), chainCode: I.slice(32), ...next };
  const n = p256.Point.Fn.ORDER;
  const kpar = toBig(parent.privateKey);
  for (;;) {
    const il = toBig(I.subarray(0, 32));
    const ki = (il + kpar) % n;
    if (il < n && ki !== 0n) return { curve: 'nist256p1', privateKey: toBytes32(ki), chainCode: I.slice(32), ...next };
    I = hmac512(parent.chainCode, Buffer.concat([Buffer.from([1]), I.subarray(32), ser32(index)]));
  }
}

/**
 * Parses a derivation path without a leading `m/` (spec §3.8: `1/2/3`, `44'/0'/0'`); a leading `m/`
 * is tolerated. Hardened segments end in `'`, `h` or `H`. Malformed paths are 600.
 */
export function parsePath(path: string): number[] {
  const trimmed = path.startsWith('m/') ? path.slice(2) : path === 'm' ? '' : path;
  if (trimmed === '') return [];
  return trimmed.split('/').map((seg) => {
    const m = /^(\d{1,10})(['hH]?)$/.exec(seg);
    if (!m) throw new WardenError(600, `Invalid derivation path segment '${seg}' in '${path}'`);
    const n = Number(m[1]);
    if (n >= HARDENED) throw new WardenError(600, `Derivation index ${n} is out of range (use ' for hardened indices)`);
    return m[2] ? n + HARDENED : n;
  });
}

export function formatPath(indices: readonly number[]): string {
  return indices.map((i) => (i >= HARDENED ? `${i - HARDENED}'` : String(i))).join('/');
}

export function derivePath(key: ExtendedKey, indices: readonly number[]): ExtendedKey {
  return indices.reduce(deriveChild, key);
}
