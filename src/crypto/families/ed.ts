// Ed25519 keys (algorithm ED). Attributes report algorithmOid 1.3.101.112 and no curveOid (spec §2.2).
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { WardenError } from '../../server/errors.ts';
import { ED25519_OID } from '../curves.ts';
import { importNodeKey, materialFromPrivate } from './node-asymmetric.ts';
import type { KeyFamily } from './types.ts';

const generate = promisify(generateKeyPair);

export const ed: KeyFamily = {
  algorithm: 'ED',
  reportedAlgorithm: 'ED',
  symmetric: false,
  resolve({ curveOid }) {
    if (curveOid !== undefined && curveOid !== null && curveOid !== ED25519_OID) {
      throw new WardenError(600, `Unsupported Curve: ${curveOid} (ED keys use ${ED25519_OID}, Ed25519)`);
    }
    return { algorithmOid: ED25519_OID, curveOid: null, keySize: null };
  },
  async generate() {
    const { privateKey } = await generate('ed25519');
    return materialFromPrivate(privateKey);
  },
  importMaterial(input) {
    const { material } = importNodeKey(input, 'ed25519', 'ED');
    return { material, params: { algorithmOid: ED25519_OID, curveOid: null, keySize: null } };
  },
};
