// Key encodings of the PQC, BLS and hash-based families: OIDs (spec §2.2), and reading the raw key
// bytes back out of the PKCS#8 / SPKI material the keystore seals. Families (src/crypto/families)
// build the material; signature descriptors and the ML-KEM wrap read it through here.
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { WardenError } from '../../server/errors.ts';
import type { KeyMaterial } from '../families/types.ts';
import { decodePkcs8, decodeSeedChoice, decodeSpki } from './asn1.ts';
import { describeHssPublic } from './lms.ts';
import type { MlDsaLevel, SlhDsaSet } from './ops.ts';
import { xmssParamsOfPublic, type XmssParams } from './xmss.ts';

export const ML_DSA_OIDS: Record<MlDsaLevel, string> = { '44': '2.16.840.1.101.3.4.3.17', '65': '2.16.840.1.101.3.4.3.18', '87': '2.16.840.1.101.3.4.3.19' };

/** RFC 9909 / spec §2.2 order: SHA2-128s, 128f, 192s, 192f, 256s, 256f, then SHAKE in the same order (.20 … .31). */
export const SLH_DSA_SETS: readonly SlhDsaSet[] = [
  'SHA2-128s', 'SHA2-128f', 'SHA2-192s', 'SHA2-192f', 'SHA2-256s', 'SHA2-256f',
  'SHAKE-128s', 'SHAKE-128f', 'SHAKE-192s', 'SHAKE-192f', 'SHAKE-256s', 'SHAKE-256f',
];
export const SLH_DSA_OIDS = Object.fromEntries(SLH_DSA_SETS.map((s, i) => [s, `2.16.840.1.101.3.4.3.${20 + i}`])) as Record<SlhDsaSet, string>;

export type MlKemLevel = '512' | '768' | '1024';
export const ML_KEM_OIDS: Record<MlKemLevel, string> = { '512': '2.16.840.1.101.3.4.4.1', '768': '2.16.840.1.101.3.4.4.2', '1024': '2.16.840.1.101.3.4.4.3' };

/** id-alg-hss-lms-hashsig (RFC 9708). */
export const HSS_LMS_OID = '1.2.840.113549.1.9.16.3.17';
/** id-alg-xmss-hashsig (RFC 9802). */
export const XMSS_OID = '0.4.0.127.0.15.1.1.13.0';
/** The TSB's default BLS algorithmOid (spec §2.1); public keys are 48-byte compressed G1 points (min-pk). */
export const BLS_OID = '1.3.6.1.4.1.44668.5.3.1.1';

export function publicRaw(material: KeyMaterial, oid: string, what: string): Buffer {
  if (!material.publicKey) throw new WardenError(613, 'The key has no public part');
  const { oid: got, raw } = decodeSpki(material.publicKey);
  if (got !== oid) throw new WardenError(613, `The stored public key is not a ${what} key`);
  return raw;
}

export function privateInner(material: KeyMaterial, oid: string, what: string): Buffer {
  if (!material.privateKey) throw new WardenError(613, 'The key has no private part (public-key import): it can verify but not sign');
  const { oid: got, inner } = decodePkcs8(material.privateKey);
  if (got !== oid) throw new WardenError(613, `The stored private key is not a ${what} key`);
  return inner;
}

/** ML-DSA / ML-KEM private key: the seed, the expanded key, or both (RFC 9881 / RFC 9935 CHOICE). */
export function seedOrExpanded(material: KeyMaterial, oid: string, what: string): { seed: Buffer | null; expanded: Buffer | null } {
  const c = decodeSeedChoice(privateInner(material, oid, what));
  return { seed: c.seed ?? null, expanded: c.expanded ?? null };
}

/** BLS secret key: the raw 32-byte big-endian scalar (README decision 7 wraps exactly these bytes). */
export function blsSecret(material: KeyMaterial): Buffer {
  const sk = material.privateKey;
  if (!sk) throw new WardenError(613, 'The key has no private part (public-key import): it can verify but not sign');
  return sk;
}

export function blsPublicFromSecret(sk: Uint8Array): Uint8Array {
  return bls12_381.longSignatures.getPublicKey(sk).toBytes(true);
}

export function hssPublic(material: KeyMaterial): Buffer {
  const raw = publicRaw(material, HSS_LMS_OID, 'HSS/LMS');
  if (!describeHssPublic(raw)) throw new WardenError(625, 'The stored HSS/LMS public key is malformed');
  return raw;
}

export function xmssPublic(material: KeyMaterial): { raw: Buffer; params: XmssParams } {
  const raw = publicRaw(material, XMSS_OID, 'XMSS');
  const params = xmssParamsOfPublic(raw);
  if (!params) throw new WardenError(625, 'The stored XMSS public key is malformed or of an unsupported parameter set');
  return { raw, params };
}

/**
 * Fixed-parameter families (ML-DSA, SLH-DSA, ML-KEM, BLS): the parameter set is in the algorithm
 * name, so a curveOid is a mistake (600) and a keySize other than 0 is refused (603).
 */
export function noParams(name: string, { keySize, curveOid }: { keySize?: number | null; curveOid?: string | null }): void {
  if (curveOid !== undefined && curveOid !== null && curveOid !== '') throw new WardenError(600, `${name} keys take no curveOid`);
  if (keySize !== undefined && keySize !== null && keySize !== 0) throw new WardenError(603, `${name} keys take no keySize: the parameter set is in the algorithm name`);
}

/** `algorithmOid` alternatives to `algorithm` on create (spec §3.1); XMSS is left out (one OID, two parameter sets). */
export const PQC_OID_TO_ALGORITHM: Record<string, string> = {
  ...Object.fromEntries(Object.entries(ML_DSA_OIDS).map(([l, oid]) => [oid, `ML-DSA-${l}`])),
  ...Object.fromEntries(Object.entries(SLH_DSA_OIDS).map(([s, oid]) => [oid, `SLH-DSA-${s}`])),
  ...Object.fromEntries(Object.entries(ML_KEM_OIDS).map(([l, oid]) => [oid, `ML-KEM-${l}`])),
  [HSS_LMS_OID]: 'LMS',
  [BLS_OID]: 'BLS',
};
