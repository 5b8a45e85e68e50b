// Shared wire shapes (TypeBox) and the decoders every route uses: passwords as char arrays or strings
// (spec §1.2, README decision 5), strict Base64, key labels, attributes with their defaults.
import { Type, type Static } from '@sinclair/typebox';
import { WardenError, type ErrorCode } from '../server/errors.ts';
import type { KeyAttributes } from '../keystore/interface.ts';

export const ErrorBodySchema = Type.Object(
  {
    errorCode: Type.Integer({ examples: [650] }),
    reason: Type.String({ examples: ['res.error.key.not.existent'] }),
    message: Type.String({ examples: ["Key 'my-key' does not exist"] }),
  },
  { $id: 'ErrorBody', description: 'Every error: the TSB errorCode, its reason key and a readable message' },
);

/** The error responses every route can produce. */
export const errorResponses = {
  400: Type.Ref('ErrorBody'),
  401: Type.Ref('ErrorBody'),
  404: Type.Ref('ErrorBody'),
  500: Type.Ref('ErrorBody'),
};

export const PasswordSchema = Type.Union(
  [Type.Array(Type.String({ minLength: 1, maxLength: 1 }), { maxItems: 1024 }), Type.String({ maxLength: 1024 }), Type.Null()],
  { description: 'Key password: an array of one-character strings (TSB char[]), a plain string, or null', examples: [['s', 'e', 'c', 'r', 'e', 't']] },
);

export type WirePassword = Static<typeof PasswordSchema> | undefined;

export function passwordOf(p: WirePassword): string | null {
  if (p === undefined || p === null) return null;
  const s = Array.isArray(p) ? p.join('') : p;
  return s === '' ? null : s;
}

/** Standard Base64 with padding (RFC 4648 §4), the spec's @Base64Encoded rule. */
export const Base64 = (opts: { description?: string; maxLength?: number; examples?: string[] } = {}) =>
  Type.String({ format: 'byte', maxLength: opts.maxLength ?? 16 * 1024 * 1024, ...opts });

const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The bytes of `text` if it is standard padded Base64 (B64_RE), else null. The usual case, canonical
 * Base64, is proven by re-encoding the decoded bytes (whatever the encoder writes matches B64_RE):
 * ~0.8 µs on a 1 KiB payload against ~3 µs for the regex, which still decides everything else (non-zero
 * trailing bits, invalid characters, base64url).
 */
export function base64Bytes(text: string): Buffer | null {
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text || B64_RE.test(text) ? bytes : null;
}

/**
 * The schemas' `format: 'byte'` (the Base64 fields), exactly B64_RE. ajv-formats' own `byte` regex has
 * the `m` flag: one valid line anywhere in a multi-line string passed it.
 */
export function isBase64(text: string): boolean {
  return base64Bytes(text) !== null;
}

/** Decodes a Base64 field; PEM armor lines (PRIVATE KEY / PUBLIC KEY / CERTIFICATE …) are tolerated. */
export function decodeB64(field: string, value: string, opts: { allowPem?: boolean; code?: ErrorCode } = {}): Buffer {
  let text = value;
  if (opts.allowPem && text.includes('-----BEGIN')) {
    text = text.replace(/-----(BEGIN|END) [A-Z0-9 ]+-----/g, '').replace(/[\r\n\t ]/g, '');
  }
  const bytes = base64Bytes(text);
  if (!bytes) throw new WardenError(opts.code ?? 600, `${field} is not valid Base64`);
  return bytes;
}

export const LabelSchema = Type.String({ minLength: 1, maxLength: 255, description: 'Key name', examples: ['my-ec-key'] });

export function hasControlChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Labels must be printable and must not contain '/' (reserved for derivation paths, spec §2.7). */
export function checkLabel(label: string, field = 'label'): string {
  if (label.trim() === '') throw new WardenError(610, `${field} must not be empty`);
  if (hasControlChars(label)) throw new WardenError(610, `${field} must not contain control characters`);
  if (label.includes('/')) throw new WardenError(610, `${field} must not contain '/' (reserved for derivation paths)`);
  return label;
}

const OptBool = (description: string) => Type.Optional(Type.Union([Type.Boolean(), Type.Null()], { description }));

export const AttributesRequestSchema = Type.Object(
  {
    encrypt: OptBool('may encrypt (default: the value of decrypt)'),
    decrypt: OptBool('may decrypt'),
    verify: OptBool('may verify (default: the value of sign)'),
    sign: OptBool('may sign'),
    wrap: OptBool('may wrap other keys (default: the value of unwrap)'),
    unwrap: OptBool('may unwrap'),
    derive: OptBool('derivation allowed (default false)'),
    bip32: OptBool('BIP32 derivation, EC/ED only, needs derive'),
    slip10: OptBool('SLIP-0010 derivation, EC/ED only, needs derive'),
    extractable: OptBool('may leave the keystore (wrap/export) (default false)'),
    modifiable: OptBool('attributes and password may change (default true)'),
    destroyable: OptBool('may be deleted (default false)'),
    sensitive: OptBool('plain export requires false (default true)'),
    copyable: OptBool('may be copied to an external key store (default false)'),
  },
  { $id: 'KeyAttributesRequest', examples: [{ decrypt: false, sign: true, unwrap: false, destroyable: true }] },
);
export type AttributesRequest = Static<typeof AttributesRequestSchema>;

/** Applies the defaults of spec §2.3 and the attribute-combination rules (606). */
export function resolveAttributes(req: AttributesRequest, ctx: { generated: boolean; symmetric: boolean; algorithm: string }): KeyAttributes {
  const b = (v: boolean | null | undefined, d: boolean) => (v === undefined || v === null ? d : v);
  const decrypt = b(req.decrypt, false);
  const sign = b(req.sign, false);
  const unwrap = b(req.unwrap, false);
  const attrs: KeyAttributes = {
    encrypt: b(req.encrypt, decrypt),
    decrypt,
    verify: b(req.verify, sign),
    sign,
    wrap: b(req.wrap, unwrap),
    unwrap,
    derive: b(req.derive, false),
    bip32: b(req.bip32, false),
    slip10: b(req.slip10, false),
    extractable: b(req.extractable, false),
    modifiable: b(req.modifiable, true),
    destroyable: b(req.destroyable, false),
    sensitive: b(req.sensitive, true),
    copyable: b(req.copyable, false),
    alwaysSensitive: false,
    neverExtractable: false,
  };
  attrs.alwaysSensitive = ctx.generated && attrs.sensitive;
  attrs.neverExtractable = ctx.generated && !attrs.extractable;
  if ((attrs.bip32 || attrs.slip10) && !['EC', 'ED'].includes(ctx.algorithm)) {
    throw new WardenError(606, 'bip32/slip10 are only allowed on EC and ED keys');
  }
  if ((attrs.bip32 || attrs.slip10) && !attrs.derive) throw new WardenError(606, 'bip32/slip10 require derive=true');
  if (!Object.entries(attrs).some(([k, v]) => v && ['encrypt', 'decrypt', 'verify', 'sign', 'wrap', 'unwrap', 'derive'].includes(k))) {
    throw new WardenError(606, 'at least one usage attribute (decrypt, sign, unwrap, encrypt, verify, wrap, derive) must be true');
  }
  return attrs;
}
