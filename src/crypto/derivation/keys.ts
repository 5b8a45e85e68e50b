// Derivable keys as the keystore stores them (spec §2.3 derivation matrix, §2.4 derivedAttributes):
// which curve and derivation type a key has, its extended key (PKCS#8 scalar + sealed chain code),
// and the PKCS#8/SPKI material of a derived child. Called by the keystore only.
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { KeyExtension, KeyAttributes } from '../../keystore/interface.ts';
import { WardenError } from '../../server/errors.ts';
import type { KeyMaterial } from '../families/types.ts';
import { HARDENED, derivePath, masterFromSeed, parsePath, type ExtendedKey, type HdCurve } from './hd.ts';

export const SECP256K1_OID = '1.3.132.0.10';
export const P256_OID = '1.2.840.10045.3.1.7';

export type DerivationType = 'BIP32' | 'SLIP-10' | 'ADA' | 'ADA/SLIP-10';

interface KeyShape {
  algorithm: string;
  curveOid: string | null;
  attributes: Pick<KeyAttributes, 'derive' | 'bip32' | 'slip10'>;
}

/** The derivation matrix of spec §2.3 (EC: anything but 0,0 is SLIP-10; ED: bip32 alone is ADA). */
export function derivationTypeOf(key: KeyShape): DerivationType | null {
  const { bip32, slip10 } = key.attributes;
  if (!bip32 && !slip10) return null;
  if (key.algorithm === 'ED') return slip10 ? 'ADA/SLIP-10' : 'ADA';
  if (key.algorithm === 'EC') return 'SLIP-10';
  return null;
}

export function hdCurveOf(key: Pick<KeyShape, 'algorithm' | 'curveOid'>): HdCurve | null {
  if (key.algorithm === 'ED') return 'ed25519';
  if (key.algorithm === 'EC' && key.curveOid === SECP256K1_OID) return 'secp256k1';
  if (key.algorithm === 'EC' && key.curveOid === P256_OID) return 'nist256p1';
  return null;
}

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** PKCS#8 + SPKI DER of an extended key's private scalar (through JWK, so node:crypto encodes them). */
export function materialOf(key: Pick<ExtendedKey, 'curve' | 'privateKey'>): KeyMaterial {
  let jwk: Record<string, string>;
  if (key.curve === 'ed25519') {
    jwk = { kty: 'OKP', crv: 'Ed25519', d: b64u(key.privateKey), x: b64u(ed25519.getPublicKey(key.privateKey)) };
  } else {
    const point = (key.curve === 'secp256k1' ? secp256k1 : p256).getPublicKey(key.privateKey, false);
    jwk = { kty: 'EC', crv: key.curve === 'secp256k1' ? 'secp256k1' : 'P-256', d: b64u(key.privateKey), x: b64u(point.subarray(1, 33)), y: b64u(point.subarray(33)) };
  }
  const priv = createPrivateKey({ key: jwk, format: 'jwk' });
  return { privateKey: priv.export({ type: 'pkcs8', format: 'der' }), publicKey: createPublicKey(priv).export({ type: 'spki', format: 'der' }) };
}

function scalarOf(material: KeyMaterial): Uint8Array {
  if (!material.privateKey) throw new WardenError(613, 'The key has no private part: it cannot be derived from');
  const jwk = createPrivateKey({ key: material.privateKey, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  if (!jwk.d) throw new WardenError(613, 'The key has no private scalar');
  return Buffer.from(jwk.d, 'base64url');
}

function extOf(key: ExtendedKey, addressFormat?: string): KeyExtension {
  return {
    derivation: { chainCode: Buffer.from(key.chainCode).toString('hex').toUpperCase(), depth: key.depth, parentFingerprint: key.parentFingerprint, index: key.index },
    ...(addressFormat ? { addressFormat } : {}),
  };
}

/**
 * For a create or import whose attributes ask for BIP-32/SLIP-10 (bip32 or slip10 with derive): the
 * master key (generated from 32 random seed bytes, so it is a SLIP-10 master like an imported seed)
 * or, for an imported private key, a fresh random chain code. Null when no derivation is asked for.
 */
export function derivableMaterial(key: KeyShape, imported?: KeyMaterial): { material: KeyMaterial; ext: KeyExtension } | null {
  if (!derivationTypeOf(key)) return null;
  const curve = hdCurveOf(key);
  if (!curve) throw new WardenError(606, 'bip32/slip10 need an EC key on secp256k1 or P-256 (secp256r1), or an ED key');
  if (imported) {
    if (!imported.privateKey) throw new WardenError(606, 'bip32/slip10 need a private key');
    const ek: ExtendedKey = { curve, privateKey: scalarOf(imported), chainCode: randomBytes(32), depth: 0, parentFingerprint: 0, index: 0 };
    return { material: imported, ext: extOf(ek) };
  }
  return seedMaterial(curve, randomBytes(32));
}

/** Master key from a BIP-32/SLIP-10 seed (POST /v1/importedKey). */
export function seedMaterial(curve: HdCurve, seed: Uint8Array): { material: KeyMaterial; ext: KeyExtension } {
  const master = masterFromSeed(curve, seed);
  return { material: materialOf(master), ext: extOf(master) };
}

/** The extended key of a stored derivable key. */
export function extendedKeyOf(key: KeyShape & { ext?: KeyExtension | null }, material: KeyMaterial, label: string): ExtendedKey {
  const curve = hdCurveOf(key);
  const d = key.ext?.derivation;
  if (!key.attributes.derive) throw new WardenError(614, `Key '${label}' does not allow derivation (derive=false)`);
  const type = derivationTypeOf(key);
  if (!curve || !d || !type) throw new WardenError(634, `Key '${label}' is not a BIP-32/SLIP-10 key (create it with derive and bip32 or slip10)`);
  if (type === 'ADA') throw new WardenError(611, `Key '${label}' uses ADA (Cardano BIP32-Ed25519) derivation, which this Warden does not offer; create ED keys with slip10`);
  return { curve, privateKey: scalarOf(material), chainCode: Buffer.from(d.chainCode, 'hex'), depth: d.depth, parentFingerprint: d.parentFingerprint, index: d.index };
}

/** Derives `path` below a stored derivable key: the child's material and extension (chain code). */
export function deriveMaterial(key: KeyShape & { ext?: KeyExtension | null }, material: KeyMaterial, label: string, path: string): { material: KeyMaterial; ext: KeyExtension } {
  const indices = parsePath(path);
  if (indices.length === 0) throw new WardenError(600, 'derivationPath is empty');
  const child = derivePath(extendedKeyOf(key, material, label), indices);
  return { material: materialOf(child), ext: extOf(child, key.ext?.addressFormat) };
}

/** Spec §2.4 derivedAttributes: derivation type (matrix of §2.3) and chain code of BIP-32/SLIP-10 keys. */
export function derivedAttributesOf(key: KeyShape & { ext?: KeyExtension | null }): { derivationType: DerivationType; derivationValue: string } | null {
  const type = derivationTypeOf(key);
  const chainCode = key.ext?.derivation?.chainCode;
  return type && chainCode ? { derivationType: type, derivationValue: chainCode } : null;
}

export { HARDENED };
