// The little DER the signature code needs (X.690): strict TLV reading, INTEGER/SEQUENCE encoding,
// the ECDSA/DSA signature SEQUENCE{r,s} codec, and reading scalars, points and domain parameters
// out of the PKCS#8 / SPKI keys the keystore holds.

export class DerError extends Error {}

export interface Tlv {
  tag: number;
  /** Content bytes. */
  value: Buffer;
  /** Offset just past this element. */
  end: number;
}

/** Reads one element with a definite, minimally encoded length (DER, not BER). */
export function readTlv(buf: Buffer, offset = 0): Tlv {
  if (offset + 2 > buf.length) throw new DerError('truncated');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here');
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized length');
    if (pos + n > buf.length) throw new DerError('truncated length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
    // DER: the long form only for lengths >= 128, with no leading zero byte.
    if (len < 0x80 || buf[offset + 2] === 0) throw new DerError('non-minimal length');
  }
  if (pos + len > buf.length) throw new DerError('truncated value');
  return { tag, value: buf.subarray(pos, pos + len), end: pos + len };
}

/** The children of a constructed element's content. */
export function readChildren(content: Buffer): Tlv[] {
  const out: Tlv[] = [];
  let pos = 0;
  while (pos < content.length) {
    const t = readTlv(content, pos);
    out.push(t);
    pos = t.end;
  }
  return out;
}

export function expectTag(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t || t.tag !== tag) throw new DerError(`expected ${what}`);
  return t;
}

/** A non-negative INTEGER, minimally encoded (no superfluous leading 0x00, not negative). */
export function readUnsigned(t: Tlv | undefined): bigint {
  const v = expectTag(t, 0x02, 'INTEGER').value;
  if (v.length === 0) throw new DerError('empty INTEGER');
  if (v[0] & 0x80) throw new DerError('negative INTEGER');
  if (v.length > 1 && v[0] === 0 && !(v[1] & 0x80)) throw new DerError('non-minimal INTEGER');
  return bytesToBigint(v);
}

export function bytesToBigint(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt('0x' + Buffer.from(b).toString('hex'));
}

/** Big-endian, left-padded to `size` bytes; throws if the value does not fit. */
export function bigintToBytes(n: bigint, size: number): Buffer {
  if (n < 0n) throw new DerError('negative value');
  const hex = n.toString(16);
  if (hex.length > size * 2) throw new DerError('value too large for its field');
  return Buffer.from(hex.padStart(size * 2, '0'), 'hex');
}

function encodeLength(len: number): Buffer {
  if (len < 0x80) return Buffer.from([len]);
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function encodeTlv(tag: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(value.length), value]);
}

export function encodeUnsigned(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = '0' + hex;
  let bytes = Buffer.from(hex, 'hex');
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return encodeTlv(0x02, bytes);
}

export interface RS {
  r: bigint;
  s: bigint;
}

/** ECDSA-Sig-Value / Dss-Sig-Value: SEQUENCE { r INTEGER, s INTEGER } (RFC 3279 §2.2.2–2.2.3). */
export function encodeSignatureDer({ r, s }: RS): Buffer {
  return encodeTlv(0x30, Buffer.concat([encodeUnsigned(r), encodeUnsigned(s)]));
}

/** Strict DER decoding of SEQUENCE{r,s}: no BER lengths, no padding, no trailing bytes. */
export function decodeSignatureDer(sig: Buffer): RS {
  const seq = expectTag(readTlv(sig), 0x30, 'SEQUENCE');
  if (seq.end !== sig.length) throw new DerError('trailing bytes after the signature');
  const parts = readChildren(seq.value);
  if (parts.length !== 2) throw new DerError('signature SEQUENCE must hold exactly r and s');
  return { r: readUnsigned(parts[0]), s: readUnsigned(parts[1]) };
}

/** Fixed-width r‖s (IEEE P1363), each half `size` bytes. */
export function encodeSignatureRaw({ r, s }: RS, size: number): Buffer {
  return Buffer.concat([bigintToBytes(r, size), bigintToBytes(s, size)]);
}

export function decodeSignatureRaw(sig: Buffer, size: number): RS {
  if (sig.length !== 2 * size) throw new DerError('raw signature has the wrong length');
  return { r: bytesToBigint(sig.subarray(0, size)), s: bytesToBigint(sig.subarray(size)) };
}

/**
 * Reads a signature given as strict DER or as raw r‖s of the group-order width (spec §4.2: verify
 * takes both). Returns every interpretation that parses; a caller tries them in order.
 */
export function decodeSignatureAny(sig: Buffer, size: number): RS[] {
  const out: RS[] = [];
  try {
    out.push(decodeSignatureDer(sig));
  } catch {
    // not DER
  }
  if (sig.length === 2 * size) out.push(decodeSignatureRaw(sig, size));
  return out;
}

/** The BIT STRING content of a SubjectPublicKeyInfo (RFC 5280 §4.1): the raw public key. */
export function spkiPublicKeyBits(spki: Buffer): Buffer {
  const outer = readChildren(expectTag(readTlv(spki), 0x30, 'SubjectPublicKeyInfo').value);
  const bits = expectTag(outer[1], 0x03, 'BIT STRING').value;
  if (bits[0] !== 0) throw new DerError('public key BIT STRING with unused bits');
  return bits.subarray(1);
}

/** The AlgorithmIdentifier parameters element of a SubjectPublicKeyInfo. */
export function spkiAlgorithmParams(spki: Buffer): Tlv | undefined {
  const outer = readChildren(expectTag(readTlv(spki), 0x30, 'SubjectPublicKeyInfo').value);
  const alg = readChildren(expectTag(outer[0], 0x30, 'AlgorithmIdentifier').value);
  return alg[1];
}

/** PrivateKeyInfo (RFC 5208): the privateKey OCTET STRING content and the algorithm parameters. */
export function pkcs8Parts(pkcs8: Buffer): { params: Tlv | undefined; privateKey: Buffer } {
  const outer = readChildren(expectTag(readTlv(pkcs8), 0x30, 'PrivateKeyInfo').value);
  const alg = readChildren(expectTag(outer[1], 0x30, 'AlgorithmIdentifier').value);
  return { params: alg[1], privateKey: expectTag(outer[2], 0x04, 'OCTET STRING').value };
}

/** The private scalar of an EC PKCS#8 key (ECPrivateKey, RFC 5915 §3). */
export function ecPrivateScalar(pkcs8: Buffer): Buffer {
  const { privateKey } = pkcs8Parts(pkcs8);
  const ecpk = readChildren(expectTag(readTlv(privateKey), 0x30, 'ECPrivateKey').value);
  return expectTag(ecpk[1], 0x04, 'OCTET STRING').value;
}

export interface DsaDomain {
  p: bigint;
  q: bigint;
  g: bigint;
}

function dsaDomain(params: Tlv | undefined): DsaDomain {
  const pqg = readChildren(expectTag(params, 0x30, 'Dss-Parms').value);
  return { p: readUnsigned(pqg[0]), q: readUnsigned(pqg[1]), g: readUnsigned(pqg[2]) };
}

/** DSA private key x and its domain (RFC 3279 §2.3.2, PKCS#8 form). */
export function dsaPrivate(pkcs8: Buffer): DsaDomain & { x: bigint } {
  const { params, privateKey } = pkcs8Parts(pkcs8);
  return { ...dsaDomain(params), x: readUnsigned(readTlv(privateKey)) };
}

/** DSA public key y and its domain (SPKI form). */
export function dsaPublic(spki: Buffer): DsaDomain & { y: bigint } {
  return { ...dsaDomain(spkiAlgorithmParams(spki)), y: readUnsigned(readTlv(spkiPublicKeyBits(spki))) };
}

/** Explicit prime-field curve parameters (ECParameters, SEC 1 §C.2 / RFC 3279 §2.3.5). */
export interface CurveParams {
  p: bigint;
  a: bigint;
  b: bigint;
  Gx: bigint;
  Gy: bigint;
  n: bigint;
  h: bigint;
}

/** Reads the explicit ECParameters of an SPKI exported with paramEncoding 'explicit'. */
export function explicitCurveParams(spki: Buffer): CurveParams {
  const ecParams = readChildren(expectTag(spkiAlgorithmParams(spki), 0x30, 'ECParameters').value);
  const fieldId = readChildren(expectTag(ecParams[1], 0x30, 'FieldID').value);
  const p = readUnsigned(fieldId[1]);
  const curve = readChildren(expectTag(ecParams[2], 0x30, 'Curve').value);
  const a = bytesToBigint(expectTag(curve[0], 0x04, 'OCTET STRING').value);
  const b = bytesToBigint(expectTag(curve[1], 0x04, 'OCTET STRING').value);
  const base = expectTag(ecParams[3], 0x04, 'OCTET STRING').value;
  if (base[0] !== 0x04) throw new DerError('base point is not uncompressed');
  const half = (base.length - 1) / 2;
  const n = readUnsigned(ecParams[4]);
  const h = ecParams[5] ? readUnsigned(ecParams[5]) : 1n;
  return { p, a, b, Gx: bytesToBigint(base.subarray(1, 1 + half)), Gy: bytesToBigint(base.subarray(1 + half)), n, h };
}
