// The Warden file-encryption container, version 1 (docs/file-encryption.md): a 115-byte header
// (magic, version, suite, chunk size, recipient key id, ephemeral P-384 point), then AES-256-GCM
// chunks keyed by ECDH(P-384) + HKDF-SHA-384 over the header, with STREAM-style nonces
// (prefix ‖ counter ‖ last-chunk flag) so reordering, truncation and extension are detected.
import { createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';

export const MAGIC = Buffer.from('WFEC', 'ascii');
export const VERSION = 1;
/** Suite 1: ECDH on P-384, HKDF-SHA-384, AES-256-GCM with 16-byte tags. */
export const SUITE_P384_HKDF_SHA384_AES256GCM = 1;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Readers accept 1 KiB … 1 MiB chunks: bounds the memory one decryption can take. */
export const MIN_CHUNK_SIZE = 1024;
export const MAX_CHUNK_SIZE = 1024 * 1024;
export const TAG_LENGTH = 16;
const POINT_LENGTH = 97;
const KEY_ID_LENGTH = 8;
export const HEADER_LENGTH = 4 + 1 + 1 + 4 + KEY_ID_LENGTH + POINT_LENGTH;
const NONCE_PREFIX_LENGTH = 7;
const HKDF_INFO = Buffer.from('warden/file-encryption/v1', 'ascii');
export const P384_OID = '1.3.132.0.34';

export interface FileHeader {
  raw: Buffer;
  chunkSize: number;
  keyId: Buffer;
  ephemeralPoint: Buffer;
}

export interface FileKey {
  key: Buffer;
  noncePrefix: Buffer;
  chunkSize: number;
}

/** A malformed container (→ 623 res.error.invalid.file.header). */
export class FileHeaderError extends Error {}

/** First 8 bytes of SHA-256 over the recipient's DER SubjectPublicKeyInfo (canonical node export). */
export function recipientKeyId(spki: Buffer): Buffer {
  const canonical = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(canonical).digest().subarray(0, KEY_ID_LENGTH);
}

function encodeHeader(chunkSize: number, keyId: Buffer, point: Buffer): Buffer {
  const fixed = Buffer.alloc(10);
  MAGIC.copy(fixed, 0);
  fixed[4] = VERSION;
  fixed[5] = SUITE_P384_HKDF_SHA384_AES256GCM;
  fixed.writeUInt32BE(chunkSize, 6);
  return Buffer.concat([fixed, keyId, point]);
}

export function parseHeader(raw: Buffer): FileHeader {
  if (raw.length < HEADER_LENGTH) throw new FileHeaderError('the file is shorter than the container header');
  if (!raw.subarray(0, 4).equals(MAGIC)) throw new FileHeaderError('the file is not a Warden encrypted file (bad magic)');
  if (raw[4] !== VERSION) throw new FileHeaderError(`unsupported container version ${raw[4]}`);
  if (raw[5] !== SUITE_P384_HKDF_SHA384_AES256GCM) throw new FileHeaderError(`unsupported cipher suite ${raw[5]}`);
  const chunkSize = raw.readUInt32BE(6);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) throw new FileHeaderError(`chunk size ${chunkSize} is out of range`);
  const point = Buffer.from(raw.subarray(10 + KEY_ID_LENGTH, HEADER_LENGTH));
  if (point[0] !== 0x04) throw new FileHeaderError('the ephemeral public key is not an uncompressed P-384 point');
  return { raw: Buffer.from(raw.subarray(0, HEADER_LENGTH)), chunkSize, keyId: Buffer.from(raw.subarray(10, 10 + KEY_ID_LENGTH)), ephemeralPoint: point };
}

function fileKeyFrom(sharedSecret: Buffer, header: Buffer, chunkSize: number): FileKey {
  // The whole header is HKDF info: any change to it (chunk size, key id, point) yields another key,
  // so the first chunk's tag fails instead of decrypting under altered parameters.
  const okm = Buffer.from(hkdfSync('sha384', sharedSecret, Buffer.alloc(0), Buffer.concat([HKDF_INFO, header]), 32 + NONCE_PREFIX_LENGTH));
  return { key: okm.subarray(0, 32), noncePrefix: okm.subarray(32), chunkSize };
}

/** Sender side: a fresh ephemeral key, the header and the file key for `recipientSpki` (a P-384 key). */
export function newFileKey(recipientSpki: Buffer, chunkSize = DEFAULT_CHUNK_SIZE): { header: Buffer; fileKey: FileKey } {
  const recipient = createPublicKey({ key: recipientSpki, format: 'der', type: 'spki' });
  if (recipient.asymmetricKeyType !== 'ec' || recipient.asymmetricKeyDetails?.namedCurve !== 'secp384r1') {
    throw new Error('file encryption needs an EC P-384 public key');
  }
  const eph = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
  const jwk = eph.publicKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x as string, 'base64url'), Buffer.from(jwk.y as string, 'base64url')]);
  const header = encodeHeader(chunkSize, recipientKeyId(recipientSpki), point);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
  return { header, fileKey: fileKeyFrom(shared, header, chunkSize) };
}

/** Recipient side: ECDH with the recipient's PKCS#8 private key. A point off the curve is a header error. */
export function openFileKey(privateKeyPkcs8: Buffer, header: FileHeader): FileKey {
  const shared = diffieHellman({ privateKey: createPrivateKey({ key: privateKeyPkcs8, format: 'der', type: 'pkcs8' }), publicKey: ephemeralKey(header) });
  return fileKeyFrom(shared, header.raw, header.chunkSize);
}

/** The same with the ECDH run elsewhere (a key on a PKCS#11 token): `agree` gets the checked ephemeral point. */
export async function openFileKeyWith(agree: (peerPoint: Buffer) => Promise<Buffer>, header: FileHeader): Promise<FileKey> {
  ephemeralKey(header);
  return fileKeyFrom(await agree(header.ephemeralPoint), header.raw, header.chunkSize);
}

function ephemeralKey(header: FileHeader): KeyObject {
  try {
    const x = header.ephemeralPoint.subarray(1, 49).toString('base64url');
    const y = header.ephemeralPoint.subarray(49, 97).toString('base64url');
    return createPublicKey({ key: { kty: 'EC', crv: 'P-384', x, y }, format: 'jwk' });
  } catch {
    throw new FileHeaderError('the ephemeral public key is not a point on P-384');
  }
}

/** STREAM nonce (Hoang, Reyhanitabar, Rogaway, Vizár 2015): prefix(7) ‖ counter(4, big-endian) ‖ last(1). */
export function chunkNonce(fileKey: FileKey, counter: number, last: boolean): Buffer {
  if (counter > 0xffffffff) throw new Error('file too large: more than 2^32 chunks');
  const nonce = Buffer.alloc(12);
  fileKey.noncePrefix.copy(nonce, 0);
  nonce.writeUInt32BE(counter, NONCE_PREFIX_LENGTH);
  nonce[11] = last ? 1 : 0;
  return nonce;
}
