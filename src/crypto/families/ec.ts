// EC keys on the named curves of spec §2.2 that this runtime's OpenSSL offers. Custom curve strings
// (p….a….b…) are refused with 600: OpenSSL 3 cannot generate keys on explicit parameters here.
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { WardenError } from '../../server/errors.ts';
import { curveByNodeName, curveByOid } from '../curves.ts';
import { importNodeKey, materialFromPrivate } from './node-asymmetric.ts';
import type { KeyFamily } from './types.ts';

const generate = promisify(generateKeyPair);
const OID = '1.2.840.10045.2.1';

export const ec: KeyFamily = {
  algorithm: 'EC',
  reportedAlgorithm: 'EC',
  symmetric: false,
  resolve({ curveOid }) {
    if (!curveOid) throw new WardenError(600, 'curveOid is required for EC keys');
    const curve = curveByOid(curveOid);
    if (!curve || !curve.nodeName) throw new WardenError(600, `Unsupported Curve: ${curveOid}`);
    return { algorithmOid: OID, curveOid: curve.oid, keySize: null };
  },
  async generate(params) {
    const curve = curveByOid(params.curveOid as string);
    const { privateKey } = await generate('ec', { namedCurve: curve?.nodeName as string });
    return materialFromPrivate(privateKey);
  },
  importMaterial(input) {
    const { key, material } = importNodeKey(input, 'ec', 'EC');
    const name = key.asymmetricKeyDetails?.namedCurve ?? '';
    const curve = curveByNodeName(name);
    if (!curve) throw new WardenError(600, `Unsupported Curve: ${name || 'explicit parameters'}`);
    return { material, params: { algorithmOid: OID, curveOid: curve.oid, keySize: null } };
  },
};
