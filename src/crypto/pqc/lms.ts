// Leighton-Micali hash-based signatures (RFC 8554): LM-OTS, LMS and HSS, SHA-256 with n = m = 32.
// Verification handles any HSS depth (the RFC's test cases are two-level); keys Warden generates are
// HSS with L = 1, whose one-time index lives in the keystore (src/keystore), never in this module.
// Private keys use the RFC 8554 Appendix A pseudorandom derivation from (I, SEED).
import { randomBytes } from 'node:crypto';
import { sha256Into } from './sha256.ts';

const N = 32;
const D_PBLC = 0x8080;
const D_MESG = 0x8181;
const D_LEAF = 0x8282;
const D_INTR = 0x8383;

export interface OtsParams {
  type: number;
  name: string;
  w: number;
  p: number;
  ls: number;
}

export interface LmsParams {
  type: number;
  name: string;
  h: number;
}

/** RFC 8554 §4.1 Table 1 (SHA-256, n = 32). */
export const OTS_TYPES: Record<number, OtsParams> = {
  1: { type: 1, name: 'LMOTS_SHA256_N32_W1', w: 1, p: 265, ls: 7 },
  2: { type: 2, name: 'LMOTS_SHA256_N32_W2', w: 2, p: 133, ls: 6 },
  3: { type: 3, name: 'LMOTS_SHA256_N32_W4', w: 4, p: 67, ls: 4 },
  4: { type: 4, name: 'LMOTS_SHA256_N32_W8', w: 8, p: 34, ls: 0 },
};

/** RFC 8554 §5.1 Table 2 (SHA-256, m = 32). */
export const LMS_TYPES: Record<number, LmsParams> = {
  5: { type: 5, name: 'LMS_SHA256_M32_H5', h: 5 },
  6: { type: 6, name: 'LMS_SHA256_M32_H10', h: 10 },
  7: { type: 7, name: 'LMS_SHA256_M32_H15', h: 15 },
  8: { type: 8, name: 'LMS_SHA256_M32_H20', h: 20 },
  9: { type: 9, name: 'LMS_SHA256_M32_H25', h: 25 },
};

const u32 = (b: Uint8Array, off: number) => ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}
function putU16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

/** coef(S, i, w) of RFC 8554 §3.1.3. */
function coef(s: Uint8Array, i: number, w: number): number {
  const perByte = 8 / w;
  return (s[Math.floor(i / perByte)] >>> (8 - (w * (i % perByte) + w))) & ((1 << w) - 1);
}

/** Q ‖ Cksm(Q) (RFC 8554 §4.4), the string whose w-bit digits the chains follow. */
function withChecksum(q: Uint8Array, ots: OtsParams): Uint8Array {
  const max = (1 << ots.w) - 1;
  let sum = 0;
  for (let i = 0; i < (N * 8) / ots.w; i++) sum += max - coef(q, i, ots.w);
  sum = (sum << ots.ls) & 0xffff;
  const out = new Uint8Array(N + 2);
  out.set(q);
  putU16(out, N, sum);
  return out;
}

/** Shared 55-byte buffer I ‖ u32 q ‖ u16 i ‖ u8 j ‖ tmp for the chain hashes (one SHA-256 block). */
const chainBuf = new Uint8Array(16 + 4 + 2 + 1 + N);

/** Runs a chain from step `from` to `to` (exclusive) on `value`, in place (RFC 8554 §4.3, §4.5). */
function chain(I: Uint8Array, q: number, i: number, value: Uint8Array, from: number, to: number): void {
  chainBuf.set(I, 0);
  putU32(chainBuf, 16, q);
  putU16(chainBuf, 20, i);
  chainBuf.set(value, 23);
  for (let j = from; j < to; j++) {
    chainBuf[22] = j;
    sha256Into(chainBuf, 55, chainBuf, 23);
  }
  value.set(chainBuf.subarray(23, 23 + N));
}

/** x_q[i] of RFC 8554 Appendix A: H(I ‖ u32 q ‖ u16 i ‖ 0xff ‖ SEED). */
function otsSecret(I: Uint8Array, seed: Uint8Array, q: number, i: number): Uint8Array {
  const b = new Uint8Array(16 + 4 + 2 + 1 + N);
  b.set(I, 0);
  putU32(b, 16, q);
  putU16(b, 20, i);
  b[22] = 0xff;
  b.set(seed, 23);
  const out = new Uint8Array(N);
  sha256Into(b, b.length, out);
  return out;
}

/** K = H(I ‖ u32 q ‖ u16 D_PBLC ‖ y[0] ‖ … ‖ y[p-1]). */
function otsPublicFromChains(I: Uint8Array, q: number, ys: Uint8Array[], out: Uint8Array, outOff: number): void {
  const b = new Uint8Array(22 + ys.length * N);
  b.set(I, 0);
  putU32(b, 16, q);
  putU16(b, 20, D_PBLC);
  ys.forEach((y, k) => b.set(y, 22 + k * N));
  sha256Into(b, b.length, out, outOff);
}

function otsPublic(I: Uint8Array, seed: Uint8Array, q: number, ots: OtsParams, out: Uint8Array, outOff: number): void {
  const ys: Uint8Array[] = [];
  const top = (1 << ots.w) - 1;
  for (let i = 0; i < ots.p; i++) {
    const x = otsSecret(I, seed, q, i);
    chain(I, q, i, x, 0, top);
    ys.push(x);
  }
  otsPublicFromChains(I, q, ys, out, outOff);
}

function messageDigest(I: Uint8Array, q: number, C: Uint8Array, msg: Uint8Array): Uint8Array {
  const b = new Uint8Array(22 + N + msg.length);
  b.set(I, 0);
  putU32(b, 16, q);
  putU16(b, 20, D_MESG);
  b.set(C, 22);
  b.set(msg, 22 + N);
  const out = new Uint8Array(N);
  sha256Into(b, b.length, out);
  return out;
}

/** The Warden HSS private key (L = 1): u32 L ‖ u32 lmsType ‖ u32 otsType ‖ I(16) ‖ SEED(32). */
export interface LmsPrivate {
  lms: LmsParams;
  ots: OtsParams;
  I: Uint8Array;
  seed: Uint8Array;
}

export const LMS_PRIVATE_LENGTH = 12 + 16 + N;

export function encodeLmsPrivate(lmsType: number, otsType: number, I: Uint8Array, seed: Uint8Array): Uint8Array {
  const b = new Uint8Array(LMS_PRIVATE_LENGTH);
  putU32(b, 0, 1);
  putU32(b, 4, lmsType);
  putU32(b, 8, otsType);
  b.set(I, 12);
  b.set(seed, 28);
  return b;
}

export function decodeLmsPrivate(b: Uint8Array): LmsPrivate {
  if (b.length !== LMS_PRIVATE_LENGTH || u32(b, 0) !== 1) throw new Error('not a Warden HSS (L=1) private key');
  const lms = LMS_TYPES[u32(b, 4)];
  const ots = OTS_TYPES[u32(b, 8)];
  if (!lms || !ots) throw new Error('unknown LMS or LM-OTS type');
  return { lms, ots, I: b.slice(12, 28), seed: b.slice(28, 28 + N) };
}

export function generateLmsPrivate(lmsType: number, otsType: number): Uint8Array {
  return encodeLmsPrivate(lmsType, otsType, randomBytes(16), randomBytes(N));
}

/** Full Merkle trees by private key, T[1..2^(h+1)) as one buffer (RFC 8554 §5.3). */
const trees = new Map<string, Uint8Array>();

function treeOf(key: LmsPrivate, raw: Uint8Array): Uint8Array {
  const id = Buffer.from(raw).toString('base64');
  const cached = trees.get(id);
  if (cached) return cached;
  const { I, seed, lms, ots } = key;
  const leaves = 2 ** lms.h;
  const T = new Uint8Array(2 * leaves * N);
  const buf = new Uint8Array(22 + 2 * N);
  buf.set(I, 0);
  const k = new Uint8Array(N);
  for (let q = 0; q < leaves; q++) {
    otsPublic(I, seed, q, ots, k, 0);
    const r = leaves + q;
    putU32(buf, 16, r);
    putU16(buf, 20, D_LEAF);
    buf.set(k, 22);
    sha256Into(buf, 22 + N, T, r * N);
  }
  for (let r = leaves - 1; r >= 1; r--) {
    putU32(buf, 16, r);
    putU16(buf, 20, D_INTR);
    buf.set(T.subarray(2 * r * N, 2 * r * N + 2 * N), 22);
    sha256Into(buf, 22 + 2 * N, T, r * N);
  }
  if (trees.size >= 16) trees.delete(trees.keys().next().value as string);
  trees.set(id, T);
  return T;
}

/** HSS public key (L = 1): u32 1 ‖ u32 lmsType ‖ u32 otsType ‖ I ‖ T[1] (RFC 8554 §6.1, §5.3). */
export function lmsPublicKey(raw: Uint8Array): Uint8Array {
  const key = decodeLmsPrivate(raw);
  const T = treeOf(key, raw);
  const out = new Uint8Array(4 + 8 + 16 + N);
  putU32(out, 0, 1);
  putU32(out, 4, key.lms.type);
  putU32(out, 8, key.ots.type);
  out.set(key.I, 12);
  out.set(T.subarray(N, 2 * N), 28);
  return out;
}

export function lmsCapacity(raw: Uint8Array): number {
  return 2 ** decodeLmsPrivate(raw).lms.h;
}

/** HSS signature with leaf `q` (L = 1: u32 Nspk = 0 ‖ LMS signature, RFC 8554 §6.2, §5.4.1, §4.5). */
export function lmsSign(raw: Uint8Array, q: number, msg: Uint8Array, fixedC?: Uint8Array): Uint8Array {
  const key = decodeLmsPrivate(raw);
  const { I, seed, lms, ots } = key;
  const leaves = 2 ** lms.h;
  if (!Number.isInteger(q) || q < 0 || q >= leaves) throw new Error(`LMS index ${q} is out of range`);
  const T = treeOf(key, raw);
  // C is random (RFC 8554 §4.5); a fixed C exists only for the RFC's known-answer test.
  const C = fixedC ?? randomBytes(N);
  const Q = withChecksum(messageDigest(I, q, C, msg), ots);
  const sig = new Uint8Array(4 + 4 + 4 + N + ots.p * N + 4 + lms.h * N);
  let off = 0;
  putU32(sig, off, 0);
  putU32(sig, (off += 4), q);
  putU32(sig, (off += 4), ots.type);
  sig.set(C, (off += 4));
  off += N;
  for (let i = 0; i < ots.p; i++) {
    const y = otsSecret(I, seed, q, i);
    chain(I, q, i, y, 0, coef(Q, i, ots.w));
    sig.set(y, off);
    off += N;
  }
  putU32(sig, off, lms.type);
  off += 4;
  let node = leaves + q;
  for (let i = 0; i < lms.h; i++) {
    const sib = node ^ 1;
    sig.set(T.subarray(sib * N, sib * N + N), off);
    off += N;
    node >>>= 1;
  }
  return sig;
}

/** A parsed LMS public key: type, OTS type, I, root. */
interface LmsPub {
  lms: LmsParams;
  ots: OtsParams;
  I: Uint8Array;
  root: Uint8Array;
}

function parseLmsPub(b: Uint8Array, off: number): { pub: LmsPub; end: number } | null {
  if (off + 8 > b.length) return null;
  const lms = LMS_TYPES[u32(b, off)];
  const ots = OTS_TYPES[u32(b, off + 4)];
  if (!lms || !ots) return null;
  const end = off + 8 + 16 + N;
  if (end > b.length) return null;
  return { pub: { lms, ots, I: b.slice(off + 8, off + 24), root: b.slice(off + 24, end) }, end };
}

/** Length of an LMS signature starting at `off` (needs its embedded types), or -1. */
function lmsSigLength(b: Uint8Array, off: number): number {
  if (off + 8 > b.length) return -1;
  const ots = OTS_TYPES[u32(b, off + 4)];
  if (!ots) return -1;
  const typeOff = off + 8 + N + ots.p * N;
  if (typeOff + 4 > b.length) return -1;
  const lms = LMS_TYPES[u32(b, typeOff)];
  if (!lms) return -1;
  return 8 + N + ots.p * N + 4 + lms.h * N;
}

/** RFC 8554 Algorithm 6a: LMS signature verification. */
function lmsVerify(pub: LmsPub, msg: Uint8Array, sig: Uint8Array): boolean {
  const { lms, ots, I } = pub;
  if (sig.length !== 8 + N + ots.p * N + 4 + lms.h * N) return false;
  const q = u32(sig, 0);
  if (u32(sig, 4) !== ots.type) return false;
  const leaves = 2 ** lms.h;
  if (q >= leaves) return false;
  if (u32(sig, 8 + N + ots.p * N) !== lms.type) return false;
  const C = sig.subarray(8, 8 + N);
  const Q = withChecksum(messageDigest(I, q, C, msg), ots);
  const top = (1 << ots.w) - 1;
  const zs: Uint8Array[] = [];
  for (let i = 0; i < ots.p; i++) {
    const z = sig.slice(8 + N + i * N, 8 + N + (i + 1) * N);
    chain(I, q, i, z, coef(Q, i, ots.w), top);
    zs.push(z);
  }
  const kc = new Uint8Array(N);
  otsPublicFromChains(I, q, zs, kc, 0);
  const buf = new Uint8Array(22 + 2 * N);
  buf.set(I, 0);
  let node = leaves + q;
  putU32(buf, 16, node);
  putU16(buf, 20, D_LEAF);
  buf.set(kc, 22);
  const tmp = new Uint8Array(N);
  sha256Into(buf, 22 + N, tmp);
  const pathOff = 8 + N + ots.p * N + 4;
  for (let i = 0; node > 1; i++) {
    const path = sig.subarray(pathOff + i * N, pathOff + (i + 1) * N);
    putU32(buf, 16, node >>> 1);
    putU16(buf, 20, D_INTR);
    if (node & 1) {
      buf.set(path, 22);
      buf.set(tmp, 22 + N);
    } else {
      buf.set(tmp, 22);
      buf.set(path, 22 + N);
    }
    sha256Into(buf, 22 + 2 * N, tmp);
    node >>>= 1;
  }
  return Buffer.from(tmp).equals(Buffer.from(pub.root));
}

/** RFC 8554 §6.3: HSS verification for any L (1..8). Malformed input is `false`. */
export function hssVerify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length < 4 || sig.length < 4) return false;
  const L = u32(publicKey, 0);
  if (L < 1 || L > 8) return false;
  const top = parseLmsPub(publicKey, 4);
  if (!top || top.end !== publicKey.length) return false;
  if (u32(sig, 0) !== L - 1) return false;
  let key = top.pub;
  let off = 4;
  for (let level = 0; level < L - 1; level++) {
    const len = lmsSigLength(sig, off);
    if (len < 0) return false;
    const lmsSig = sig.subarray(off, off + len);
    off += len;
    const next = parseLmsPub(sig, off);
    if (!next) return false;
    if (!lmsVerify(key, sig.subarray(off, next.end), lmsSig)) return false;
    key = next.pub;
    off = next.end;
  }
  return lmsVerify(key, msg, sig.subarray(off));
}

/** The leaf index q of an HSS signature with L = 1 (tests, crash recovery checks). */
export function hssSignatureIndex(sig: Uint8Array): number {
  return u32(sig, 4);
}

/** Validates an HSS public key's structure; returns its signature capacity for L = 1 keys. */
export function describeHssPublic(publicKey: Uint8Array): { levels: number; lms: LmsParams; ots: OtsParams } | null {
  if (publicKey.length < 4) return null;
  const L = u32(publicKey, 0);
  const top = parseLmsPub(publicKey, 4);
  if (L < 1 || L > 8 || !top || top.end !== publicKey.length) return null;
  return { levels: L, lms: top.pub.lms, ots: top.pub.ots };
}
