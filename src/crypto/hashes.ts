// Message digests the signature catalogue uses (spec §4.1): SHA-1/2, SHA-3, original Keccak and
// Bitcoin's double SHA-256, each with its node:crypto name (when OpenSSL has it), the @noble/hashes
// function (for RFC 6979 k generation) and, for the RSA family, the DigestInfo prefix of RFC 8017 §9.2.
import { createHash } from 'node:crypto';
import type { CHash } from '@noble/hashes/utils.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha224, sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { keccak_224, keccak_256, keccak_384, keccak_512, sha3_224, sha3_256, sha3_384, sha3_512 } from '@noble/hashes/sha3.js';

export type HashName =
  | 'SHA1' | 'SHA224' | 'SHA256' | 'SHA384' | 'SHA512'
  | 'SHA3_224' | 'SHA3_256' | 'SHA3_384' | 'SHA3_512'
  | 'KECCAK224' | 'KECCAK256' | 'KECCAK384' | 'KECCAK512'
  | 'DOUBLE_SHA256';

export interface HashInfo {
  readonly name: HashName;
  /** Digest length in bytes. */
  readonly length: number;
  /** node:crypto / OpenSSL digest name, or null when only @noble/hashes has it (Keccak, double SHA-256). */
  readonly nodeName: string | null;
  /** The noble hash: RFC 6979 HMAC-DRBG and MGF1 run over it. For DOUBLE_SHA256 this is SHA-256. */
  readonly noble: CHash;
  /** DER DigestInfo prefix (AlgorithmIdentifier with NULL parameters + OCTET STRING header), RFC 8017 §9.2 note 1. */
  readonly digestInfoPrefix: Buffer | null;
  digest(data: Uint8Array): Buffer;
}

/** DigestInfo prefix for a NIST hash OID arc 2.16.840.1.101.3.4.2.<n>. */
function nistPrefix(arc: number, len: number): Buffer {
  return Buffer.from([0x30, 0x11 + len, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, arc, 0x05, 0x00, 0x04, len]);
}

function nodeHash(name: HashName, nodeName: string, noble: CHash, prefix: Buffer | null): HashInfo {
  return Object.freeze({
    name,
    length: noble.outputLen,
    nodeName,
    noble,
    digestInfoPrefix: prefix,
    digest: (data: Uint8Array) => createHash(nodeName).update(data).digest(),
  });
}

function nobleHash(name: HashName, noble: CHash): HashInfo {
  return Object.freeze({
    name,
    length: noble.outputLen,
    nodeName: null,
    noble,
    digestInfoPrefix: null,
    digest: (data: Uint8Array) => Buffer.from(noble(data)),
  });
}

export const HASHES: Readonly<Record<HashName, HashInfo>> = Object.freeze({
  // SHA-1 OID 1.3.14.3.2.26
  SHA1: nodeHash('SHA1', 'sha1', sha1, Buffer.from('3021300906052b0e03021a05000414', 'hex')),
  SHA224: nodeHash('SHA224', 'sha224', sha224, nistPrefix(0x04, 28)),
  SHA256: nodeHash('SHA256', 'sha256', sha256, nistPrefix(0x01, 32)),
  SHA384: nodeHash('SHA384', 'sha384', sha384, nistPrefix(0x02, 48)),
  SHA512: nodeHash('SHA512', 'sha512', sha512, nistPrefix(0x03, 64)),
  SHA3_224: nodeHash('SHA3_224', 'sha3-224', sha3_224, nistPrefix(0x07, 28)),
  SHA3_256: nodeHash('SHA3_256', 'sha3-256', sha3_256, nistPrefix(0x08, 32)),
  SHA3_384: nodeHash('SHA3_384', 'sha3-384', sha3_384, nistPrefix(0x09, 48)),
  SHA3_512: nodeHash('SHA3_512', 'sha3-512', sha3_512, nistPrefix(0x0a, 64)),
  KECCAK224: nobleHash('KECCAK224', keccak_224),
  KECCAK256: nobleHash('KECCAK256', keccak_256),
  KECCAK384: nobleHash('KECCAK384', keccak_384),
  KECCAK512: nobleHash('KECCAK512', keccak_512),
  DOUBLE_SHA256: Object.freeze({
    name: 'DOUBLE_SHA256',
    length: 32,
    nodeName: null,
    noble: sha256,
    digestInfoPrefix: null,
    digest: (data: Uint8Array) => createHash('sha256').update(createHash('sha256').update(data).digest()).digest(),
  }),
} satisfies Record<HashName, HashInfo>);

/** The SHA-1/SHA-2 hash with this digest length (used where only a digest is supplied: NONE_WITH_RSA_PSS, RFC 6979 for NONE_WITH_DSA). */
export function sha2ByLength(length: number): HashInfo | undefined {
  return [HASHES.SHA1, HASHES.SHA224, HASHES.SHA256, HASHES.SHA384, HASHES.SHA512].find((h) => h.length === length);
}

/** Digest lengths accepted where the payload is an already computed digest of an unnamed hash. */
export const DIGEST_LENGTHS: readonly number[] = Object.freeze([20, 28, 32, 48, 64]);
