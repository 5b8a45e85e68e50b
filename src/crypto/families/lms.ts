// LMS keys: HSS with one level (RFC 8554; spec §2.1, reported as HSS-LMS). keySize picks the tree
// height: 5 gives the TSB sample key (LMS_SHA256_M32_H5 + LMOTS_SHA256_N32_W1, 32 signatures of 8688
// bytes), 10 (the default) LMS_SHA256_M32_H10 + LMOTS_SHA256_N32_W4 (1024 signatures of 2512 bytes).
// Stateful: the next one-time index lives sealed in the keystore. Private keys are never imported
// (their used indices cannot be known) nor exported; public keys import as SPKI (RFC 9708).
import { createHash } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import { decodeSpki, encodePkcs8, encodeSpki } from '../pqc/asn1.ts';
import { HSS_LMS_OID, privateInner } from '../pqc/keys.ts';
import { describeHssPublic, generateLmsPrivate, lmsCapacity } from '../pqc/lms.ts';
import { runPqcBytes } from '../pqc/pool.ts';
import type { KeyFamily } from './types.ts';

/** keySize (tree height) → RFC 8554 LMS and LM-OTS type codes. */
const SHAPES: Record<number, { lms: number; ots: number }> = { 5: { lms: 5, ots: 1 }, 10: { lms: 6, ots: 3 } };

/** Worker affinity of a stateful key: its tree is cached by the worker that built it. */
export const statefulAffinity = (raw: Uint8Array) => createHash('sha256').update(raw).digest('hex');

export const lms: KeyFamily = Object.freeze({
  algorithm: 'LMS',
  reportedAlgorithm: 'HSS-LMS',
  symmetric: false,
  resolve({ keySize, curveOid }) {
    if (curveOid) throw new WardenError(600, 'LMS keys take no curveOid');
    const h = keySize === undefined || keySize === null || keySize === 0 ? 10 : keySize;
    if (!SHAPES[h]) throw new WardenError(603, 'LMS keySize is the tree height: 5 (32 signatures) or 10 (1024 signatures)');
    return { algorithmOid: HSS_LMS_OID, curveOid: null, keySize: h };
  },
  async generate(params) {
    const shape = SHAPES[params.keySize ?? 10];
    const raw = generateLmsPrivate(shape.lms, shape.ots);
    const pub = await runPqcBytes({ op: 'lms.publicKey', privateKey: raw }, statefulAffinity(raw));
    return { privateKey: encodePkcs8(HSS_LMS_OID, raw), publicKey: encodeSpki(HSS_LMS_OID, pub) };
  },
  importMaterial(input) {
    if (input.privateKey || input.secret) {
      throw new WardenError(611, 'LMS private keys cannot be imported: the one-time indices they already used are unknown, so signing could reuse one');
    }
    if (!input.publicKey) throw new WardenError(600, 'a publicKey is required to import an LMS key');
    const { oid, raw } = decodeSpki(input.publicKey);
    if (oid !== HSS_LMS_OID) throw new WardenError(613, `publicKey is not an HSS/LMS key (algorithm ${oid})`);
    const d = describeHssPublic(raw);
    if (!d) throw new WardenError(625, 'publicKey is not a valid HSS/LMS public key (RFC 8554 §6.1)');
    return { material: { publicKey: encodeSpki(HSS_LMS_OID, raw) }, params: { algorithmOid: HSS_LMS_OID, curveOid: null, keySize: d.levels === 1 ? d.lms.h : null } };
  },
  stateful: {
    capacity: (material) => lmsCapacity(privateInner(material, HSS_LMS_OID, 'HSS/LMS')),
  },
} satisfies KeyFamily);
