// Reads an approval challenge (approvalToBeSigned, spec multi-authorization §2.5 and Annex A) so the
// approver sees what the signature approves: operation, key, keystore time, payload and parameters.

const TAG = { operation: 0x003b, label: 0x1002, timestamp: 0x1054, payload: 0x1057, policy: 0x1058, time: 0x0107, parameters: 0x10a0 } as const;

export const OPERATIONS: Record<number, string> = {
  1: 'Sign', 2: 'Block key', 3: 'Unblock key', 4: 'Modify policy', 5: 'Decrypt', 6: 'Unwrap', 7: 'Sign CSR', 8: 'Sign certificate', 9: 'Self-sign certificate',
};

export interface DecodedChallenge {
  operation: number;
  operationName: string;
  keyLabel: string;
  time: Date | null;
  payload: Uint8Array | null;
  policy: Uint8Array | null;
  parameters: Record<string, unknown> | null;
}

interface Element {
  tag: number;
  value: Uint8Array;
}

function elements(buf: Uint8Array): Element[] {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf.length < 4) throw new Error('challenge too short');
  const total = dv.getUint32(0, true);
  const end = Math.min(buf.length, 4 + total);
  const out: Element[] = [];
  let p = 4;
  while (p + 4 <= end) {
    const tag = dv.getUint16(p, true);
    const len = dv.getUint16(p + 2, true);
    if (p + 4 + len > end) throw new Error('challenge element runs past the end');
    out.push({ tag, value: buf.subarray(p + 4, p + 4 + len) });
    p += 4 + len + ((4 - (len % 4)) % 4);
  }
  return out;
}

export function decodeChallenge(bytes: Uint8Array): DecodedChallenge {
  const els = elements(bytes);
  const first = (tag: number) => els.find((e) => e.tag === tag)?.value ?? null;
  const op = first(TAG.operation);
  const operation = op && op.length >= 4 ? new DataView(op.buffer, op.byteOffset, 4).getUint32(0, true) : 0;
  const label = first(TAG.label);
  let time: Date | null = null;
  const ts = first(TAG.timestamp);
  if (ts) {
    const t = elements(ts).find((e) => e.tag === TAG.time)?.value;
    if (t && t.length >= 8) time = new Date(Number(new DataView(t.buffer, t.byteOffset, 8).getBigUint64(0, true)) * 1000);
  }
  const payloads = els.filter((e) => e.tag === TAG.payload);
  const params = first(TAG.parameters);
  let parameters: Record<string, unknown> | null = null;
  if (params) {
    try {
      parameters = JSON.parse(new TextDecoder().decode(params)) as Record<string, unknown>;
    } catch {
      parameters = null;
    }
  }
  return {
    operation,
    operationName: OPERATIONS[operation] ?? `Operation ${operation}`,
    keyLabel: label ? new TextDecoder().decode(label) : '',
    time,
    payload: payloads.length > 0 ? payloads[payloads.length - 1].value : null,
    policy: first(TAG.policy),
    parameters,
  };
}
