// RSA keys: 1024–8192 bits in steps of 1024 (3072 included), public exponent 65537 (spec §2.1, §7).
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { WardenError } from '../../server/errors.ts';
import { importNodeKey, materialFromPrivate } from './node-asymmetric.ts';
import type { KeyFamily, KeyParams } from './types.ts';

const generate = promisify(generateKeyPair);
const OID = '1.2.840.113549.1.1.1';
export const RSA_SIZES = [1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192] as const;

export const rsa: KeyFamily = {
  algorithm: 'RSA',
  reportedAlgorithm: 'RSA',
  symmetric: false,
  resolve({ keySize }) {
    if (keySize === undefined || keySize === null) throw new WardenError(603, 'keySize is required for RSA keys');
    if (!(RSA_SIZES as readonly number[]).includes(keySize)) throw new WardenError(603, `RSA keySize must be one of ${RSA_SIZES.join(', ')}`);
    return { algorithmOid: OID, curveOid: null, keySize };
  },
  async generate(params: KeyParams) {
    const { privateKey } = await generate('rsa', { modulusLength: params.keySize as number, publicExponent: 65537 });
    return materialFromPrivate(privateKey);
  },
  importMaterial(input) {
    const { key, material } = importNodeKey(input, 'rsa', 'RSA');
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 1024 || bits > 16384) throw new WardenError(603, `RSA modulus of ${bits} bits is outside 1024..16384`);
    return { material, params: { algorithmOid: OID, curveOid: null, keySize: bits } };
  },
};
