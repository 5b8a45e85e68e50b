// The HSM's little-endian TLV layout (spec multi-authorization §2.5, Annex A): a container is a u32 length
// followed by elements; an element is u16 tag, u16 length, value, zero padding to a 4-byte boundary.
// Nested structures (timestamp, policy, rules) carry their own u32 inner length at the start of the value.

/** Tags of spec §2.5 plus Warden's own (docs/workflow.md). */
export const TAG = {
  /** u32 operation code. */
  operation: 0x003b,
  /** UTF-8 text: key label, timestamp-key name, token/group/approval names. */
  label: 0x1002,
  /** HSM timestamp structure: u32 inner length, payload or policy, time, timestamp-key name. */
  timestamp: 0x1054,
  /** Timestamp signature: DER SEQUENCE { AlgorithmIdentifier, BIT STRING signature }. */
  timestampSignature: 0x1056,
  /** Operation payload (raw bytes). */
  payload: 0x1057,
  /** Binary policy (modify): u32 inner length + the four rule elements. */
  policy: 0x1058,
  ruleUse: 0x104e,
  ruleBlock: 0x104f,
  ruleUnblock: 0x1050,
  ruleModify: 0x1051,
  /** u64 seconds since the epoch. */
  time: 0x0107,
  /** u32 number of tokens that follow (spec: "per-token header", value 1 with one token). */
  tokenCount: 0x0059,
  /** u32 timelock then u32 timeout, both in minutes. */
  timing: 0x0055,
  /** u32 number of groups that follow. */
  groupCount: 0x005a,
  quorum: 0x005b,
  /** u32 number of approvals that follow. */
  approvalCount: 0x0003,
  /** DER SubjectPublicKeyInfo of an approver. */
  approverKey: 0x1052,
  /**
   * Warden: canonical JSON of the execution parameters (algorithm, IV, request id …), so an approval
   * for one request can never authorise different parameters or another request (docs/workflow.md).
   */
  parameters: 0x10a0,
} as const;

export interface Element {
  tag: number;
  value: Buffer;
}

export class TlvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlvError';
  }
}

const pad4 = (n: number) => (4 - (n % 4)) % 4;

export function element(tag: number, value: Buffer): Buffer {
  if (value.length > 0xffff) throw new TlvError(`TLV element 0x${tag.toString(16)} is longer than 65535 bytes`);
  const head = Buffer.alloc(4);
  head.writeUInt16LE(tag, 0);
  head.writeUInt16LE(value.length, 2);
  return Buffer.concat([head, value, Buffer.alloc(pad4(value.length))]);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

export function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(n, 0);
  return b;
}

export const text = (s: string) => Buffer.from(s, 'utf8');

/** A container (or nested structure value): u32 length of what follows, then the elements. */
export function container(elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  return Buffer.concat([u32(body.length), body]);
}

/** Parses a container: checks the u32 length against the bytes and returns the elements in order. */
export function parseContainer(buf: Buffer): Element[] {
  if (buf.length < 4) throw new TlvError('TLV container shorter than its length field');
  const len = buf.readUInt32LE(0);
  if (len !== buf.length - 4) throw new TlvError(`TLV container length ${len} does not match its ${buf.length - 4} bytes`);
  const out: Element[] = [];
  let off = 4;
  while (off < buf.length) {
    if (off + 4 > buf.length) throw new TlvError('truncated TLV element header');
    const tag = buf.readUInt16LE(off);
    const l = buf.readUInt16LE(off + 2);
    const end = off + 4 + l;
    if (end > buf.length) throw new TlvError(`TLV element 0x${tag.toString(16)} runs past the end`);
    const padEnd = end + pad4(l);
    if (padEnd > buf.length) throw new TlvError(`TLV element 0x${tag.toString(16)} lacks its padding`);
    for (let i = end; i < padEnd; i++) if (buf[i] !== 0) throw new TlvError('non-zero TLV padding');
    out.push({ tag, value: Buffer.from(buf.subarray(off + 4, end)) });
    off = padEnd;
  }
  return out;
}

export function readU32(e: Element): number {
  if (e.value.length !== 4) throw new TlvError(`TLV element 0x${e.tag.toString(16)} must hold a u32`);
  return e.value.readUInt32LE(0);
}

/** Sequential reader over a list of elements, for structures whose order is fixed. */
export class ElementReader {
  private i = 0;
  constructor(private readonly elements: Element[]) {}

  peek(): Element | undefined {
    return this.elements[this.i];
  }

  next(tag: number): Element {
    const e = this.elements[this.i];
    if (!e) throw new TlvError(`expected TLV element 0x${tag.toString(16)}, found the end`);
    if (e.tag !== tag) throw new TlvError(`expected TLV element 0x${tag.toString(16)}, found 0x${e.tag.toString(16)}`);
    this.i++;
    return e;
  }

  optional(tag: number): Element | undefined {
    return this.peek()?.tag === tag ? this.next(tag) : undefined;
  }

  done(): boolean {
    return this.i >= this.elements.length;
  }

  end(): void {
    const e = this.peek();
    if (e) throw new TlvError(`unexpected TLV element 0x${e.tag.toString(16)}`);
  }
}
