// Signature descriptors of the post-quantum, BLS and hash-based families (spec §4.1), one module of
// the signature registry: ML_DSA (alias DILITHIUM), ML_DSA_M (external µ), HashML-DSA
// <H>_WITH_ML_DSA, SLH_DSA (alias SPHINCS_PLUS), HashSLH-DSA <H>_WITH_SLH_DSA, BLS, LMS and the two
// XMSS names. Signing and verifying run on the PQC worker pool; the stateful ones sign with the index
// the keystore reserved (SignOptions.stateIndex) and never pick one themselves.
import { WardenError } from '../../server/errors.ts';
import { statefulAffinity } from '../families/lms.ts';
import { MAX_HASHED_PAYLOAD, type SignOptions, type SignatureAlgorithm, type SignatureKey, type SignatureScheme, type VerifyOptions } from '../signatures/types.ts';
import { BLS_OID, HSS_LMS_OID, ML_DSA_OIDS, SLH_DSA_OIDS, SLH_DSA_SETS, XMSS_OID, blsSecret, hssPublic, privateInner, publicRaw, seedOrExpanded, xmssPublic } from './keys.ts';
import { PREHASHES, type MessageMode, type MlDsaLevel, type SlhDsaSet } from './ops.ts';
import { PqcJobError, runPqcBool, runPqcBytes } from './pool.ts';
import { XMSS_PARAMS } from './xmss.ts';

const ML_DSA_LEVELS: readonly MlDsaLevel[] = ['44', '65', '87'];
const PREHASH_NAMES = Object.keys(PREHASHES);

function checkPayload(payload: Buffer, name: string): void {
  if (payload.length > MAX_HASHED_PAYLOAD) throw new WardenError(612, `payload is ${payload.length} bytes; ${name} signs at most ${MAX_HASHED_PAYLOAD} bytes (hash larger data and use a pre-hash variant)`);
}

function contextOf(opts: { context?: Buffer }): Uint8Array {
  const ctx = opts.context ?? Buffer.alloc(0);
  if (ctx.length > 255) throw new WardenError(600, 'context must be at most 255 bytes (FIPS 204 §5.2)');
  return ctx;
}

/** A primitive that refused its input (malformed key bytes): the key is unusable, not the request. */
function mapJobError(e: unknown, name: string): never {
  if (e instanceof PqcJobError) throw new WardenError(701, `${name} failed: ${e.message}`, { cause: e });
  throw e;
}

const mlDsaLevelOf = (key: SignatureKey): MlDsaLevel => key.algorithm.slice('ML-DSA-'.length) as MlDsaLevel;
const slhSetOf = (key: SignatureKey): SlhDsaSet => key.algorithm.slice('SLH-DSA-'.length) as SlhDsaSet;

interface Shape {
  name: string;
  aliases?: string[];
  scheme: SignatureScheme;
  keyAlgorithms: readonly string[];
  prehashed?: boolean;
  deterministic?: boolean;
  context?: boolean;
  stateful?: boolean;
  summary: string;
  sign: SignatureAlgorithm['sign'];
  verify: SignatureAlgorithm['verify'];
}

const descriptor = (s: Shape): SignatureAlgorithm =>
  Object.freeze({
    name: s.name, aliases: s.aliases ?? [], scheme: s.scheme, keyAlgorithms: s.keyAlgorithms, curves: null, hash: null,
    prehashed: s.prehashed ?? false, deterministic: s.deterministic ?? false, signatureTypes: ['DER', 'RAW'], summary: s.summary,
    context: s.context ?? false, stateful: s.stateful ?? false, sign: s.sign, verify: s.verify,
  } satisfies SignatureAlgorithm);

// --- ML-DSA (FIPS 204) ----------------------------------------------------------------------------

function mlDsa(name: string, prehash: string | null, externalMu: boolean, aliases: string[] = []): SignatureAlgorithm {
  return descriptor({
    name, aliases, scheme: 'ML_DSA', keyAlgorithms: ML_DSA_LEVELS.map((l) => `ML-DSA-${l}`), context: !externalMu, prehashed: externalMu,
    summary: externalMu
      ? 'ML-DSA over an externally computed 64-byte µ = SHAKE256(tr ‖ M′, 64) (FIPS 204 Algorithm 7 line 6; the payload is µ)'
      : prehash
        ? `HashML-DSA with ${prehash} (FIPS 204 §5.4); optional context`
        : 'Pure ML-DSA (FIPS 204 §5.2), hedged; optional context',
    async sign(key, payload, opts: SignOptions) {
      checkPayload(payload, name);
      if (externalMu && payload.length !== 64) throw new WardenError(612, `${name} signs a 64-byte µ; the payload is ${payload.length} bytes`);
      if (externalMu && opts.context?.length) throw new WardenError(600, `${name}: µ already binds the context; send no context`);
      const level = mlDsaLevelOf(key);
      const { seed, expanded } = seedOrExpanded(key.material, ML_DSA_OIDS[level], `ML-DSA-${level}`);
      const mode: MessageMode = { context: contextOf(opts), prehash, externalMu };
      return runPqcBytes({ op: 'mldsa.sign', level, seed, secret: expanded, msg: payload, mode }).catch((e) => mapJobError(e, name));
    },
    async verify(key, payload, signature, opts: VerifyOptions) {
      checkPayload(payload, name);
      if (externalMu && payload.length !== 64) throw new WardenError(612, `${name} verifies over a 64-byte µ; the payload is ${payload.length} bytes`);
      const level = mlDsaLevelOf(key);
      const publicKey = publicRaw(key.material, ML_DSA_OIDS[level], `ML-DSA-${level}`);
      const mode: MessageMode = { context: contextOf(opts), prehash, externalMu };
      return runPqcBool({ op: 'mldsa.verify', level, publicKey, msg: payload, sig: signature, mode }).catch(() => false);
    },
  });
}

// --- SLH-DSA (FIPS 205) ---------------------------------------------------------------------------

function slhDsa(name: string, prehash: string | null, aliases: string[] = []): SignatureAlgorithm {
  return descriptor({
    name, aliases, scheme: 'SLH_DSA', keyAlgorithms: SLH_DSA_SETS.map((s) => `SLH-DSA-${s}`), context: true,
    summary: prehash ? `HashSLH-DSA with ${prehash} (FIPS 205 §10.2.2); optional context` : 'Pure SLH-DSA (FIPS 205 §10.2.1), randomized; optional context',
    async sign(key, payload, opts: SignOptions) {
      checkPayload(payload, name);
      const set = slhSetOf(key);
      const secret = privateInner(key.material, SLH_DSA_OIDS[set], `SLH-DSA-${set}`);
      const mode: MessageMode = { context: contextOf(opts), prehash, externalMu: false };
      return runPqcBytes({ op: 'slhdsa.sign', set, secret, msg: payload, mode }).catch((e) => mapJobError(e, name));
    },
    async verify(key, payload, signature, opts: VerifyOptions) {
      checkPayload(payload, name);
      const set = slhSetOf(key);
      const publicKey = publicRaw(key.material, SLH_DSA_OIDS[set], `SLH-DSA-${set}`);
      const mode: MessageMode = { context: contextOf(opts), prehash, externalMu: false };
      return runPqcBool({ op: 'slhdsa.verify', set, publicKey, msg: payload, sig: signature, mode }).catch(() => false);
    },
  });
}

// --- BLS (BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_, min-pk basic scheme) -------------------------

const blsSignature = descriptor({
  name: 'BLS', scheme: 'BLS', keyAlgorithms: ['BLS'], deterministic: true,
  summary: 'BLS12-381 min-pk basic scheme, ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_NUL_ (draft-irtf-cfrg-bls-signature-06); 96-byte compressed G2 signature',
  async sign(key, payload) {
    checkPayload(payload, 'BLS');
    return runPqcBytes({ op: 'bls.sign', secret: blsSecret(key.material), msg: payload }).catch((e) => mapJobError(e, 'BLS'));
  },
  async verify(key, payload, signature) {
    checkPayload(payload, 'BLS');
    if (signature.length !== 96) return false;
    const publicKey = publicRaw(key.material, BLS_OID, 'BLS');
    return runPqcBool({ op: 'bls.verify', publicKey, msg: payload, sig: signature }).catch(() => false);
  },
});

// --- Stateful hash-based signatures ---------------------------------------------------------------

function stateIndexOf(opts: SignOptions, name: string): number {
  if (opts.stateIndex === undefined) throw new WardenError(701, `${name} needs a one-time index reserved by the keystore`);
  return opts.stateIndex;
}

const lmsSignature = descriptor({
  name: 'LMS', scheme: 'LMS', keyAlgorithms: ['HSS-LMS'], stateful: true, deterministic: false,
  summary: 'HSS/LMS (RFC 8554), SHA-256; each signature uses a one-time index the keystore seals before signing',
  async sign(key, payload, opts: SignOptions) {
    checkPayload(payload, 'LMS');
    const raw = privateInner(key.material, HSS_LMS_OID, 'HSS/LMS');
    return runPqcBytes({ op: 'lms.sign', privateKey: raw, index: stateIndexOf(opts, 'LMS'), msg: payload }, statefulAffinity(raw)).catch((e) => mapJobError(e, 'LMS'));
  },
  async verify(key, payload, signature) {
    checkPayload(payload, 'LMS');
    return runPqcBool({ op: 'lms.verify', publicKey: hssPublic(key.material), msg: payload, sig: signature }).catch(() => false);
  },
});

function xmssSignature(oid: number): SignatureAlgorithm {
  const set = XMSS_PARAMS[oid];
  const matches = (key: SignatureKey) => {
    const { params } = xmssPublic(key.material);
    if (params.oid !== oid) throw new WardenError(607, `${set.wireName} needs an ${set.wireName} key; the key is ${params.wireName}`);
  };
  return descriptor({
    name: set.wireName, scheme: 'XMSS', keyAlgorithms: ['XMSS'], stateful: true, deterministic: true,
    summary: `${set.name} (RFC 8391, SP 800-208); each signature uses a one-time index the keystore seals before signing`,
    async sign(key, payload, opts: SignOptions) {
      checkPayload(payload, set.wireName);
      matches(key);
      const raw = privateInner(key.material, XMSS_OID, 'XMSS');
      return runPqcBytes({ op: 'xmss.sign', privateKey: raw, index: stateIndexOf(opts, set.wireName), msg: payload }, statefulAffinity(raw)).catch((e) => mapJobError(e, set.wireName));
    },
    async verify(key, payload, signature) {
      checkPayload(payload, set.wireName);
      matches(key);
      return runPqcBool({ op: 'xmss.verify', publicKey: xmssPublic(key.material).raw, msg: payload, sig: signature }).catch(() => false);
    },
  });
}

/** The module registered in src/crypto/signatures/registry.ts. */
export const PQC_SIGNATURES: readonly SignatureAlgorithm[] = [
  mlDsa('ML_DSA', null, false, ['DILITHIUM']),
  mlDsa('ML_DSA_M', null, true),
  ...PREHASH_NAMES.map((h) => mlDsa(`${h}_WITH_ML_DSA`, h, false)),
  slhDsa('SLH_DSA', null, ['SPHINCS_PLUS']),
  ...PREHASH_NAMES.map((h) => slhDsa(`${h}_WITH_SLH_DSA`, h)),
  blsSignature,
  lmsSignature,
  xmssSignature(0x01),
  xmssSignature(0x10),
];
