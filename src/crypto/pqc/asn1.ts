// SPKI and PKCS#8 (OneAsymmetricKey, RFC 5958) wrappers for keys whose algorithm identifier is a bare
// OID with absent parameters: ML-DSA (RFC 9881), SLH-DSA (RFC 9909), ML-KEM (RFC 9935), HSS/LMS
// (RFC 9708), XMSS (RFC 9802) and Warden's BLS keys. Built and parsed here so families stay declarative.
import { WardenError } from '../../server/errors.ts';
import { DerError, encodeTlv, expectTag, readChildren, readTlv } from '../signatures/der.ts';

export function encodeOid(oid: string): Buffer {
  const parts = oid.split('.').map((p) => BigInt(p));
  const bytes: number[] = [Number(parts[0] * 40n + parts[1])];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [];
    let v = p;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] |= 0x80;
    bytes.push(...chunk);
  }
  return encodeTlv(0x06, Buffer.from(bytes));
}

export function decodeOid(value: Buffer): string {
  if (value.length === 0) throw new DerError('empty OID');
  const out: bigint[] = [];
  let v = 0n;
  for (let i = 0; i < value.length; i++) {
    v = (v << 7n) | BigInt(value[i] & 0x7f);
    if (!(value[i] & 0x80)) {
      out.push(v);
      v = 0n;
    }
  }
  const first = out.shift() ?? 0n;
  const a = first < 80n ? first / 40n : 2n;
  return [a, first - a * 40n, ...out].join('.');
}

const seq = (...items: Buffer[]) => encodeTlv(0x30, Buffer.concat(items));
const algId = (oid: string) => seq(encodeOid(oid));

/** SubjectPublicKeyInfo { AlgorithmIdentifier { oid }, BIT STRING raw } (parameters absent). */
export function encodeSpki(oid: string, raw: Uint8Array): Buffer {
  return seq(algId(oid), encodeTlv(0x03, Buffer.concat([Buffer.from([0]), Buffer.from(raw)])));
}

/** PKCS#8 v1 { 0, AlgorithmIdentifier { oid }, OCTET STRING inner }. */
export function encodePkcs8(oid: string, inner: Uint8Array): Buffer {
  return seq(encodeTlv(0x02, Buffer.from([0])), algId(oid), encodeTlv(0x04, Buffer.from(inner)));
}

export { encodeTlv };

function algorithmOf(t: Buffer): string {
  const parts = readChildren(expectTag(readTlv(t), 0x30, 'AlgorithmIdentifier').value);
  const oid = decodeOid(expectTag(parts[0], 0x06, 'OID').value);
  if (parts.length > 1 && !(parts.length === 2 && parts[1].tag === 0x05 && parts[1].value.length === 0)) {
    throw new DerError('unexpected algorithm parameters');
  }
  return oid;
}

/** Reads an SPKI; returns its OID and the raw public key bits. 407 on malformed input. */
export function decodeSpki(der: Buffer): { oid: string; raw: Buffer } {
  try {
    const outer = readTlv(der);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new DerError('not a SEQUENCE');
    const [alg, bits] = readChildren(outer.value);
    if (!alg || !bits) throw new DerError('truncated');
    const bitString = expectTag(bits, 0x03, 'BIT STRING').value;
    if (bitString.length < 1 || bitString[0] !== 0) throw new DerError('BIT STRING with unused bits');
    return { oid: algorithmOf(encodeTlv(0x30, expectTag(alg, 0x30, 'AlgorithmIdentifier').value)), raw: Buffer.from(bitString.subarray(1)) };
  } catch (e) {
    if (e instanceof DerError) throw new WardenError(407, `publicKey is not a DER SubjectPublicKeyInfo: ${e.message}`);
    throw e;
  }
}

/** Reads a PKCS#8 (v1 or v2); returns its OID and the content of the privateKey OCTET STRING. */
export function decodePkcs8(der: Buffer): { oid: string; inner: Buffer } {
  try {
    const outer = readTlv(der);
    if (outer.tag !== 0x30 || outer.end !== der.length) throw new DerError('not a SEQUENCE');
    const [version, alg, key] = readChildren(outer.value);
    const v = expectTag(version, 0x02, 'version').value;
    if (v.length !== 1 || v[0] > 1) throw new DerError('unknown version');
    if (!alg) throw new DerError('truncated');
    const oid = algorithmOf(encodeTlv(0x30, expectTag(alg, 0x30, 'AlgorithmIdentifier').value));
    return { oid, inner: Buffer.from(expectTag(key, 0x04, 'privateKey OCTET STRING').value) };
  } catch (e) {
    if (e instanceof DerError) throw new WardenError(407, `privateKey is not a DER PKCS#8 key: ${e.message}`);
    throw e;
  }
}

/**
 * The seed / expanded-key CHOICE of ML-DSA and ML-KEM private keys (RFC 9881 §6, RFC 9935 §6):
 * seed [0] IMPLICIT OCTET STRING | expandedKey OCTET STRING | both SEQUENCE { seed, expandedKey }.
 */
export function decodeSeedChoice(inner: Buffer): { seed?: Buffer; expanded?: Buffer } {
  try {
    const t = readTlv(inner);
    if (t.end !== inner.length) throw new DerError('trailing bytes');
    if (t.tag === 0x80) return { seed: Buffer.from(t.value) };
    if (t.tag === 0x04) return { expanded: Buffer.from(t.value) };
    if (t.tag === 0x30) {
      const [s, e] = readChildren(t.value);
      return { seed: Buffer.from(expectTag(s, 0x04, 'seed').value), expanded: Buffer.from(expectTag(e, 0x04, 'expandedKey').value) };
    }
    throw new DerError('unknown private key CHOICE');
  } catch (e) {
    if (e instanceof DerError) throw new WardenError(407, `privateKey: ${e.message}`);
    throw e;
  }
}

export const encodeSeed = (seed: Uint8Array): Buffer => encodeTlv(0x80, Buffer.from(seed));

/** The content of one TLV with `tag` spanning all of `buf`, or null. */
export function readTlvSafe(buf: Buffer, tag: number): Buffer | null {
  try {
    const t = readTlv(buf);
    return t.tag === tag && t.end === buf.length ? Buffer.from(t.value) : null;
  } catch {
    return null;
  }
}
