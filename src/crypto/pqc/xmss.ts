// XMSS (RFC 8391) with the parameter sets of NIST SP 800-208 that Warden offers: XMSS-SHA2_10_256
// (OID 0x00000001) and XMSS-SHAKE256_10_256 (OID 0x00000010); n = 32, w = 16, h = 10. WOTS+ secret
// keys come from PRF_keygen(SK_SEED, PUB_SEED ‖ ADRS) (SP 800-208 §5.1, as the reference code does).
// The one-time index is the keystore's (src/keystore); this module signs with the index it is given.
import { hash as nodeHash, randomBytes } from 'node:crypto';
import { sha256Into, sha256Midstate } from './sha256.ts';

const N = 32;
const W = 16;
const LEN1 = 64;
const LEN2 = 3;
const LEN = LEN1 + LEN2;
const H = 10;

export interface XmssParams {
  oid: number;
  name: string;
  /** Wire name of the signature algorithm / key type (spec §2.1, §4.1). */
  wireName: string;
  hash: 'sha256' | 'shake256';
}

export const XMSS_PARAMS: Record<number, XmssParams> = {
  0x01: { oid: 0x01, name: 'XMSS-SHA2_10_256', wireName: 'XMSS-SHA256_10_256', hash: 'sha256' },
  0x10: { oid: 0x10, name: 'XMSS-SHAKE256_10_256', wireName: 'XMSS-SHAKE256_10_256', hash: 'shake256' },
};

export const XMSS_HEIGHT = H;
export const XMSS_SIGNATURE_LENGTH = 4 + N + LEN * N + H * N;

const u32 = (b: Uint8Array, off: number) => ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
function putU32(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 24) & 0xff;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** The hash functions of RFC 8391 §5.1 / SP 800-208 §5 for one key: F, H, H_msg, PRF, PRF_keygen. */
class Hashes {
  private readonly buf = new Uint8Array(4 * N);
  private readonly prfMid: Int32Array | null;
  private readonly keygenMid: Int32Array | null;
  private readonly shake: boolean;
  private readonly skSeed: Uint8Array | null;

  constructor(
    params: XmssParams,
    readonly pubSeed: Uint8Array,
    skSeed: Uint8Array | null,
  ) {
    this.shake = params.hash === 'shake256';
    const block = new Uint8Array(64);
    block[31] = 3;
    block.set(pubSeed, 32);
    this.prfMid = this.shake ? null : sha256Midstate(block);
    if (skSeed && !this.shake) {
      block.fill(0);
      block[31] = 4;
      block.set(skSeed, 32);
      this.keygenMid = sha256Midstate(block);
    } else {
      this.keygenMid = null;
    }
    this.skSeed = skSeed;
  }

  private digest(data: Uint8Array, len: number, out: Uint8Array, outOff: number): void {
    if (this.shake) out.set(nodeHash('shake256', data.subarray(0, len), 'buffer'), outOff);
    else sha256Into(data, len, out, outOff);
  }

  /** PRF(PUB_SEED, ADRS) = Hash(toByte(3, 32) ‖ PUB_SEED ‖ ADRS). */
  prf(adrs: Uint8Array, out: Uint8Array, outOff = 0): void {
    if (this.prfMid) {
      sha256Into(adrs, 32, out, outOff, this.prfMid, 64);
      return;
    }
    const b = this.buf;
    b.fill(0, 0, 32);
    b[31] = 3;
    b.set(this.pubSeed, 32);
    b.set(adrs, 64);
    this.digest(b, 96, out, outOff);
  }

  /** PRF_keygen(SK_SEED, PUB_SEED ‖ ADRS) = Hash(toByte(4, 32) ‖ SK_SEED ‖ PUB_SEED ‖ ADRS). */
  prfKeygen(adrs: Uint8Array, out: Uint8Array, outOff = 0): void {
    if (!this.skSeed) throw new Error('no secret seed');
    const b = this.buf;
    if (this.keygenMid) {
      b.set(this.pubSeed, 0);
      b.set(adrs, 32);
      sha256Into(b, 64, out, outOff, this.keygenMid, 64);
      return;
    }
    b.fill(0, 0, 32);
    b[31] = 4;
    b.set(this.skSeed, 32);
    b.set(this.pubSeed, 64);
    b.set(adrs, 96);
    this.digest(b, 128, out, outOff);
  }

  /** F(KEY, M) = Hash(toByte(0, 32) ‖ KEY ‖ M); `m` already masked. */
  f(key: Uint8Array, m: Uint8Array, out: Uint8Array, outOff = 0): void {
    const b = this.buf;
    b.fill(0, 0, 32);
    b.set(key, 32);
    b.set(m, 64);
    this.digest(b, 96, out, outOff);
  }

  /** H(KEY, M) = Hash(toByte(1, 32) ‖ KEY ‖ M), M = masked left ‖ right (64 bytes). */
  h(key: Uint8Array, m: Uint8Array, out: Uint8Array, outOff = 0): void {
    const b = this.buf;
    b.fill(0, 0, 32);
    b[31] = 1;
    b.set(key, 32);
    b.set(m, 64);
    this.digest(b, 128, out, outOff);
  }

  /** H_msg(r ‖ root ‖ toByte(idx, 32), M) = Hash(toByte(2, 32) ‖ r ‖ root ‖ idx ‖ M). */
  hMsg(r: Uint8Array, root: Uint8Array, idx: number, msg: Uint8Array): Uint8Array {
    const b = new Uint8Array(4 * N + msg.length);
    b[31] = 2;
    b.set(r, 32);
    b.set(root, 64);
    putU32(b, 124, idx);
    b.set(msg, 128);
    const out = new Uint8Array(N);
    this.digest(b, b.length, out, 0);
    return out;
  }
}

/** ADRS (RFC 8391 §2.5): layer, tree (8 bytes), type, then 4 type-specific words. */
const adrs = (type: number) => {
  const a = new Uint8Array(32);
  putU32(a, 12, type);
  return a;
};
const setWord = (a: Uint8Array, word: number, v: number) => putU32(a, 4 * word, v);
// Words: 4 = OTS / L-tree address / padding, 5 = chain / tree height, 6 = hash / tree index, 7 = keyAndMask.

const tmpKey = new Uint8Array(N);
const tmpMask = new Uint8Array(N);
const tmpIn = new Uint8Array(2 * N);

/** chain(X, start, steps) of RFC 8391 Algorithm 2, in place on `x`. */
function chain(hs: Hashes, x: Uint8Array, start: number, steps: number, a: Uint8Array): void {
  for (let j = start; j < start + steps && j < W; j++) {
    setWord(a, 6, j);
    setWord(a, 7, 0);
    hs.prf(a, tmpKey);
    setWord(a, 7, 1);
    hs.prf(a, tmpMask);
    for (let k = 0; k < N; k++) tmpIn[k] = x[k] ^ tmpMask[k];
    hs.f(tmpKey, tmpIn.subarray(0, N), x);
  }
}

/** RAND_HASH of RFC 8391 Algorithm 7 with the node address `a` (type 1 or 2). */
function randHash(hs: Hashes, left: Uint8Array, right: Uint8Array, a: Uint8Array, out: Uint8Array, outOff = 0): void {
  setWord(a, 7, 0);
  hs.prf(a, tmpKey);
  setWord(a, 7, 1);
  hs.prf(a, tmpMask);
  for (let k = 0; k < N; k++) tmpIn[k] = left[k] ^ tmpMask[k];
  setWord(a, 7, 2);
  hs.prf(a, tmpMask);
  for (let k = 0; k < N; k++) tmpIn[N + k] = right[k] ^ tmpMask[k];
  hs.h(tmpKey, tmpIn, out, outOff);
}

/** base_w digits of the message plus checksum (RFC 8391 Algorithm 5 / 6, w = 16). */
function digits(m: Uint8Array): number[] {
  const d: number[] = [];
  for (const byte of m) d.push(byte >>> 4, byte & 15);
  let csum = 0;
  for (const v of d) csum += W - 1 - v;
  csum <<= 4; // (8 - ((len2 * lg(w)) % 8)) = 4
  d.push((csum >>> 12) & 15, (csum >>> 8) & 15, (csum >>> 4) & 15);
  return d;
}

/** L-tree of RFC 8391 Algorithm 8: compresses the WOTS+ public key of leaf `leaf`. */
function lTree(hs: Hashes, pk: Uint8Array[], leaf: number, out: Uint8Array, outOff: number): void {
  const a = adrs(1);
  setWord(a, 4, leaf);
  let len = pk.length;
  let height = 0;
  const nodes = pk.map((p) => p.slice());
  while (len > 1) {
    setWord(a, 5, height);
    const half = Math.floor(len / 2);
    for (let i = 0; i < half; i++) {
      setWord(a, 6, i);
      randHash(hs, nodes[2 * i], nodes[2 * i + 1], a, nodes[i]);
    }
    if (len % 2 === 1) nodes[half] = nodes[len - 1];
    len = Math.ceil(len / 2);
    height++;
  }
  out.set(nodes[0], outOff);
}

function wotsSecret(hs: Hashes, leaf: number, i: number): Uint8Array {
  const a = adrs(0);
  setWord(a, 4, leaf);
  setWord(a, 5, i);
  const out = new Uint8Array(N);
  hs.prfKeygen(a, out);
  return out;
}

function leafNode(hs: Hashes, leaf: number, out: Uint8Array, outOff: number): void {
  const pk: Uint8Array[] = [];
  const a = adrs(0);
  setWord(a, 4, leaf);
  for (let i = 0; i < LEN; i++) {
    const x = wotsSecret(hs, leaf, i);
    setWord(a, 5, i);
    chain(hs, x, 0, W - 1, a);
    pk.push(x);
  }
  lTree(hs, pk, leaf, out, outOff);
}

/** Warden's XMSS private key: u32 OID ‖ SK_SEED ‖ SK_PRF ‖ PUB_SEED (the root is recomputed). */
export interface XmssPrivate {
  params: XmssParams;
  skSeed: Uint8Array;
  skPrf: Uint8Array;
  pubSeed: Uint8Array;
}

export const XMSS_PRIVATE_LENGTH = 4 + 3 * N;

export function encodeXmssPrivate(oid: number, skSeed: Uint8Array, skPrf: Uint8Array, pubSeed: Uint8Array): Uint8Array {
  const b = new Uint8Array(XMSS_PRIVATE_LENGTH);
  putU32(b, 0, oid);
  b.set(skSeed, 4);
  b.set(skPrf, 4 + N);
  b.set(pubSeed, 4 + 2 * N);
  return b;
}

export function decodeXmssPrivate(b: Uint8Array): XmssPrivate {
  const params = b.length === XMSS_PRIVATE_LENGTH ? XMSS_PARAMS[u32(b, 0)] : undefined;
  if (!params) throw new Error('not a Warden XMSS private key');
  return { params, skSeed: b.slice(4, 4 + N), skPrf: b.slice(4 + N, 4 + 2 * N), pubSeed: b.slice(4 + 2 * N, 4 + 3 * N) };
}

export function generateXmssPrivate(oid: number): Uint8Array {
  return encodeXmssPrivate(oid, randomBytes(N), randomBytes(N), randomBytes(N));
}

/** Full trees by private key: level k (0 = leaves) at offset (2^(H+1) - 2^(H+1-k)) * N. */
const trees = new Map<string, Uint8Array>();
const levelOffset = (k: number) => (2 ** (H + 1) - 2 ** (H + 1 - k)) * N;

function treeOf(raw: Uint8Array): { key: XmssPrivate; hs: Hashes; T: Uint8Array } {
  const key = decodeXmssPrivate(raw);
  const hs = new Hashes(key.params, key.pubSeed, key.skSeed);
  const id = Buffer.from(raw).toString('base64');
  const cached = trees.get(id);
  if (cached) return { key, hs, T: cached };
  const T = new Uint8Array((2 ** (H + 1) - 1) * N);
  for (let leaf = 0; leaf < 2 ** H; leaf++) leafNode(hs, leaf, T, leaf * N);
  const a = adrs(2);
  for (let k = 0; k < H; k++) {
    setWord(a, 5, k);
    const below = levelOffset(k);
    const here = levelOffset(k + 1);
    for (let j = 0; j < 2 ** (H - k - 1); j++) {
      setWord(a, 6, j);
      randHash(hs, T.subarray(below + 2 * j * N, below + (2 * j + 1) * N), T.subarray(below + (2 * j + 1) * N, below + (2 * j + 2) * N), a, T, here + j * N);
    }
  }
  if (trees.size >= 16) trees.delete(trees.keys().next().value as string);
  trees.set(id, T);
  return { key, hs, T };
}

const rootOf = (T: Uint8Array) => T.subarray(levelOffset(H), levelOffset(H) + N);

/** XMSS public key (RFC 8391 §4.1.7): u32 OID ‖ root ‖ PUB_SEED. */
export function xmssPublicKey(raw: Uint8Array): Uint8Array {
  const { key, T } = treeOf(raw);
  const out = new Uint8Array(4 + 2 * N);
  putU32(out, 0, key.params.oid);
  out.set(rootOf(T), 4);
  out.set(key.pubSeed, 4 + N);
  return out;
}

/** XMSS signature with index `idx` (RFC 8391 Algorithm 12): idx ‖ r ‖ WOTS+ signature ‖ auth path. */
export function xmssSign(raw: Uint8Array, idx: number, msg: Uint8Array): Uint8Array {
  if (!Number.isInteger(idx) || idx < 0 || idx >= 2 ** H) throw new Error(`XMSS index ${idx} is out of range`);
  const { key, hs, T } = treeOf(raw);
  const idxBytes = new Uint8Array(N);
  putU32(idxBytes, N - 4, idx);
  const prfIn = new Uint8Array(3 * N);
  prfIn[31] = 3;
  prfIn.set(key.skPrf, 32);
  prfIn.set(idxBytes, 64);
  const r = new Uint8Array(N);
  hashPlain(key.params, prfIn, r);
  const m = hs.hMsg(r, rootOf(T), idx, msg);
  const sig = new Uint8Array(XMSS_SIGNATURE_LENGTH);
  putU32(sig, 0, idx);
  sig.set(r, 4);
  const a = adrs(0);
  setWord(a, 4, idx);
  const d = digits(m);
  for (let i = 0; i < LEN; i++) {
    const x = wotsSecret(hs, idx, i);
    setWord(a, 5, i);
    chain(hs, x, 0, d[i], a);
    sig.set(x, 4 + N + i * N);
  }
  let off = 4 + N + LEN * N;
  for (let k = 0; k < H; k++) {
    const sib = (idx >>> k) ^ 1;
    const base = levelOffset(k) + sib * N;
    sig.set(T.subarray(base, base + N), off);
    off += N;
  }
  return sig;
}

function hashPlain(params: XmssParams, data: Uint8Array, out: Uint8Array): void {
  if (params.hash === 'shake256') out.set(nodeHash('shake256', data, 'buffer'));
  else sha256Into(data, data.length, out);
}

/** RFC 8391 Algorithm 14: XMSS verification. Malformed input is `false`. */
export function xmssVerify(publicKey: Uint8Array, msg: Uint8Array, sig: Uint8Array): boolean {
  if (publicKey.length !== 4 + 2 * N || sig.length !== XMSS_SIGNATURE_LENGTH) return false;
  const params = XMSS_PARAMS[u32(publicKey, 0)];
  if (!params) return false;
  const root = publicKey.subarray(4, 4 + N);
  const hs = new Hashes(params, publicKey.slice(4 + N), null);
  const idx = u32(sig, 0);
  if (idx >= 2 ** H) return false;
  const r = sig.subarray(4, 4 + N);
  const m = hs.hMsg(r, root, idx, msg);
  const d = digits(m);
  const a = adrs(0);
  setWord(a, 4, idx);
  const pk: Uint8Array[] = [];
  for (let i = 0; i < LEN; i++) {
    const x = sig.slice(4 + N + i * N, 4 + N + (i + 1) * N);
    setWord(a, 5, i);
    chain(hs, x, d[i], W - 1 - d[i], a);
    pk.push(x);
  }
  const node = new Uint8Array(N);
  lTree(hs, pk, idx, node, 0);
  const t = adrs(2);
  let index = idx;
  const authOff = 4 + N + LEN * N;
  for (let k = 0; k < H; k++) {
    setWord(t, 5, k);
    const auth = sig.subarray(authOff + k * N, authOff + (k + 1) * N);
    index >>>= 1;
    setWord(t, 6, index);
    if (((idx >>> k) & 1) === 0) randHash(hs, node.slice(), auth, t, node);
    else randHash(hs, auth, node.slice(), t, node);
  }
  return Buffer.from(node).equals(Buffer.from(root));
}

export function xmssSignatureIndex(sig: Uint8Array): number {
  return u32(sig, 0);
}

export function xmssParamsOfPublic(publicKey: Uint8Array): XmssParams | null {
  return publicKey.length === 4 + 2 * N ? (XMSS_PARAMS[u32(publicKey, 0)] ?? null) : null;
}
