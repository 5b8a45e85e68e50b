// The pure-JS operations the PQC worker pool runs (pool.ts): ML-DSA, SLH-DSA and BLS through noble,
// LMS/HSS and XMSS through this folder. Every function takes and returns plain bytes so a job can be
// posted to a worker thread; the same functions run inline when the pool is sized 0.
import { createHash } from 'node:crypto';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { sha3_224, sha3_256, sha3_384, sha3_512, shake128_32, shake256_64 } from '@noble/hashes/sha3.js';
import type { CHash } from '@noble/hashes/utils.js';
import { ml_dsa44, ml_dsa65, ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import * as slh from '@noble/post-quantum/slh-dsa.js';
import { hssVerify, lmsPublicKey, lmsSign } from './lms.ts';
import { xmssPublicKey, xmssSign, xmssVerify } from './xmss.ts';

export const ML_DSA = { '44': ml_dsa44, '65': ml_dsa65, '87': ml_dsa87 } as const;
export type MlDsaLevel = keyof typeof ML_DSA;

/** FIPS 205 parameter sets by the suffix of their wire name (SLH-DSA-<suffix>). */
export const SLH_DSA = {
  'SHA2-128s': slh.slh_dsa_sha2_128s, 'SHA2-128f': slh.slh_dsa_sha2_128f,
  'SHA2-192s': slh.slh_dsa_sha2_192s, 'SHA2-192f': slh.slh_dsa_sha2_192f,
  'SHA2-256s': slh.slh_dsa_sha2_256s, 'SHA2-256f': slh.slh_dsa_sha2_256f,
  'SHAKE-128s': slh.slh_dsa_shake_128s, 'SHAKE-128f': slh.slh_dsa_shake_128f,
  'SHAKE-192s': slh.slh_dsa_shake_192s, 'SHAKE-192f': slh.slh_dsa_shake_192f,
  'SHAKE-256s': slh.slh_dsa_shake_256s, 'SHAKE-256f': slh.slh_dsa_shake_256f,
} as const;
export type SlhDsaSet = keyof typeof SLH_DSA;

/**
 * Pre-hash functions of HashML-DSA / HashSLH-DSA (FIPS 204 §5.4, FIPS 205 §10.2) by the prefix of the
 * wire name; SHAKE128 with 256-bit and SHAKE256 with 512-bit output, as the FIPS and RFC 8702 fix them.
 */
export const PREHASHES: Record<string, CHash> = {
  SHA2_224: sha224, SHA2_256: sha256, SHA2_384: sha384, SHA2_512: sha512,
  SHA3_224: sha3_224, SHA3_256: sha3_256, SHA3_384: sha3_384, SHA3_512: sha3_512,
  SHAKE_128: shake128_32, SHAKE_256: shake256_64,
};

/** How a signature formats its message: pure (with context), pre-hashed with a hash, or external µ (ML-DSA only). */
export interface MessageMode {
  context: Uint8Array;
  prehash: string | null;
  externalMu: boolean;
}

/** Bounded cache of expanded secret keys (ML-DSA keys are stored as their 32-byte seed, RFC 9881). */
const expanded = new Map<string, Uint8Array>();
function mlDsaSecret(level: MlDsaLevel, seed: Uint8Array | null, secret: Uint8Array | null): Uint8Array {
  if (secret) return secret;
  if (!seed) throw new Error('ML-DSA key has neither seed nor expanded key');
  const id = level + createHash('sha256').update(seed).digest('hex');
  let sk = expanded.get(id);
  if (!sk) {
    sk = ML_DSA[level].keygen(seed).secretKey;
    if (expanded.size >= 256) expanded.delete(expanded.keys().next().value as string);
    expanded.set(id, sk);
  }
  return sk;
}

export type Job =
  | { op: 'mldsa.sign'; level: MlDsaLevel; seed: Uint8Array | null; secret: Uint8Array | null; msg: Uint8Array; mode: MessageMode }
  | { op: 'mldsa.verify'; level: MlDsaLevel; publicKey: Uint8Array; msg: Uint8Array; sig: Uint8Array; mode: MessageMode }
  | { op: 'slhdsa.keygen'; set: SlhDsaSet; seed: Uint8Array }
  | { op: 'slhdsa.sign'; set: SlhDsaSet; secret: Uint8Array; msg: Uint8Array; mode: MessageMode }
  | { op: 'slhdsa.verify'; set: SlhDsaSet; publicKey: Uint8Array; msg: Uint8Array; sig: Uint8Array; mode: MessageMode }
  | { op: 'bls.sign'; secret: Uint8Array; msg: Uint8Array }
  | { op: 'bls.verify'; publicKey: Uint8Array; msg: Uint8Array; sig: Uint8Array }
  | { op: 'lms.publicKey'; privateKey: Uint8Array }
  | { op: 'lms.sign'; privateKey: Uint8Array; index: number; msg: Uint8Array }
  | { op: 'xmss.publicKey'; privateKey: Uint8Array }
  | { op: 'xmss.sign'; privateKey: Uint8Array; index: number; msg: Uint8Array }
  | { op: 'lms.verify'; publicKey: Uint8Array; msg: Uint8Array; sig: Uint8Array }
  | { op: 'xmss.verify'; publicKey: Uint8Array; msg: Uint8Array; sig: Uint8Array };

export type JobResult = Uint8Array | boolean;

function prehashOf(name: string): CHash {
  const h = PREHASHES[name];
  if (!h) throw new Error(`unknown pre-hash ${name}`);
  return h;
}

/**
 * M' of FIPS 204 §5.2/§5.4 and FIPS 205 §10.2/§10.2.2: 0 ‖ |ctx| ‖ ctx ‖ M (pure) or
 * 1 ‖ |ctx| ‖ ctx ‖ OID(PH) ‖ PH(M) (pre-hash). Built here so every listed pre-hash works with every
 * parameter set (noble's prehash() refuses hashes weaker than the set; FIPS 204 only recommends that).
 */
export function formatMessage(msg: Uint8Array, mode: MessageMode): Uint8Array {
  if (mode.context.length > 255) throw new Error('context must be at most 255 bytes');
  if (!mode.prehash) return concat(Uint8Array.of(0, mode.context.length), mode.context, msg);
  const h = prehashOf(mode.prehash);
  return concat(Uint8Array.of(1, mode.context.length), mode.context, h.oid as Uint8Array, h(msg));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Runs one job; throws a plain Error for bad inputs (the caller maps it to a wire error). */
export function runJob(job: Job): JobResult {
  switch (job.op) {
    case 'mldsa.sign': {
      const sk = mlDsaSecret(job.level, job.seed, job.secret);
      const alg = ML_DSA[job.level];
      if (job.mode.externalMu) return alg.internal.sign(job.msg, sk, { externalMu: true });
      return alg.internal.sign(formatMessage(job.msg, job.mode), sk);
    }
    case 'mldsa.verify': {
      const alg = ML_DSA[job.level];
      if (job.mode.externalMu) return alg.internal.verify(job.sig, job.msg, job.publicKey, { externalMu: true });
      return alg.internal.verify(job.sig, formatMessage(job.msg, job.mode), job.publicKey);
    }
    case 'slhdsa.keygen': {
      const { secretKey } = SLH_DSA[job.set].keygen(job.seed);
      return secretKey;
    }
    case 'slhdsa.sign':
      return SLH_DSA[job.set].internal.sign(formatMessage(job.msg, job.mode), job.secret);
    case 'slhdsa.verify':
      return SLH_DSA[job.set].internal.verify(job.sig, formatMessage(job.msg, job.mode), job.publicKey);
    case 'bls.sign': {
      const bls = bls12_381.longSignatures;
      return bls.Signature.toBytes(bls.sign(bls.hash(job.msg), job.secret));
    }
    case 'bls.verify': {
      const bls = bls12_381.longSignatures;
      return bls.verify(job.sig, bls.hash(job.msg), job.publicKey);
    }
    case 'lms.publicKey':
      return lmsPublicKey(job.privateKey);
    case 'lms.sign':
      return lmsSign(job.privateKey, job.index, job.msg);
    case 'xmss.publicKey':
      return xmssPublicKey(job.privateKey);
    case 'xmss.sign':
      return xmssSign(job.privateKey, job.index, job.msg);
    case 'lms.verify':
      return hssVerify(job.publicKey, job.msg, job.sig);
    case 'xmss.verify':
      return xmssVerify(job.publicKey, job.msg, job.sig);
  }
}
