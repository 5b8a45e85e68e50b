// The cipher registry: one frozen descriptor per `cipherAlgorithm` of spec §4.4 (key algorithm, IV,
// padding, AEAD flag, node:crypto name). The wire enum and every encrypt/decrypt decision come from here.
import { WardenError } from '../../server/errors.ts';

/** Key algorithms (as reported in attributes) a cipher can run on. */
export type CipherKeyAlgorithm = 'RSA' | 'AES' | 'ChaCha20' | 'Camellia' | 'TDEA';

/** Hashes usable for RSA-OAEP (OAEP digest and MGF1 digest are always the same one here). */
export type OaepHash = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

export interface RsaCipher {
  readonly kind: 'rsa';
  readonly name: string;
  readonly keyAlgorithm: 'RSA';
  /** pkcs1 = RSAES-PKCS1-v1_5 (RFC 8017 §7.2); oaep = RSAES-OAEP (§7.1); none = raw RSA on a modulus-size block. */
  readonly padding: 'pkcs1' | 'oaep' | 'none';
  readonly oaepHash: OaepHash | null;
  readonly ivLength: 0;
  readonly aead: false;
  readonly description: string;
}

export type SymmetricMode = 'gcm' | 'ctr' | 'ecb' | 'cbc' | 'chacha20' | 'chacha20-poly1305';

export interface SymmetricCipher {
  readonly kind: 'symmetric';
  readonly name: string;
  readonly keyAlgorithm: Exclude<CipherKeyAlgorithm, 'RSA'>;
  readonly mode: SymmetricMode;
  /** Length of the IV/nonce on the wire (initializationVector), 0 when the mode takes none (ECB). */
  readonly ivLength: number;
  /** Block size in bytes (1 for stream modes); no-padding modes need payloads that are a multiple of it. */
  readonly blockSize: number;
  readonly padding: 'pkcs5' | 'none';
  readonly aead: boolean;
  /** node:crypto / OpenSSL cipher name for a key of `keyBytes` bytes. */
  nodeName(keyBytes: number): string;
  readonly description: string;
}

export type CipherDescriptor = RsaCipher | SymmetricCipher;

const rsa = (name: string, padding: RsaCipher['padding'], oaepHash: OaepHash | null, description: string): RsaCipher =>
  Object.freeze({ kind: 'rsa', name, keyAlgorithm: 'RSA', padding, oaepHash, ivLength: 0, aead: false, description });

interface BlockSpec {
  keyAlgorithm: SymmetricCipher['keyAlgorithm'];
  /** OpenSSL cipher name for a key size and mode. */
  opensslName: (bits: number, mode: string) => string;
  blockSize: number;
}

const AES: BlockSpec = { keyAlgorithm: 'AES', opensslName: (bits, mode) => `aes-${bits}-${mode}`, blockSize: 16 };
const CAMELLIA: BlockSpec = { keyAlgorithm: 'Camellia', opensslName: (bits, mode) => `camellia-${bits}-${mode}`, blockSize: 16 };
// OpenSSL spells 3-key Triple-DES in ECB mode plain `des-ede3`.
const TDEA: BlockSpec = { keyAlgorithm: 'TDEA', opensslName: (_bits, mode) => (mode === 'ecb' ? 'des-ede3' : `des-ede3-${mode}`), blockSize: 8 };

function block(name: string, spec: BlockSpec, mode: 'gcm' | 'ctr' | 'ecb' | 'cbc', padding: 'pkcs5' | 'none', description: string): SymmetricCipher {
  const nodeName = (keyBytes: number) => spec.opensslName(keyBytes * 8, mode);
  const ivLength = mode === 'ecb' ? 0 : mode === 'gcm' ? 12 : spec.blockSize;
  return Object.freeze({
    kind: 'symmetric', name, keyAlgorithm: spec.keyAlgorithm, mode, ivLength,
    blockSize: mode === 'ctr' || mode === 'gcm' ? 1 : spec.blockSize,
    padding, aead: mode === 'gcm', nodeName, description,
  });
}

const chacha = (name: string, aead: boolean, description: string): SymmetricCipher =>
  Object.freeze({
    kind: 'symmetric', name, keyAlgorithm: 'ChaCha20', mode: aead ? 'chacha20-poly1305' : 'chacha20', ivLength: 12, blockSize: 1,
    padding: 'none', aead, nodeName: () => (aead ? 'chacha20-poly1305' : 'chacha20'), description,
  });

/**
 * Every cipher of spec §4.4. Paddings the vendor leaves open are decided here (docs/decisions.md):
 * `RSA` = PKCS#1 v1.5 (the JCA default), `RSA_PADDING_OAEP` = OAEP with SHA-1 and MGF1-SHA-1 (the JCA
 * default), `RSA_PADDING_OAEP_WITH_SHAx` = OAEP with SHA-x and MGF1-SHA-x; the ECB modes and the
 * plain `AES` / `CAMELLIA` / `TDEA_CBC` names use PKCS#5 padding; CHACHA20 takes a 12-byte nonce and
 * starts at block counter 0.
 */
export const CIPHERS: readonly CipherDescriptor[] = Object.freeze([
  rsa('RSA', 'pkcs1', null, 'RSAES-PKCS1-v1_5 (same as RSA_PADDING_PKCS)'),
  rsa('RSA_PADDING_PKCS', 'pkcs1', null, 'RSAES-PKCS1-v1_5'),
  rsa('RSA_PADDING_OAEP', 'oaep', 'sha1', 'RSAES-OAEP, SHA-1, MGF1-SHA-1'),
  rsa('RSA_PADDING_OAEP_WITH_SHA1', 'oaep', 'sha1', 'RSAES-OAEP, SHA-1, MGF1-SHA-1'),
  rsa('RSA_PADDING_OAEP_WITH_SHA224', 'oaep', 'sha224', 'RSAES-OAEP, SHA-224, MGF1-SHA-224'),
  rsa('RSA_PADDING_OAEP_WITH_SHA256', 'oaep', 'sha256', 'RSAES-OAEP, SHA-256, MGF1-SHA-256'),
  rsa('RSA_PADDING_OAEP_WITH_SHA384', 'oaep', 'sha384', 'RSAES-OAEP, SHA-384, MGF1-SHA-384'),
  rsa('RSA_PADDING_OAEP_WITH_SHA512', 'oaep', 'sha512', 'RSAES-OAEP, SHA-512, MGF1-SHA-512'),
  rsa('RSA_NO_PADDING', 'none', null, 'raw RSA; the payload is left-padded with zeros to the modulus size'),
  block('AES_GCM', AES, 'gcm', 'none', 'AES-GCM, 12-byte IV from the server, tag of tagLength bits appended'),
  block('AES_CTR', AES, 'ctr', 'none', 'AES-CTR, 16-byte initial counter block from the server'),
  block('AES_ECB', AES, 'ecb', 'pkcs5', 'AES-ECB with PKCS#5 padding, no IV'),
  block('AES_CBC_NO_PADDING', AES, 'cbc', 'none', 'AES-CBC without padding (payload a multiple of 16 bytes), 16-byte IV'),
  block('AES', AES, 'cbc', 'pkcs5', 'AES-CBC with PKCS#5 padding, 16-byte IV'),
  chacha('CHACHA20', false, 'ChaCha20 (RFC 8439) with a 12-byte nonce, block counter starting at 0'),
  chacha('CHACHA20_AEAD', true, 'ChaCha20-Poly1305 (RFC 8439), 12-byte nonce, 16-byte tag appended'),
  block('CAMELLIA', CAMELLIA, 'cbc', 'pkcs5', 'Camellia-CBC with PKCS#5 padding, 16-byte IV'),
  block('CAMELLIA_CBC_NO_PADDING', CAMELLIA, 'cbc', 'none', 'Camellia-CBC without padding, 16-byte IV'),
  block('CAMELLIA_ECB', CAMELLIA, 'ecb', 'pkcs5', 'Camellia-ECB with PKCS#5 padding, no IV'),
  block('TDEA_CBC', TDEA, 'cbc', 'pkcs5', '3-key Triple-DES CBC with PKCS#5 padding, 8-byte IV'),
  block('TDEA_ECB', TDEA, 'ecb', 'pkcs5', '3-key Triple-DES ECB with PKCS#5 padding, no IV'),
  block('TDEA_CBC_NO_PADDING', TDEA, 'cbc', 'none', '3-key Triple-DES CBC without padding (payload a multiple of 8 bytes), 8-byte IV'),
]);

const byName = new Map(CIPHERS.map((c) => [c.name, c]));

/** Wire names of `cipherAlgorithm` (drives the OpenAPI enum). */
export const CIPHER_ALGORITHMS: readonly string[] = Object.freeze(CIPHERS.map((c) => c.name));

export function cipherFor(name: string): CipherDescriptor {
  const c = byName.get(name);
  if (!c) throw new WardenError(501, `Unknown cipherAlgorithm '${name}'`);
  return c;
}

/** AES-GCM tag sizes of spec §4.4 (0 or absent means 128). */
export const GCM_TAG_BITS: readonly number[] = Object.freeze([64, 96, 104, 112, 120, 128]);

/**
 * Resolves the tag length in bits for an AEAD cipher (spec §4.4; invalid → 624). ChaCha20-Poly1305
 * has a fixed 128-bit tag. Non-AEAD ciphers ignore the field (the Go client only sends it for GCM).
 */
export function tagBitsFor(cipher: CipherDescriptor, tagLength: number | null | undefined): number {
  if (!cipher.aead) return 0;
  const requested = tagLength === undefined || tagLength === null || tagLength === 0 ? 128 : tagLength;
  const allowed = cipher.kind === 'symmetric' && cipher.mode === 'gcm' ? GCM_TAG_BITS : [128];
  if (!allowed.includes(requested)) {
    throw new WardenError(624, `tagLength ${tagLength} is not supported by ${cipher.name} (allowed: 0, ${allowed.join(', ')})`);
  }
  return requested;
}
