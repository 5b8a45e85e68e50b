// BLS12-381 keys (spec §2.1, default algorithmOid 1.3.6.1.4.1.44668.5.3.1.1), min-pk variant: public
// keys are 48-byte compressed G1 points, signatures G2 (docs/algorithms.md). The private key is sealed
// as the raw 32-byte big-endian scalar, the bytes AES_WRAP[_PAD]_BLS wrap (README decision 7); the
// public key as an SPKI with the BLS OID. Imports accept the raw scalar or a PKCS#8 with that OID.
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { WardenError } from '../../server/errors.ts';
import { decodePkcs8, decodeSpki, encodeSpki, readTlvSafe } from '../pqc/asn1.ts';
import { BLS_OID, blsPublicFromSecret, noParams } from '../pqc/keys.ts';
import type { KeyFamily, KeyMaterial } from './types.ts';

const ORDER = bls12_381.fields.Fr.ORDER;
const params = { algorithmOid: BLS_OID, curveOid: null, keySize: null };

function checkScalar(sk: Buffer): void {
  if (sk.length !== 32) throw new WardenError(625, 'A BLS private key is a 32-byte scalar');
  const v = BigInt('0x' + sk.toString('hex'));
  if (v === 0n || v >= ORDER) throw new WardenError(625, 'The BLS private key is not a scalar in [1, r-1]');
}

const fromSecret = (sk: Buffer): KeyMaterial => ({ privateKey: Buffer.from(sk), publicKey: encodeSpki(BLS_OID, blsPublicFromSecret(sk)) });

function publicPoint(der: Buffer): Buffer {
  let raw: Buffer;
  if (der.length === 48) raw = der;
  else {
    const { oid, raw: bits } = decodeSpki(der);
    if (oid !== BLS_OID) throw new WardenError(613, `publicKey is not a BLS key (algorithm ${oid})`);
    raw = bits;
  }
  try {
    const p = bls12_381.G1.Point.fromBytes(raw);
    p.assertValidity();
    if (p.is0()) throw new Error('identity');
  } catch {
    throw new WardenError(625, 'publicKey is not a valid compressed BLS12-381 G1 point');
  }
  return raw;
}

export const bls: KeyFamily = Object.freeze({
  algorithm: 'BLS',
  reportedAlgorithm: 'BLS',
  symmetric: false,
  resolve(input) {
    noParams('BLS', input);
    return params;
  },
  async generate() {
    return fromSecret(Buffer.from(bls12_381.longSignatures.keygen().secretKey));
  },
  importMaterial(input) {
    if (input.secret) throw new WardenError(600, 'secretKey must be empty for BLS keys');
    let material: KeyMaterial | null = null;
    if (input.privateKey) {
      let sk = input.privateKey;
      if (sk.length !== 32) {
        const { oid, inner } = decodePkcs8(sk);
        if (oid !== BLS_OID) throw new WardenError(613, `privateKey is not a BLS key (algorithm ${oid})`);
        sk = inner.length === 32 ? inner : (readTlvSafe(inner, 0x04) ?? inner);
      }
      checkScalar(sk);
      material = fromSecret(sk);
    }
    if (input.publicKey) {
      const spki = encodeSpki(BLS_OID, publicPoint(input.publicKey));
      if (material && !spki.equals(material.publicKey as Buffer)) throw new WardenError(625, 'publicKey does not belong to privateKey');
      material ??= { publicKey: spki };
    }
    if (!material) throw new WardenError(600, 'a privateKey or publicKey is required to import a BLS key');
    return { material, params };
  },
} satisfies KeyFamily);
