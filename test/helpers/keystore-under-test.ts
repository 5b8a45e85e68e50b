// Which keystore the API suites run against (WARDEN_TEST_KEYSTORE, set by the PKCS#11 pass of
// scripts/run-tests.mjs), and the one list of what the PKCS#11 keystore on SoftHSM 2.6 refuses. A test
// of a refused algorithm asserts the refusal (400/611) under PKCS#11 and the result under software:
// never a skip. The list is written from the token's side (what SoftHSM offers, C_GetMechanismList,
// docs/hsm.md), not imported from src/, so a keystore that starts refusing more fails the suites.
import assert from 'node:assert/strict';
import { ON_PKCS11 } from './softhsm.ts';

export const KEYSTORE: 'software' | 'pkcs11' = ON_PKCS11 ? 'pkcs11' : 'software';
export const ON_TOKEN = ON_PKCS11;

/**
 * Key algorithms (the wire `algorithm` of create/import) the token does not hold: post-quantum,
 * BLS and stateful hash-based keys (no mechanism), ChaCha20 and Camellia (none on SoftHSM). DSA and
 * TDEA keys live on the token (CKM_DSA*, CKM_DES3_*).
 */
export const REFUSED_KEY_ALGORITHMS: ReadonlySet<string> = new Set([
  'ChaCha20', 'Camellia', 'BLS', 'LMS', 'XMSS', 'ML-DSA', 'SLH-DSA', 'ML-KEM',
]);

/**
 * Signature algorithms a token key cannot make: BIP-340 Schnorr (no mechanism), RFC 6979 deterministic
 * ECDSA (the token picks k itself). NONE_WITH_RSA_PSS runs on CKM_RSA_PKCS_PSS (hash from the digest length).
 * RSA with SHA-3/Keccak works: Warden hashes and the token signs the DigestInfo with CKM_RSA_PKCS.
 */
export const REFUSED_SIGNATURES: readonly RegExp[] = [/SCHNORR/, /_DETERMINISTIC$/];

/** Cipher algorithms a token key cannot run at all (SoftHSM: AES ECB/CBC/CTR/GCM/key wrap, DES3, RSA). */
export const REFUSED_CIPHERS: readonly RegExp[] = [/CCM/, /OFB/, /CFB/, /XTS/, /CHACHA/, /CAMELLIA/];

/**
 * Decryption the token refuses although it encrypts: RSA PKCS#1 v1.5 (no implicit rejection on the
 * token, so a bad padding would answer differently from a good one) and OAEP with a SHA-2 hash (SoftHSM
 * 2.6 has OAEP with SHA-1 only).
 */
export const REFUSED_DECRYPTIONS: readonly RegExp[] = [/^RSA$/, /^RSA_PADDING_PKCS$/, /^RSA_PADDING_OAEP_WITH_SHA(224|256|384|512)$/];

/**
 * Wrap methods refused for token keys: RFC 5649 of an asymmetric key (PKCS#11 leaves the encoding before
 * the padding to the token, so the blob would not unwrap to the key's PKCS#8 as elsewhere), any wrap of
 * an EdDSA key (SoftHSM: CKR_KEY_NOT_WRAPPABLE) and RSA-OAEP wrapping (SoftHSM's OAEP is SHA-1 only).
 */
export const REFUSED_WRAPS: readonly RegExp[] = [/^AES_WRAP_PAD_(RSA|EC|ED|DSA)$/, /^AES_WRAP_ED$/, /^RSA_WRAP_OAEP$/];

/** Key attributes the token keystore cannot honour: derivation keeps the chain code beside the key. */
export const REFUSED_ATTRIBUTES: ReadonlySet<string> = new Set(['bip32', 'slip10']);

/** Signature encodings a token cannot produce: none (ETH's recovery id v is found from public data after C_Sign). */
export const REFUSED_SIGNATURE_TYPES: ReadonlySet<string> = new Set<string>();

export interface Operation {
  key?: string;
  signature?: string;
  signatureType?: string;
  cipher?: string;
  decrypt?: string;
  wrap?: string;
  attribute?: string;
}

/** Whether the keystore under test refuses `op` (always false on the software keystore). */
export function refusedOnToken(op: Operation): boolean {
  if (!ON_TOKEN) return false;
  if (op.key !== undefined && REFUSED_KEY_ALGORITHMS.has(op.key)) return true;
  if (op.signature !== undefined && REFUSED_SIGNATURES.some((r) => r.test(op.signature as string))) return true;
  if (op.signatureType !== undefined && REFUSED_SIGNATURE_TYPES.has(op.signatureType)) return true;
  if (op.cipher !== undefined && REFUSED_CIPHERS.some((r) => r.test(op.cipher as string))) return true;
  if (op.decrypt !== undefined && [...REFUSED_CIPHERS, ...REFUSED_DECRYPTIONS].some((r) => r.test(op.decrypt as string))) return true;
  if (op.wrap !== undefined && REFUSED_WRAPS.some((r) => r.test(op.wrap as string))) return true;
  if (op.attribute !== undefined && REFUSED_ATTRIBUTES.has(op.attribute)) return true;
  return false;
}

interface Reply {
  statusCode: number;
  body: string;
  json(): { errorCode?: number };
}

/** Asserts the refusal of an operation the token has no mechanism for: 400 with error code 611. */
export function assertRefusedOnToken(r: Reply, what = ''): void {
  assert.equal(r.statusCode, 400, `${what}: expected 400/611 on the PKCS#11 keystore, got ${r.statusCode} ${r.body}`);
  assert.equal(r.json().errorCode, 611, `${what}: expected error 611 on the PKCS#11 keystore, got ${r.body}`);
}

/**
 * Under PKCS#11, when `op` is on the refused list: asserts 400/611 and returns true, so the caller
 * stops there. Otherwise returns false and the caller asserts the normal result.
 */
export function refused(r: Reply, op: Operation, what = JSON.stringify(op)): boolean {
  if (!refusedOnToken(op)) return false;
  assertRefusedOnToken(r, what);
  return true;
}
