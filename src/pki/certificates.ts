// X.509 building blocks (RFC 5280): a minimal DER writer/reader, names from the TSB's
// standardCertificateAttributes, the extensions of spec §4.12, and the TBSCertificate builder whose
// signature comes from a keystore key (src/pki/signer.ts). DER is written by hand so every SET OF is
// sorted and every byte is what we intend; @peculiar/x509 (src/pki/x509.ts) is used to read.
import { X509Certificate as NodeX509, createHash, createPublicKey, randomBytes } from 'node:crypto';
import { WardenError } from '../server/errors.ts';
import type { TbsSigner } from './signer.ts';

// ---------------------------------------------------------------------------------------------
// DER writer (X.690 §10): definite lengths, minimal integers, sorted SET OF.

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Buffer.from([0x80 | out.length, ...out]);
}

export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(body.length), body]);
}

function encodeOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => BigInt(a));
  if (arcs.length < 2) throw new Error(`invalid OID ${dotted}`);
  const first = arcs[0] * 40n + arcs[1];
  const out: number[] = [];
  for (const arc of [first, ...arcs.slice(2)]) {
    const bytes: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) bytes.unshift(Number(v & 0x7fn) | 0x80);
    out.push(...bytes);
  }
  return Buffer.from(out);
}

/** Unsigned big-endian bytes as a DER INTEGER (leading zeros stripped, 0x00 added if the top bit is set). */
function unsignedInteger(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = Buffer.from(bytes.subarray(i));
  return trimmed.length === 0 ? Buffer.from([0]) : trimmed[0] & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

export const der = {
  seq: (...parts: Uint8Array[]) => tlv(0x30, ...parts),
  /** SET OF: DER orders the elements by their encodings (X.690 §11.6). */
  setOf: (...items: Buffer[]) => tlv(0x31, ...[...items].sort(Buffer.compare)),
  oid: (dotted: string) => tlv(0x06, encodeOid(dotted)),
  int: (value: number | Uint8Array) => {
    if (typeof value === 'number') {
      if (!Number.isSafeInteger(value) || value < 0) throw new Error('only small non-negative integers');
      const bytes: number[] = [];
      for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
      return tlv(0x02, unsignedInteger(Buffer.from(bytes)));
    }
    return tlv(0x02, unsignedInteger(value));
  },
  null: () => Buffer.from([0x05, 0x00]),
  bool: (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00])),
  octets: (b: Uint8Array) => tlv(0x04, b),
  bits: (b: Uint8Array, unusedBits = 0) => tlv(0x03, Buffer.from([unusedBits]), b),
  utf8: (s: string) => tlv(0x0c, Buffer.from(s, 'utf8')),
  printable: (s: string) => tlv(0x13, Buffer.from(s, 'ascii')),
  ia5: (s: string) => tlv(0x16, Buffer.from(s, 'ascii')),
  /** GeneralizedTime with whole seconds, always in Z (RFC 5280 §4.1.2.5.2, RFC 3161 §2.4.2). */
  generalizedTime: (d: Date) =>
    tlv(0x18, Buffer.from(`${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`)),
  utcTime: (d: Date) =>
    tlv(0x17, Buffer.from(`${pad(d.getUTCFullYear() % 100)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}Z`)),
  /** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
  time: (d: Date) => (d.getUTCFullYear() >= 1950 && d.getUTCFullYear() < 2050 ? der.utcTime(d) : der.generalizedTime(d)),
  /** [n] EXPLICIT / constructed context tag. */
  explicit: (n: number, ...parts: Uint8Array[]) => tlv(0xa0 | n, ...parts),
  /** [n] IMPLICIT primitive context tag. */
  implicit: (n: number, content: Uint8Array) => tlv(0x80 | n, content),
};

// ---------------------------------------------------------------------------------------------
// DER reader: just enough to take certificates, CSRs and SPKIs apart without re-encoding them.

export interface DerNode {
  tag: number;
  /** Offset of the tag byte in the buffer. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  end: number;
  buf: Buffer;
}

export class DerError extends Error {}

export function readNode(buf: Buffer, offset = 0, limit = buf.length): DerNode {
  if (offset + 2 > limit) throw new DerError('truncated DER');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not supported');
  let len = buf[offset + 1];
  let p = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new DerError('indefinite or oversized length');
    if (p + n > limit) throw new DerError('truncated DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    if (len < 0x80 || buf[p] === 0) throw new DerError('non-minimal DER length');
    p += n;
  }
  if (p + len > limit) throw new DerError('DER element runs past its container');
  return { tag, start: offset, contentStart: p, end: p + len, buf };
}

export function children(node: DerNode): DerNode[] {
  const out: DerNode[] = [];
  for (let p = node.contentStart; p < node.end; ) {
    const c = readNode(node.buf, p, node.end);
    out.push(c);
    p = c.end;
  }
  return out;
}

export const raw = (n: DerNode) => n.buf.subarray(n.start, n.end);
export const content = (n: DerNode) => n.buf.subarray(n.contentStart, n.end);

/** Parses a whole DER buffer as one element (trailing bytes refused). */
export function parseDer(buf: Buffer): DerNode {
  const n = readNode(buf, 0);
  if (n.end !== buf.length) throw new DerError('trailing bytes after the DER element');
  return n;
}

export function decodeOid(n: DerNode): string {
  if (n.tag !== 0x06) throw new DerError('expected an OBJECT IDENTIFIER');
  const b = content(n);
  const arcs: bigint[] = [];
  let v = 0n;
  for (const byte of b) {
    v = (v << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  if (arcs.length === 0) throw new DerError('empty OID');
  const first = arcs[0] < 80n ? arcs[0] / 40n : 2n;
  return [first, arcs[0] - first * 40n, ...arcs.slice(1)].join('.');
}

// ---------------------------------------------------------------------------------------------
// Names (RFC 5280 §4.1.2.4) from the TSB's CertificateAttributesDto (spec §4.12).

export interface CertificateAttributes {
  commonName?: string | null;
  country?: string | null;
  stateOrProvinceName?: string | null;
  locality?: string | null;
  organizationName?: string | null;
  organizationUnitName?: string | null;
  organizationIdentifier?: string | null;
  email?: string | null;
  title?: string | null;
  surname?: string | null;
  givenName?: string | null;
  initials?: string | null;
  pseudonym?: string | null;
  generationQualifier?: string | null;
}

/** Subject order: most significant first, as in the vendor's decoded CSR sample (C, ST, L, O, OU, CN). */
const NAME_ATTRIBUTES: ReadonlyArray<{ field: keyof CertificateAttributes; oid: string; kind: 'printable' | 'utf8' | 'ia5' }> = [
  { field: 'country', oid: '2.5.4.6', kind: 'printable' },
  { field: 'stateOrProvinceName', oid: '2.5.4.8', kind: 'utf8' },
  { field: 'locality', oid: '2.5.4.7', kind: 'utf8' },
  { field: 'organizationName', oid: '2.5.4.10', kind: 'utf8' },
  { field: 'organizationUnitName', oid: '2.5.4.11', kind: 'utf8' },
  { field: 'organizationIdentifier', oid: '2.5.4.97', kind: 'utf8' },
  { field: 'title', oid: '2.5.4.12', kind: 'utf8' },
  { field: 'surname', oid: '2.5.4.4', kind: 'utf8' },
  { field: 'givenName', oid: '2.5.4.42', kind: 'utf8' },
  { field: 'initials', oid: '2.5.4.43', kind: 'utf8' },
  { field: 'generationQualifier', oid: '2.5.4.44', kind: 'utf8' },
  { field: 'pseudonym', oid: '2.5.4.65', kind: 'utf8' },
  { field: 'commonName', oid: '2.5.4.3', kind: 'utf8' },
  { field: 'email', oid: '1.2.840.113549.1.9.1', kind: 'ia5' },
];

/** Encodes a Name: one single-valued RDN per given attribute; empty or null attributes are left out. */
export function encodeName(attrs: CertificateAttributes): Buffer {
  const rdns: Buffer[] = [];
  for (const { field, oid, kind } of NAME_ATTRIBUTES) {
    const v = attrs[field];
    if (v === undefined || v === null || v.trim() === '') continue;
    let value: Buffer;
    if (kind === 'printable') {
      if (!/^[A-Za-z]{2}$/.test(v)) throw new WardenError(600, `standardCertificateAttributes.${field} must be a two-letter ISO 3166 country code`);
      value = der.printable(v.toUpperCase());
    } else if (kind === 'ia5') {
      if (!/^[\x20-\x7e]+$/.test(v)) throw new WardenError(600, `standardCertificateAttributes.${field} must be ASCII`);
      value = der.ia5(v);
    } else {
      if ([...v].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw new WardenError(600, `standardCertificateAttributes.${field} must not contain control characters`);
      value = der.utf8(v);
    }
    rdns.push(der.setOf(der.seq(der.oid(oid), value)));
  }
  if (rdns.length === 0) throw new WardenError(600, 'commonName is required');
  return der.seq(...rdns);
}

// ---------------------------------------------------------------------------------------------
// Extensions (RFC 5280 §4.2) and the TSB enums of spec §4.12.

export const KEY_USAGES = [
  'DIGITAL_SIGNATURE', 'CONTENT_COMMITMENT', 'KEY_ENCIPHERMENT', 'DATA_ENCIPHERMENT', 'KEY_AGREEMENT',
  'KEY_CERT_SIGN', 'CRL_SIGN', 'ENCIPHER_ONLY', 'DECIPHER_ONLY',
] as const;
export type KeyUsageName = (typeof KEY_USAGES)[number];

export const EXTENDED_KEY_USAGES = {
  ANY_EXTENDED_KEY_USAGE: '2.5.29.37.0',
  SERVER_AUTH: '1.3.6.1.5.5.7.3.1',
  CLIENT_AUTH: '1.3.6.1.5.5.7.3.2',
  CODE_SIGNING: '1.3.6.1.5.5.7.3.3',
  EMAIL_PROTECTION: '1.3.6.1.5.5.7.3.4',
  TIME_STAMPING: '1.3.6.1.5.5.7.3.8',
  OCSP_SIGNING: '1.3.6.1.5.5.7.3.9',
} as const;
export type ExtendedKeyUsageName = keyof typeof EXTENDED_KEY_USAGES;

/**
 * Normalises a keyUsage/extendedKeyUsage list. The Go client joins several values into ONE element
 * ("DIGITAL_SIGNATURE,KEY_CERT_SIGN", async selfsign with ", ") and sends [""] for none (spec §6.2
 * item 5), so every element is split on commas, trimmed and empty pieces dropped. Unknown values are
 * an enum mismatch (501), duplicates are collapsed.
 */
export function splitEnumList<T extends string>(field: string, values: readonly string[] | null | undefined, allowed: readonly T[]): T[] {
  const out: T[] = [];
  for (const element of values ?? []) {
    for (const piece of element.split(',')) {
      const v = piece.trim();
      if (v === '') continue;
      if (!(allowed as readonly string[]).includes(v)) throw new WardenError(501, `${field}: '${v}' is not one of ${allowed.join(', ')}`);
      if (!out.includes(v as T)) out.push(v as T);
    }
  }
  return out;
}

export interface Extension {
  oid: string;
  critical: boolean;
  value: Buffer;
}

export function encodeExtension(e: Extension): Buffer {
  return der.seq(der.oid(e.oid), ...(e.critical ? [der.bool(true)] : []), der.octets(e.value));
}

/** KeyUsage BIT STRING with trailing zero bits removed (X.690 §11.2.2 named bit lists). */
export function keyUsageExtension(usages: readonly KeyUsageName[]): Extension {
  const bits = usages.map((u) => KEY_USAGES.indexOf(u));
  const highest = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(highest / 8) + 1);
  for (const b of bits) bytes[Math.floor(b / 8)] |= 0x80 >> b % 8;
  const unused = bytes.length * 8 - (highest + 1);
  return { oid: '2.5.29.15', critical: true, value: der.bits(bytes, unused) };
}

export function extendedKeyUsageExtension(usages: readonly ExtendedKeyUsageName[]): Extension {
  return { oid: '2.5.29.37', critical: true, value: der.seq(...usages.map((u) => der.oid(EXTENDED_KEY_USAGES[u]))) };
}

export function basicConstraintsExtension(ca: boolean): Extension {
  // cA DEFAULT FALSE is omitted in DER; a CA certificate marks the extension critical (RFC 5280 §4.2.1.9).
  return { oid: '2.5.29.19', critical: ca, value: ca ? der.seq(der.bool(true)) : der.seq() };
}

export function subjectKeyIdentifierExtension(keyId: Buffer): Extension {
  return { oid: '2.5.29.14', critical: false, value: der.octets(keyId) };
}

export function authorityKeyIdentifierExtension(keyId: Buffer): Extension {
  return { oid: '2.5.29.35', critical: false, value: der.seq(der.implicit(0, keyId)) };
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING (without the unused-bits byte). */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, bitString] = children(parseDer(spki));
  if (!bitString || bitString.tag !== 0x03) throw new DerError('SubjectPublicKeyInfo without a BIT STRING');
  return createHash('sha1').update(content(bitString).subarray(1)).digest();
}

/** The extension list of spec §4.12 in a stable order: BasicConstraints, KeyUsage, EKU, SKI, AKI. */
export function standardExtensions(opts: {
  ca?: boolean | null;
  keyUsage: readonly KeyUsageName[];
  extendedKeyUsage: readonly ExtendedKeyUsageName[];
  subjectKeyId: Buffer;
  authorityKeyId?: Buffer | null;
}): Extension[] {
  const out: Extension[] = [];
  if (opts.ca) out.push(basicConstraintsExtension(true));
  if (opts.keyUsage.length) out.push(keyUsageExtension(opts.keyUsage));
  if (opts.extendedKeyUsage.length) out.push(extendedKeyUsageExtension(opts.extendedKeyUsage));
  out.push(subjectKeyIdentifierExtension(opts.subjectKeyId));
  if (opts.authorityKeyId) out.push(authorityKeyIdentifierExtension(opts.authorityKeyId));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Certificates.

/** A random positive serial of 16 bytes: unique and unpredictable (CA/B BR §7.1, RFC 5280 ≤ 20 octets). */
export function randomSerial(): Buffer {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 0x01;
  return b;
}

export interface CertificateTemplate {
  serial: Buffer;
  /** DER Name of the issuer (copied byte for byte from the issuer certificate when there is one). */
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  spki: Buffer;
  extensions: Extension[];
}

/** Builds the TBSCertificate (v3), has `signer` sign it and returns the DER certificate. */
export async function issueCertificate(t: CertificateTemplate, signer: TbsSigner): Promise<Buffer> {
  const tbs = der.seq(
    der.explicit(0, der.int(2)),
    der.int(t.serial),
    signer.algorithmIdentifier,
    t.issuer,
    der.seq(der.time(t.notBefore), der.time(t.notAfter)),
    t.subject,
    t.spki,
    ...(t.extensions.length ? [der.explicit(3, der.seq(...t.extensions.map(encodeExtension)))] : []),
  );
  const signature = await signer.sign(tbs);
  return der.seq(tbs, signer.algorithmIdentifier, der.bits(signature));
}

/** Whole seconds: DER times carry no fractions, so the certificate says exactly what we computed. */
export function wholeSeconds(d = new Date()): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

export function addDays(d: Date, days: number): Date {
  return new Date(d.getTime() + days * 86_400_000);
}

export interface CertificateParts {
  der: Buffer;
  tbs: Buffer;
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  spki: Buffer;
  /** Value of the SubjectKeyIdentifier extension, if present. */
  subjectKeyId: Buffer | null;
}

/** Takes a DER certificate apart (the raw issuer/subject/serial TLVs, SPKI and SKI). Throws 626. */
export function certificateParts(certDer: Buffer): CertificateParts {
  try {
    const [tbsNode] = children(parseDer(certDer));
    const fields = children(tbsNode);
    let i = 0;
    if (fields[i].tag === 0xa0) i++;
    const serial = raw(fields[i++]);
    i++; // signature AlgorithmIdentifier
    const issuer = raw(fields[i++]);
    i++; // validity
    const subject = raw(fields[i++]);
    const spki = raw(fields[i++]);
    let subjectKeyId: Buffer | null = null;
    for (const f of fields.slice(i)) {
      if (f.tag !== 0xa3) continue;
      for (const ext of children(children(f)[0])) {
        const parts = children(ext);
        if (decodeOid(parts[0]) === '2.5.29.14') subjectKeyId = Buffer.from(content(parseDer(Buffer.from(content(parts[parts.length - 1])))));
      }
    }
    return { der: certDer, tbs: Buffer.from(raw(tbsNode)), serial: Buffer.from(serial), issuer: Buffer.from(issuer), subject: Buffer.from(subject), spki: Buffer.from(spki), subjectKeyId };
  } catch (e) {
    if (e instanceof WardenError) throw e;
    throw new WardenError(626, 'certificate is not a DER-encoded X.509 certificate');
  }
}

/** Parses a certificate given as Base64 DER or PEM; checks node's parser accepts it too. Throws 626. */
export function decodeCertificate(text: string): Buffer {
  const body = text.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/[\r\n\t ]/g, '');
  if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(body) || body === '') {
    throw new WardenError(626, 'certificate is not valid Base64 (DER, PEM armor allowed)');
  }
  const certDer = Buffer.from(body, 'base64');
  try {
    new NodeX509(certDer);
  } catch {
    throw new WardenError(626, 'certificate is not a DER-encoded X.509 certificate');
  }
  certificateParts(certDer);
  return certDer;
}

/** Whether two SPKIs denote the same public key (compared after node's canonical re-encoding). */
export function samePublicKey(a: Buffer, b: Buffer): boolean {
  try {
    const ka = createPublicKey({ key: a, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
    const kb = createPublicKey({ key: b, format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
    return ka.equals(kb);
  } catch {
    return false;
  }
}

/** The certificate format of the selfsign/sign responses: the whole Base64 body on ONE line, no trailing newline (spec §4.12). */
export function certificatePemOneLine(certDer: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${certDer.toString('base64')}\n-----END CERTIFICATE-----`;
}
