// A small allocation-free SHA-256 (FIPS 180-4) for the hash-based signatures (LMS, XMSS), which hash
// millions of short inputs when a tree is built: node:crypto costs ~6 µs per call in object overhead,
// this ~0.4 µs. Supports a saved midstate so a constant first block (XMSS PRF keys) is hashed once.

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);

const W = new Int32Array(64);

/** One compression of the 64-byte block at `buf[off..off+64]` into `state`. */
function compress(state: Int32Array, buf: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + i * 4;
    W[i] = (buf[j] << 24) | (buf[j + 1] << 16) | (buf[j + 2] << 8) | buf[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15];
    const w2 = W[i - 2];
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5], g = state[6], h = state[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + S1 + ch + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (S0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0] + a) | 0;
  state[1] = (state[1] + b) | 0;
  state[2] = (state[2] + c) | 0;
  state[3] = (state[3] + d) | 0;
  state[4] = (state[4] + e) | 0;
  state[5] = (state[5] + f) | 0;
  state[6] = (state[6] + g) | 0;
  state[7] = (state[7] + h) | 0;
}

const st = new Int32Array(8);
let pad = new Uint8Array(256);

/**
 * SHA-256 of `data[0..len)`, written to `out[outOff..outOff+32)`. With `mid` (a state after whole
 * 64-byte blocks of a prefix of `prefixLen` bytes), `data` is the remainder after that prefix.
 */
export function sha256Into(data: Uint8Array, len: number, out: Uint8Array, outOff = 0, mid?: Int32Array, prefixLen = 0): void {
  if (mid) st.set(mid);
  else st.set(IV);
  const full = len & ~63;
  for (let off = 0; off < full; off += 64) compress(st, data, off);
  const rem = len - full;
  const tail = rem + 9 <= 64 ? 64 : 128;
  if (pad.length < tail) pad = new Uint8Array(tail);
  pad.fill(0, 0, tail);
  pad.set(data.subarray(full, len), 0);
  pad[rem] = 0x80;
  const bits = (len + prefixLen) * 8;
  pad[tail - 4] = (bits >>> 24) & 0xff;
  pad[tail - 3] = (bits >>> 16) & 0xff;
  pad[tail - 2] = (bits >>> 8) & 0xff;
  pad[tail - 1] = bits & 0xff;
  pad[tail - 5] = Math.floor(bits / 0x100000000) & 0xff;
  compress(st, pad, 0);
  if (tail === 128) compress(st, pad, 64);
  for (let i = 0; i < 8; i++) {
    const v = st[i];
    out[outOff + i * 4] = v >>> 24;
    out[outOff + i * 4 + 1] = (v >>> 16) & 0xff;
    out[outOff + i * 4 + 2] = (v >>> 8) & 0xff;
    out[outOff + i * 4 + 3] = v & 0xff;
  }
}

/** The state after hashing exactly one 64-byte block (a constant prefix). */
export function sha256Midstate(block: Uint8Array): Int32Array {
  if (block.length !== 64) throw new Error('midstate needs one 64-byte block');
  const s = new Int32Array(IV);
  compress(s, block, 0);
  return s;
}

export function sha256(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(32);
  sha256Into(data, data.length, out);
  return out;
}
