// Byte helpers of the console: Base64, UTF-8, hex, and the P1363 → DER conversion of ECDSA signatures.

export function toB64(bytes: ArrayBuffer | Uint8Array): string {
  const u = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let s = '';
  for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
  return btoa(s);
}

export function fromB64(b64: string): Uint8Array<ArrayBuffer> {
  const s = atob(b64.replace(/\s+/g, ''));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

export const utf8 = (s: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>;

export function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Printable UTF-8 text, or null for binary data. */
export function asText(bytes: Uint8Array): string | null {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return /^[\P{Cc}\n\r\t]*$/u.test(s) ? s : null;
  } catch {
    return null;
  }
}

function derInt(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const body = v[i] & 0x80 ? [0, ...v.subarray(i)] : [...v.subarray(i)];
  return new Uint8Array([0x02, body.length, ...body]);
}

/**
 * WebCrypto signs ECDSA as IEEE P1363 r‖s; the TSB wire format is JCA's DER SEQUENCE { r, s } (spec
 * multi-authorization §4.2), which Warden expects first (it accepts r‖s too) and other brokers only.
 */
export function p1363ToDer(sig: Uint8Array): Uint8Array<ArrayBuffer> {
  const n = sig.length / 2;
  const r = derInt(sig.subarray(0, n));
  const s = derInt(sig.subarray(n));
  const len = r.length + s.length;
  const head = len < 0x80 ? [0x30, len] : [0x30, 0x81, len];
  return new Uint8Array([...head, ...r, ...s]);
}
