// The key-algorithm registry: one frozen table of families keyed by wire name. Everything downstream
// takes a resolved KeyFamily, never a raw algorithm string.
import { WardenError } from '../server/errors.ts';
import { dsa } from './families/dsa.ts';
import { ec } from './families/ec.ts';
import { ed } from './families/ed.ts';
import { bls } from './families/bls.ts';
import { lms } from './families/lms.ts';
import { mlDsa44, mlDsa65, mlDsa87 } from './families/ml-dsa.ts';
import { mlKem1024, mlKem512, mlKem768 } from './families/ml-kem.ts';
import { rsa } from './families/rsa.ts';
import { slhDsaFamilies } from './families/slh-dsa.ts';
import { xmssSha256, xmssShake256 } from './families/xmss.ts';
import { aes, camellia, chacha20, hmacSha256, tdea } from './families/symmetric.ts';
import type { KeyFamily } from './families/types.ts';

const FAMILIES: readonly KeyFamily[] = Object.freeze([
  rsa, ec, ed, dsa, aes, chacha20, camellia, tdea, hmacSha256,
  mlDsa44, mlDsa65, mlDsa87,
  ...slhDsaFamilies,
  mlKem512, mlKem768, mlKem1024,
  lms,
  xmssSha256, xmssShake256,
  bls,
]);

const byAlgorithm = new Map<string, KeyFamily>(FAMILIES.map((f) => [f.algorithm, f]));
const byReported = new Map<string, KeyFamily>(FAMILIES.map((f) => [f.reportedAlgorithm, f]));

/** Wire names accepted as `algorithm` on create/import (drives the OpenAPI enum). */
export const KEY_ALGORITHMS: readonly string[] = Object.freeze(FAMILIES.map((f) => f.algorithm));

export function familyFor(algorithm: string): KeyFamily {
  const f = byAlgorithm.get(algorithm);
  if (!f) throw new WardenError(501, `Unknown key algorithm '${algorithm}'`);
  return f;
}

/** Family of a stored key, from the algorithm name its attributes report. */
export function familyOfStored(reportedAlgorithm: string): KeyFamily {
  const f = byReported.get(reportedAlgorithm);
  if (!f) throw new WardenError(701, `Stored key has an algorithm this build does not know: ${reportedAlgorithm}`);
  return f;
}
