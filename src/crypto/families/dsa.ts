// DSA keys: L = 1024 (N = 160), 2048 and 3072 (N = 256), per FIPS 186-4 parameter sizes.
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { WardenError } from '../../server/errors.ts';
import { importNodeKey, materialFromPrivate } from './node-asymmetric.ts';
import type { KeyFamily } from './types.ts';

const generate = promisify(generateKeyPair);
const OID = '1.2.840.10040.4.1';
const SIZES: Record<number, number> = { 1024: 160, 2048: 256, 3072: 256 };

export const dsa: KeyFamily = {
  algorithm: 'DSA',
  reportedAlgorithm: 'DSA',
  symmetric: false,
  resolve({ keySize }) {
    if (keySize === undefined || keySize === null) throw new WardenError(603, 'keySize is required for DSA keys');
    if (!(keySize in SIZES)) throw new WardenError(603, 'DSA keySize must be one of 1024, 2048, 3072');
    return { algorithmOid: OID, curveOid: null, keySize };
  },
  async generate(params) {
    const size = params.keySize as number;
    const { privateKey } = await generate('dsa', { modulusLength: size, divisorLength: SIZES[size] });
    return materialFromPrivate(privateKey);
  },
  importMaterial(input) {
    const { key, material } = importNodeKey(input, 'dsa', 'DSA');
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 1024 || bits > 3072) throw new WardenError(603, `DSA modulus of ${bits} bits is outside 1024..3072`);
    return { material, params: { algorithmOid: OID, curveOid: null, keySize: bits } };
  },
};
