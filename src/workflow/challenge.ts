// The approval challenge `approvalToBeSigned` (spec multi-authorization §2.5, Annex A): operation, key
// label, the keystore's signed timestamp over the payload, the payload (or binary policy) and Warden's
// parameters element. Built when a request is created; parsed again by the keystore before it executes.
import { ElementReader, TAG, TlvError, container, element, parseContainer, readU32, text, u32, u64 } from './tlv.ts';

/**
 * Operation codes of the `0x003b` element. 1 (use/sign) and 4 (modify) are observed on the vendor's
 * wire; the others are Warden's (spec §10 question 9, README decision 8): block and unblock follow the
 * (use, block, unblock, modify) order, decrypt, unwrap and the certificate operations get their own
 * code so an approval for one operation can never be spent on another.
 */
export const OPERATION = {
  sign: 1,
  block: 2,
  unblock: 3,
  modify: 4,
  decrypt: 5,
  unwrap: 6,
  csrsign: 7,
  crtsign: 8,
  selfsign: 9,
} as const;
export type RequestType = keyof typeof OPERATION;
export const REQUEST_TYPES = Object.keys(OPERATION) as RequestType[];

/** Operations authorised by a key's ruleUse. */
export const USE_OPERATIONS: ReadonlySet<number> = new Set([OPERATION.sign, OPERATION.decrypt, OPERATION.unwrap, OPERATION.csrsign, OPERATION.crtsign, OPERATION.selfsign]);

// --- DER for the timestamp signature (SEQUENCE { AlgorithmIdentifier, BIT STRING }) -----------------

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

const tlvDer = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);

/** ecdsa-with-SHA256 (1.2.840.10045.4.3.2) with NULL parameters, as in the vendor sample. */
export const ECDSA_SHA256_ALG_ID = Buffer.from('300c06082a8648ce3d0403020500', 'hex');
export const ECDSA_SHA256_OID = '1.2.840.10045.4.3.2';

export function signatureWithAlgorithm(signature: Buffer, algId = ECDSA_SHA256_ALG_ID): Buffer {
  return tlvDer(0x30, Buffer.concat([algId, tlvDer(0x03, Buffer.concat([Buffer.from([0]), signature]))]));
}

function readDer(buf: Buffer, off: number): { tag: number; body: Buffer; next: number } {
  if (off + 2 > buf.length) throw new TlvError('truncated DER');
  const tag = buf[off];
  let len = buf[off + 1];
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || p + n > buf.length) throw new TlvError('bad DER length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i];
    p += n;
  }
  if (p + len > buf.length) throw new TlvError('DER runs past the end');
  return { tag, body: buf.subarray(p, p + len), next: p + len };
}

function decodeOid(body: Buffer): string {
  const parts: number[] = [Math.floor(body[0] / 40), body[0] % 40];
  let v = 0;
  for (let i = 1; i < body.length; i++) {
    v = v * 128 + (body[i] & 0x7f);
    if (!(body[i] & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join('.');
}

/** Splits a signature-with-algorithm value into the algorithm OID and the raw signature. */
export function parseSignatureWithAlgorithm(der: Buffer): { algorithmOid: string; signature: Buffer } {
  const seq = readDer(der, 0);
  if (seq.tag !== 0x30 || seq.next !== der.length) throw new TlvError('timestamp signature is not one DER SEQUENCE');
  const alg = readDer(seq.body, 0);
  if (alg.tag !== 0x30) throw new TlvError('timestamp signature lacks its AlgorithmIdentifier');
  const oid = readDer(alg.body, 0);
  if (oid.tag !== 0x06) throw new TlvError('AlgorithmIdentifier lacks its OID');
  const bits = readDer(seq.body, alg.next);
  if (bits.tag !== 0x03 || bits.body.length < 1 || bits.body[0] !== 0) throw new TlvError('timestamp signature is not a BIT STRING');
  return { algorithmOid: decodeOid(oid.body), signature: Buffer.from(bits.body.subarray(1)) };
}

// --- Timestamp structure (0x1054) -------------------------------------------------------------------

export interface PayloadPart {
  /** TAG.payload for operation payloads, TAG.policy for modify's binary policy. */
  tag: number;
  value: Buffer;
}

/** The value of a 0x1054 element: u32 inner length, payload/policy, u64 time (s), timestamp-key name. */
export function timestampStruct(part: PayloadPart, timeSeconds: number, keyName: string): Buffer {
  return container([element(part.tag, part.value), element(TAG.time, u64(BigInt(timeSeconds))), element(TAG.label, text(keyName))]);
}

export interface ParsedTimestamp {
  /** The bytes the timestamp key signed (the whole 0x1054 value, length included). */
  raw: Buffer;
  part: PayloadPart;
  time: number;
  keyName: string;
}

export function parseTimestamp(raw: Buffer): ParsedTimestamp {
  const rd = new ElementReader(parseContainer(raw));
  const first = rd.peek();
  if (!first || (first.tag !== TAG.payload && first.tag !== TAG.policy)) throw new TlvError('timestamp must start with a payload or policy');
  const part = { tag: first.tag, value: rd.next(first.tag).value };
  const t = rd.next(TAG.time).value;
  if (t.length !== 8) throw new TlvError('time must be a u64');
  const time = Number(t.readBigUInt64LE(0));
  const keyName = rd.next(TAG.label).value.toString('utf8');
  rd.end();
  return { raw, part, time, keyName };
}

// --- Challenge ---------------------------------------------------------------------------------------

export interface ChallengeInput {
  operation: number;
  label: string;
  /** The signed timestamp: its 0x1054 value and the DER signature-with-algorithm. */
  timestamp: { struct: Buffer; signatureWithAlgorithm: Buffer } | null;
  part: PayloadPart;
  /** Canonical JSON of the execution parameters (TAG.parameters), or null. */
  parameters: Buffer | null;
}

export function buildChallenge(c: ChallengeInput): Buffer {
  const els = [element(TAG.operation, u32(c.operation)), element(TAG.label, text(c.label))];
  if (c.timestamp) els.push(element(TAG.timestamp, c.timestamp.struct), element(TAG.timestampSignature, c.timestamp.signatureWithAlgorithm));
  els.push(element(c.part.tag, c.part.value));
  if (c.parameters) els.push(element(TAG.parameters, c.parameters));
  return container(els);
}

export interface ParsedChallenge {
  operation: number;
  label: string;
  timestamp: ParsedTimestamp | null;
  timestampSignature: { algorithmOid: string; signature: Buffer; der: Buffer } | null;
  part: PayloadPart;
  parameters: Buffer | null;
}

/**
 * Parses a challenge. The vendor's minimal form (operation, label, payload — the JCE sample) is accepted;
 * a timestamp, when present, must come with its signature and wrap the same payload.
 */
export function parseChallenge(buf: Buffer): ParsedChallenge {
  const rd = new ElementReader(parseContainer(buf));
  const operation = readU32(rd.next(TAG.operation));
  const label = rd.next(TAG.label).value.toString('utf8');
  let timestamp: ParsedTimestamp | null = null;
  let timestampSignature: ParsedChallenge['timestampSignature'] = null;
  const ts = rd.optional(TAG.timestamp);
  if (ts) {
    timestamp = parseTimestamp(ts.value);
    const sig = rd.next(TAG.timestampSignature).value;
    timestampSignature = { ...parseSignatureWithAlgorithm(sig), der: sig };
  }
  const p = rd.peek();
  if (!p || (p.tag !== TAG.payload && p.tag !== TAG.policy)) throw new TlvError('challenge lacks its payload');
  const part = { tag: p.tag, value: rd.next(p.tag).value };
  if (timestamp && (timestamp.part.tag !== part.tag || !timestamp.part.value.equals(part.value))) {
    throw new TlvError('the timestamp covers a different payload than the challenge');
  }
  const parameters = rd.optional(TAG.parameters)?.value ?? null;
  rd.end();
  return { operation, label, timestamp, timestampSignature, part, parameters };
}
