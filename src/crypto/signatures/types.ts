// What one signature algorithm of the catalogue (spec §4.1) provides: a frozen descriptor with its wire
// name, the key algorithms it runs on, its hashing, and sign/verify. Routes resolve a descriptor from
// the registry and never branch on algorithm strings themselves.
import type { HashInfo } from '../hashes.ts';
import type { KeyMaterial } from '../families/types.ts';

/** `signatureType` of spec §4.1: the algorithm's natural encoding, fixed-width r‖s, or Ethereum r‖s‖v. */
export type SignatureType = 'DER' | 'RAW' | 'ETH';

export type SignatureScheme = 'RSA_PKCS1' | 'RSA_PSS' | 'ECDSA' | 'DSA' | 'EDDSA' | 'SCHNORR' | 'ML_DSA' | 'SLH_DSA' | 'BLS' | 'LMS' | 'XMSS';

/** The key a signature runs on: reported algorithm, curve/size and the opened material. */
export interface SignatureKey {
  algorithm: string;
  curveOid: string | null;
  keySize: number | null;
  material: KeyMaterial;
}

export interface SignOptions {
  signatureType: SignatureType;
  /** BIP-340 auxiliary randomness (32 bytes); fresh random bytes when absent. */
  auxiliaryRandomData?: Buffer;
  /** BIP-340/341 tweaks (see docs/decisions.md "Signatures"). */
  taprootTweakData?: Buffer;
  merkleRootData?: Buffer;
  /** ML-DSA / SLH-DSA context string (FIPS 204 §5.2, FIPS 205 §10.2), at most 255 bytes. */
  context?: Buffer;
  /** Stateful schemes (LMS, XMSS): the one-time index the keystore reserved and sealed for this signature. */
  stateIndex?: number;
}

export interface VerifyOptions {
  taprootTweakData?: Buffer;
  merkleRootData?: Buffer;
  /** ML-DSA / SLH-DSA context string. */
  context?: Buffer;
}

export interface SignatureAlgorithm {
  /** `signatureAlgorithm` on the wire. */
  readonly name: string;
  /** Other accepted spellings (e.g. PQC doc vs Go names). */
  readonly aliases: readonly string[];
  readonly scheme: SignatureScheme;
  /** Reported key algorithms (KeyInfo.algorithm) this signature runs on. */
  readonly keyAlgorithms: readonly string[];
  /** Curves (OIDs) the algorithm is limited to; null = every curve of the key family. */
  readonly curves: readonly string[] | null;
  /** Digest the server computes over the payload; null when the payload is signed as given. */
  readonly hash: HashInfo | null;
  /** The payload is itself a digest (NONE*, Schnorr's 32-byte message). */
  readonly prehashed: boolean;
  readonly deterministic: boolean;
  /** signatureType values the algorithm accepts (DER is always one of them). */
  readonly signatureTypes: readonly SignatureType[];
  readonly summary: string;
  /** Takes a `context` string (ML-DSA, SLH-DSA). */
  readonly context?: boolean;
  /** Needs a one-time index from the keystore (LMS, XMSS): sign through KeyStore.useStateful. */
  readonly stateful?: boolean;
  /** Signs; throws WardenError 612 (payload), 607 (key/curve), 600 (options). */
  sign(key: SignatureKey, payload: Buffer, opts: SignOptions): Promise<Buffer>;
  /** Verifies; a malformed or wrong signature is `false`, never an error. Throws only for payload/key errors. */
  verify(key: SignatureKey, payload: Buffer, signature: Buffer, opts: VerifyOptions): Promise<boolean>;
}

/** Payload limit for algorithms that hash on the server (the HSM request limit of spec §4.1). */
export const MAX_HASHED_PAYLOAD = 64 * 1024;
