// XMSS keys (RFC 8391 / SP 800-208; spec §2.1): XMSS-SHA256_10_256 and XMSS-SHAKE256_10_256, both
// reported as XMSS, 1024 signatures each. Stateful like LMS: the next index lives sealed in the
// keystore; private keys are never imported nor exported; public keys import as SPKI (RFC 9802).
import { WardenError } from '../../server/errors.ts';
import { decodeSpki, encodePkcs8, encodeSpki } from '../pqc/asn1.ts';
import { XMSS_OID } from '../pqc/keys.ts';
import { runPqcBytes } from '../pqc/pool.ts';
import { XMSS_HEIGHT, XMSS_PARAMS, generateXmssPrivate, xmssParamsOfPublic } from '../pqc/xmss.ts';
import { statefulAffinity } from './lms.ts';
import type { KeyFamily } from './types.ts';

const params = { algorithmOid: XMSS_OID, curveOid: null, keySize: null };

function xmss(oid: number): KeyFamily {
  const set = XMSS_PARAMS[oid];
  return Object.freeze({
    algorithm: set.wireName,
    reportedAlgorithm: 'XMSS',
    symmetric: false,
    resolve({ keySize, curveOid }) {
      if (curveOid) throw new WardenError(600, `${set.wireName} keys take no curveOid`);
      if (keySize !== undefined && keySize !== null && keySize !== 0 && keySize !== XMSS_HEIGHT) throw new WardenError(603, `${set.wireName} has a fixed tree height of ${XMSS_HEIGHT}`);
      return params;
    },
    async generate() {
      const raw = generateXmssPrivate(oid);
      const pub = await runPqcBytes({ op: 'xmss.publicKey', privateKey: raw }, statefulAffinity(raw));
      return { privateKey: encodePkcs8(XMSS_OID, raw), publicKey: encodeSpki(XMSS_OID, pub) };
    },
    importMaterial(input) {
      if (input.privateKey || input.secret) {
        throw new WardenError(611, 'XMSS private keys cannot be imported: the one-time indices they already used are unknown, so signing could reuse one');
      }
      if (!input.publicKey) throw new WardenError(600, 'a publicKey is required to import an XMSS key');
      const { oid: got, raw } = decodeSpki(input.publicKey);
      if (got !== XMSS_OID) throw new WardenError(613, `publicKey is not an XMSS key (algorithm ${got})`);
      const p = xmssParamsOfPublic(raw);
      if (!p) throw new WardenError(625, 'publicKey is not an XMSS-SHA2_10_256 or XMSS-SHAKE256_10_256 public key');
      if (p.oid !== oid) throw new WardenError(613, `publicKey is an ${p.wireName} key, not ${set.wireName}`);
      return { material: { publicKey: encodeSpki(XMSS_OID, raw) }, params };
    },
    stateful: { capacity: () => 2 ** XMSS_HEIGHT },
  } satisfies KeyFamily);
}

export const xmssSha256 = xmss(0x01);
export const xmssShake256 = xmss(0x10);
