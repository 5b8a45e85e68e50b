// NONE_WITH_EC_SCHNORR_BIP0340: BIP-340 Schnorr signatures on secp256k1 over a 32-byte message, with
// optional BIP-341 key tweaks: taprootTweakData is the 32-byte tweak t itself (Q = P + tG), and
// merkleRootData is a script-tree root h (t = hash_TapTweak(x(P) ‖ h); empty h = BIP-86 key-path-only).
import { randomBytes } from 'node:crypto';
import { schnorr } from '@noble/curves/secp256k1.js';
import { WardenError } from '../../server/errors.ts';
import { bigintToBytes, bytesToBigint } from './der.ts';
import { privateDer, publicDer } from './node.ts';
import type { SignOptions, SignatureAlgorithm, VerifyOptions } from './types.ts';
import { SECP256K1_OID, publicPoint, secretScalar } from './weierstrass.ts';

const Point = schnorr.Point;
const N = Point.Fn.ORDER;

function checkMessage(payload: Buffer): void {
  if (payload.length !== 32) throw new WardenError(612, `BIP-340 Schnorr signs a 32-byte message, got ${payload.length} bytes`);
}

/** The BIP-341 tweak scalar for an internal key with x coordinate `px`, or null for an untweaked signature. */
function tweakOf(px: Uint8Array, opts: VerifyOptions): bigint | null {
  const { taprootTweakData: tweak, merkleRootData: root } = opts;
  if (tweak && root) throw new WardenError(600, 'taprootTweakData and merkleRootData are mutually exclusive');
  let t: bigint;
  if (tweak) {
    if (tweak.length !== 32) throw new WardenError(600, 'taprootTweakData must be 32 bytes');
    t = bytesToBigint(tweak);
  } else if (root) {
    if (root.length !== 0 && root.length !== 32) throw new WardenError(600, 'merkleRootData must be a 32-byte script-tree root (or empty for a key-path-only output, BIP-86)');
    t = bytesToBigint(schnorr.utils.taggedHash('TapTweak', px, root));
  } else {
    return null;
  }
  if (t >= N) throw new WardenError(600, 'The tweak is not below the secp256k1 group order (BIP-341)');
  return t;
}

function xOnly(spki: Buffer): Uint8Array {
  return Point.fromBytes(publicPoint(spki)).toBytes(true).subarray(1);
}

export function schnorrBip340(): SignatureAlgorithm {
  return Object.freeze({
    name: 'NONE_WITH_EC_SCHNORR_BIP0340', aliases: [], scheme: 'SCHNORR', keyAlgorithms: ['EC'], curves: [SECP256K1_OID],
    hash: null, prehashed: true, deterministic: false, signatureTypes: ['DER', 'RAW'],
    summary: 'BIP-340 Schnorr on secp256k1 over a 32-byte message; optional BIP-341 tweak (taprootTweakData or merkleRootData) and auxiliaryRandomData',
    async sign(key, payload, opts: SignOptions) {
      checkMessage(payload);
      const aux = opts.auxiliaryRandomData ?? randomBytes(32);
      if (aux.length !== 32) throw new WardenError(600, 'auxiliaryRandomData must be 32 bytes');
      let secret = secretScalar(privateDer(key), SECP256K1_OID);
      const spki = publicDer(key);
      const t = tweakOf(xOnly(spki), opts);
      if (t !== null) {
        // BIP-341 taproot_tweak_seckey: use the even-Y secret of the internal key, then add t.
        const d0 = bytesToBigint(secret);
        const evenY = Point.fromBytes(publicPoint(spki)).toAffine().y % 2n === 0n;
        const d = (((evenY ? d0 : N - d0) + t) % N + N) % N;
        if (d === 0n) throw new WardenError(600, 'The tweak cancels the key');
        secret = bigintToBytes(d, 32);
      }
      return Buffer.from(schnorr.sign(payload, secret, aux));
    },
    async verify(key, payload, signature, opts: VerifyOptions) {
      checkMessage(payload);
      const px = xOnly(publicDer(key));
      const t = tweakOf(px, opts);
      let qx = px;
      if (t !== null) {
        const internal = schnorr.utils.lift_x(bytesToBigint(px));
        const q = t === 0n ? internal : internal.add(Point.BASE.multiply(t));
        qx = q.toBytes(true).subarray(1);
      }
      if (signature.length !== 64) return false;
      try {
        return schnorr.verify(signature, payload, qx);
      } catch {
        return false;
      }
    },
  } satisfies SignatureAlgorithm);
}
