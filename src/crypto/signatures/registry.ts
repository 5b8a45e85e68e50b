// The signature-algorithm registry (spec §4.1): one frozen table of descriptors built by per-family
// factories, keyed by wire name. The OpenAPI enum of `signatureAlgorithm` is built from it, so a name
// this build does not implement (PQC, BLS, ISS) is refused by the schema with 400/501. Adding a family
// (e.g. ML-DSA) = one module exporting its descriptors and one entry in MODULES.
import { WardenError } from '../../server/errors.ts';
import { HASHES } from '../hashes.ts';
import { dsa, dsaNone } from './dsa.ts';
import { doubleSha256, ecdsa, ecdsaDeterministic, ecdsaNone, keccak, sha3 } from './ecdsa.ts';
import { eddsa } from './eddsa.ts';
import { noneShaRsa, noneWithRsa, rsaPkcs1, rsaPss, rsaPssPrehashed } from './rsa.ts';
import { schnorrBip340 } from './schnorr.ts';
import { PQC_SIGNATURES } from '../pqc/signatures.ts';
import { signOnToken } from './token.ts';
import type { SignOptions, SignatureAlgorithm, SignatureKey, VerifyOptions } from './types.ts';

const { SHA1, SHA224, SHA256, SHA384, SHA512 } = HASHES;
const SHA = [SHA1, SHA224, SHA256, SHA384, SHA512] as const;

/** RSA, DSA, EC and Ed25519: every classic name of the §4.1 catalogue, Go-only names included. */
const classic: readonly SignatureAlgorithm[] = [
  ...SHA.map(rsaPkcs1),
  ...SHA.map(rsaPss),
  noneWithRsa(),
  ...SHA.map(noneShaRsa),
  rsaPssPrehashed(null),
  ...[SHA224, SHA256, SHA384, SHA512].map(rsaPssPrehashed),
  dsaNone(),
  ...SHA.map(dsa),
  ecdsaNone(),
  ...SHA.map(ecdsa),
  sha3(224), sha3(256), sha3(384), sha3(512),
  keccak(224), keccak(256), keccak(384), keccak(512),
  doubleSha256(),
  ecdsaDeterministic(),
  schnorrBip340(),
  eddsa(),
];

const MODULES: readonly (readonly SignatureAlgorithm[])[] = [classic, PQC_SIGNATURES];

export const SIGNATURE_ALGORITHMS: readonly SignatureAlgorithm[] = Object.freeze(MODULES.flat());

const byName = new Map<string, SignatureAlgorithm>();
for (const alg of SIGNATURE_ALGORITHMS) {
  for (const name of [alg.name, ...alg.aliases]) {
    if (byName.has(name)) throw new Error(`signature algorithm ${name} is registered twice`);
    byName.set(name, alg);
  }
}

/** Every accepted `signatureAlgorithm` value (wire names and aliases), for the request schemas. */
export const SIGNATURE_ALGORITHM_NAMES: readonly string[] = Object.freeze([...byName.keys()]);

export function signatureAlgorithm(name: string): SignatureAlgorithm {
  const alg = byName.get(name);
  if (!alg) throw new WardenError(501, `Unknown signatureAlgorithm '${name}'`);
  return alg;
}

/** Symmetric families have no signature algorithm; asymmetric ones of the wrong family are 607. */
const SECRET_KEY_ALGORITHMS = new Set(['AES', 'ChaCha20', 'Camellia', 'TDEA', 'HMACSHA256']);

/** Refuses a key the algorithm cannot run on: a secret key (613), another family or curve (607). */
export function checkKeyFor(alg: SignatureAlgorithm, key: SignatureKey): void {
  if (SECRET_KEY_ALGORITHMS.has(key.algorithm) || key.material.secret) {
    throw new WardenError(613, `${alg.name} needs an asymmetric ${alg.keyAlgorithms.join('/')} key; the key is a ${key.algorithm} secret key`);
  }
  if (!alg.keyAlgorithms.includes(key.algorithm)) {
    throw new WardenError(607, `${alg.name} needs a ${alg.keyAlgorithms.join('/')} key; the key is ${key.algorithm}`);
  }
  if (alg.curves && (!key.curveOid || !alg.curves.includes(key.curveOid))) {
    throw new WardenError(607, `${alg.name} needs a key on curve ${alg.curves.join(', ')}; the key's curve is ${key.curveOid ?? 'none'}`);
  }
}

/** Signs after the key and signatureType checks (ETH only where the algorithm offers it: 600). */
export async function signWith(alg: SignatureAlgorithm, key: SignatureKey, payload: Buffer, opts: SignOptions): Promise<Buffer> {
  checkKeyFor(alg, key);
  if (!alg.signatureTypes.includes(opts.signatureType)) {
    throw new WardenError(600, `signatureType ${opts.signatureType} is not available for ${alg.name} (${alg.signatureTypes.join(', ')})`);
  }
  // A key on a PKCS#11 token signs there (or is refused with 611); never in software.
  if (key.material.token) return signOnToken(alg, key, key.material.token, payload, opts);
  return alg.sign(key, payload, opts);
}

/** Verifies after the key check; any failure inside the primitive is a plain `false`. */
export async function verifyWith(alg: SignatureAlgorithm, key: SignatureKey, payload: Buffer, signature: Buffer, opts: VerifyOptions = {}): Promise<boolean> {
  checkKeyFor(alg, key);
  return alg.verify(key, payload, signature, opts);
}
