// @noble/curves ECDSA on every EC curve Warden can hold, for what OpenSSL cannot do through
// node:crypto: signing a supplied digest (NONE_WITH_ECDSA, Keccak), RFC 6979 deterministic ECDSA and
// Ethereum recovery ids. P-256/384/521 and secp256k1 use noble's presets; the other curves of
// src/crypto/curves.ts are built from the explicit domain parameters OpenSSL itself reports, so the
// noble curve is by construction the curve node:crypto generated the key on.
import { generateKeyPairSync } from 'node:crypto';
import type { CHash } from '@noble/hashes/utils.js';
import { ecdsa, weierstrass, type ECDSA, type WeierstrassPointCons } from '@noble/curves/abstract/weierstrass.js';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { curveByOid } from '../curves.ts';
import { bigintToBytes, bytesToBigint, ecPrivateScalar, explicitCurveParams, spkiPublicKeyBits } from './der.ts';

export const SECP256K1_OID = '1.3.132.0.10';

const PRESETS: Record<string, WeierstrassPointCons<bigint>> = {
  '1.2.840.10045.3.1.7': p256.Point,
  '1.3.132.0.34': p384.Point,
  '1.3.132.0.35': p521.Point,
  [SECP256K1_OID]: secp256k1.Point,
};

const points = new Map<string, WeierstrassPointCons<bigint>>();
const instances = new Map<string, ECDSA>();

/** The noble point constructor of a curve, or null when neither noble nor this OpenSSL has it. */
export function curvePoint(curveOid: string): WeierstrassPointCons<bigint> | null {
  const known = PRESETS[curveOid] ?? points.get(curveOid);
  if (known) return known;
  const curve = curveByOid(curveOid);
  if (!curve?.nodeName) return null;
  // A throwaway key exported with explicit parameters carries p, a, b, G, n, h (SEC 1 §C.2).
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: curve.nodeName, paramEncoding: 'explicit' });
  const params = explicitCurveParams(publicKey.export({ type: 'spki', format: 'der' }));
  const point = weierstrass(params);
  points.set(curveOid, point);
  return point;
}

/** ECDSA over `curveOid` whose RFC 6979 HMAC-DRBG runs on `drbgHash` (also its prehash, never used here). */
export function nobleEcdsa(curveOid: string, drbgHash: CHash): ECDSA | null {
  const id = `${curveOid}|${drbgHash.outputLen}|${drbgHash.blockLen}|${String(drbgHash.oid ?? '')}`;
  let inst = instances.get(id);
  if (!inst) {
    const point = curvePoint(curveOid);
    if (!point) return null;
    inst = ecdsa(point, drbgHash);
    instances.set(id, inst);
  }
  return inst;
}

/** Byte width of one signature half (r or s) on this curve: the group-order size. */
export function scalarBytes(curveOid: string): number {
  const point = curvePoint(curveOid);
  if (point) return point.Fn.BYTES;
  const curve = curveByOid(curveOid);
  return Math.ceil((curve?.orderBits ?? 256) / 8);
}

export function curveOrder(curveOid: string): bigint {
  const point = curvePoint(curveOid);
  if (!point) throw new Error(`no curve ${curveOid}`);
  return point.Fn.ORDER;
}

const scalars = new WeakMap<Buffer, Uint8Array>();
const publics = new WeakMap<Buffer, Uint8Array>();

/** The private scalar of a PKCS#8 EC key as noble wants it (left-padded to the order width). Cached per key buffer. */
export function secretScalar(pkcs8: Buffer, curveOid: string): Uint8Array {
  let s = scalars.get(pkcs8);
  if (!s) {
    s = bigintToBytes(bytesToBigint(ecPrivateScalar(pkcs8)), scalarBytes(curveOid));
    scalars.set(pkcs8, s);
  }
  return s;
}

/** The SEC 1 public point of an EC SPKI. Cached per key buffer. */
export function publicPoint(spki: Buffer): Uint8Array {
  let p = publics.get(spki);
  if (!p) {
    p = spkiPublicKeyBits(spki);
    publics.set(spki, p);
  }
  return p;
}
