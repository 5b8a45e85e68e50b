// Key objects on the token: generation and import templates (Warden attributes → CKA_*), the public
// key read back as SPKI, plain export through CKA_VALUE & co. (only what the token itself releases),
// and the TokenKey handle the crypto layer runs operations through.
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type JsonWebKey } from 'node:crypto';
import type { Template } from 'pkcs11js';
import type { KeyClass, KeyMaterial, KeyParams } from '../../crypto/families/types.ts';
import { ED25519_OID, curveByOid } from '../../crypto/curves.ts';
import { encodeOid, encodeTlv } from '../../crypto/pqc/asn1.ts';
import { readChildren, readTlv } from '../../crypto/signatures/der.ts';
import { refusedOnToken, type TokenKey, type TokenKeyKind, type TokenMechanism } from '../../crypto/token.ts';
import { WardenError, errors } from '../../server/errors.ts';
import type { KeyAttributes } from '../interface.ts';
import { CKK_EC_EDWARDS, CKM_EC_EDWARDS_KEY_PAIR_GEN, describeMechanism, resolveMechanism } from './mechanisms.ts';
import { pkcs11 as P, pkcs11Code, pkcs11Name, type Handle, type Module, type SessionPool } from './session-pool.ts';

const EC_PUBLIC_KEY_OID = '1.2.840.10045.2.1';

/** The Warden key families a token holds, by reported algorithm. Everything else is refused (611). */
export const TOKEN_KINDS: Readonly<Record<string, TokenKeyKind>> = { RSA: 'RSA', EC: 'EC', ED: 'ED', AES: 'AES', HMACSHA256: 'HMAC', TDEA: 'DES3' };

/** CKK_* of the secret-key kinds. */
function secretKeyType(kind: TokenKeyKind): number {
  return kind === 'AES' ? P.CKK_AES : kind === 'DES3' ? P.CKK_DES3 : P.CKK_GENERIC_SECRET;
}

export function tokenKindOf(algorithm: string): TokenKeyKind {
  const kind = TOKEN_KINDS[algorithm];
  if (!kind) throw refusedOnToken(`${algorithm} keys`);
  return kind;
}

export interface ObjectSpec {
  id: Buffer;
  label: string;
  kind: TokenKeyKind;
  params: KeyParams;
  attributes: KeyAttributes;
  system: boolean;
}

export interface PlacedObject {
  keyClass: KeyClass;
  publicKey: Buffer | null;
  /** CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE as the token reports them. */
  alwaysSensitive: boolean;
  neverExtractable: boolean;
}

const b = (type: number, value: boolean | number | Buffer | string) => ({ type, value });

/** What every private or secret object carries: identity, persistence and the release rules. */
function commonTemplate(spec: ObjectSpec): Template {
  return [
    b(P.CKA_TOKEN, true),
    b(P.CKA_PRIVATE, true),
    b(P.CKA_ID, spec.id),
    b(P.CKA_LABEL, spec.label),
    b(P.CKA_SENSITIVE, spec.attributes.sensitive),
    b(P.CKA_EXTRACTABLE, spec.attributes.extractable),
    b(P.CKA_MODIFIABLE, spec.attributes.modifiable),
  ];
}

function usageTemplate(spec: ObjectSpec): Template {
  const a = spec.attributes;
  switch (spec.kind) {
    case 'RSA':
      return [b(P.CKA_SIGN, a.sign || spec.system), b(P.CKA_DECRYPT, a.decrypt), b(P.CKA_UNWRAP, a.unwrap)];
    case 'EC':
      return [b(P.CKA_SIGN, a.sign || spec.system), b(P.CKA_DERIVE, a.derive)];
    case 'ED':
      return [b(P.CKA_SIGN, a.sign || spec.system)];
    case 'AES':
    case 'DES3':
      return [b(P.CKA_ENCRYPT, a.encrypt), b(P.CKA_DECRYPT, a.decrypt), b(P.CKA_WRAP, a.wrap), b(P.CKA_UNWRAP, a.unwrap), b(P.CKA_DERIVE, a.derive)];
    case 'HMAC':
      return [b(P.CKA_SIGN, a.sign), b(P.CKA_VERIFY, a.verify)];
  }
}

/** DER OID of each curve as OpenSSL (and so the token) names it, by the curve's OpenSSL name. */
const namedCurveOids = new Map<string, Buffer>();

/**
 * CKA_EC_PARAMS: the curve's real OID. Warden reports some curves under the spec's OIDs (x962p239v1
 * is reported as 1.2.840.10045.3.1.1, which is prime192v1 on the wire), so the OID is taken from the
 * SPKI OpenSSL writes for the curve's name, once per curve.
 */
function curveParams(spec: ObjectSpec): Buffer {
  if (spec.kind === 'ED') return encodeOid(spec.params.algorithmOid || ED25519_OID);
  if (!spec.params.curveOid) throw new WardenError(600, 'curveOid is required for EC keys');
  const nodeName = curveByOid(spec.params.curveOid)?.nodeName;
  if (!nodeName) return encodeOid(spec.params.curveOid);
  let oid = namedCurveOids.get(nodeName);
  if (!oid) {
    const spki = generateKeyPairSync('ec', { namedCurve: nodeName }).publicKey.export({ type: 'spki', format: 'der' });
    // SPKI { AlgorithmIdentifier { ecPublicKey, namedCurve }, BIT STRING }: the second OID in it.
    const alg = readTlv(readTlv(spki).value);
    const first = readTlv(alg.value);
    const second = readTlv(alg.value, first.end);
    oid = Buffer.from(alg.value.subarray(first.end, second.end));
    namedCurveOids.set(nodeName, oid);
  }
  return oid;
}

/** Maps a token refusal of a key type / size / curve onto 611 (the token cannot hold it). */
function tokenRefusal(e: unknown, what: string): unknown {
  const code = pkcs11Code(e);
  // CKR_MECHANISM_INVALID, CKR_TEMPLATE_INCONSISTENT, CKR_ATTRIBUTE_VALUE_INVALID, CKR_KEY_SIZE_RANGE, CKR_CURVE_NOT_SUPPORTED, CKR_DOMAIN_PARAMS_INVALID
  if (code !== null && [0x70, 0xd1, 0x13, 0x62, 0x140, 0x130].includes(code)) return refusedOnToken(`${what} (${pkcs11Name(e)})`);
  return e;
}

export async function generateObject(pool: SessionPool, spec: ObjectSpec): Promise<PlacedObject> {
  const what = `${spec.kind} key generation${spec.params.keySize ? ` (${spec.params.keySize} bits)` : ''}${spec.params.curveOid ? ` on curve ${spec.params.curveOid}` : ''}`;
  try {
    return await pool.run(async ({ m, session }) => {
      if (spec.kind === 'AES' || spec.kind === 'HMAC' || spec.kind === 'DES3') {
        const mechanism = spec.kind === 'AES' ? P.CKM_AES_KEY_GEN : spec.kind === 'DES3' ? P.CKM_DES3_KEY_GEN : P.CKM_GENERIC_SECRET_KEY_GEN;
        if (!pool.mechanisms.has(mechanism)) throw refusedOnToken(what);
        // CKM_DES3_KEY_GEN makes 3-key TDEA with odd parity; its length is not a parameter.
        const length = spec.kind === 'DES3' ? [] : [b(P.CKA_VALUE_LEN, (spec.params.keySize ?? 256) / 8)];
        const template = [b(P.CKA_CLASS, P.CKO_SECRET_KEY), b(P.CKA_KEY_TYPE, secretKeyType(spec.kind)), ...length, ...commonTemplate(spec), ...usageTemplate(spec)];
        const handle = await m.C_GenerateKeyAsync(session, { mechanism }, template);
        return { keyClass: 'secret' as const, publicKey: null, ...readFlags(m, session, handle) };
      }
      let mechanism: number;
      let publicTemplate: Template;
      if (spec.kind === 'RSA') {
        mechanism = P.CKM_RSA_PKCS_KEY_PAIR_GEN;
        publicTemplate = [b(P.CKA_MODULUS_BITS, spec.params.keySize ?? 2048), b(P.CKA_PUBLIC_EXPONENT, Buffer.from([1, 0, 1]))];
      } else {
        mechanism = spec.kind === 'ED' ? CKM_EC_EDWARDS_KEY_PAIR_GEN : P.CKM_EC_KEY_PAIR_GEN;
        publicTemplate = [b(P.CKA_EC_PARAMS, curveParams(spec))];
      }
      if (!pool.mechanisms.has(mechanism)) throw refusedOnToken(what);
      // The public half is a session object: read once as SPKI, then gone (verification is public work).
      const pair = await m.C_GenerateKeyPairAsync(session, { mechanism }, [b(P.CKA_TOKEN, false), b(P.CKA_VERIFY, true), ...publicTemplate], [b(P.CKA_CLASS, P.CKO_PRIVATE_KEY), ...commonTemplate(spec), ...usageTemplate(spec)]);
      try {
        return { keyClass: 'private' as const, publicKey: readPublicKey(m, session, pair.publicKey, spec), ...readFlags(m, session, pair.privateKey) };
      } finally {
        m.C_DestroyObject(session, pair.publicKey);
      }
    });
  } catch (e) {
    throw tokenRefusal(e, what);
  }
}

function readFlags(m: Module, session: Handle, handle: Handle): { alwaysSensitive: boolean; neverExtractable: boolean } {
  const [as, ne] = m.C_GetAttributeValue(session, handle, [{ type: P.CKA_ALWAYS_SENSITIVE }, { type: P.CKA_NEVER_EXTRACTABLE }]);
  return { alwaysSensitive: (as.value as Buffer)[0] === 1, neverExtractable: (ne.value as Buffer)[0] === 1 };
}

/** CKA_EC_POINT is a DER OCTET STRING per the standard; some tokens return the bare point. */
function ecPoint(value: Buffer): Buffer {
  try {
    const t = readTlv(value);
    if (t.tag === 0x04 && t.end === value.length) return t.value;
  } catch {
    // not DER: the bare point
  }
  return value;
}

function readPublicKey(m: Module, session: Handle, handle: Handle, spec: ObjectSpec): Buffer {
  if (spec.kind === 'RSA') {
    const [n, e] = m.C_GetAttributeValue(session, handle, [{ type: P.CKA_MODULUS }, { type: P.CKA_PUBLIC_EXPONENT }]);
    const jwk = { kty: 'RSA', n: (n.value as Buffer).toString('base64url'), e: (e.value as Buffer).toString('base64url') };
    return createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' });
  }
  const [point] = m.C_GetAttributeValue(session, handle, [{ type: P.CKA_EC_POINT }]);
  const raw = ecPoint(point.value as Buffer);
  const bits = encodeTlv(0x03, Buffer.concat([Buffer.from([0]), raw]));
  const alg = spec.kind === 'ED' ? encodeTlv(0x30, encodeOid(spec.params.algorithmOid || ED25519_OID)) : encodeTlv(0x30, Buffer.concat([encodeOid(EC_PUBLIC_KEY_OID), curveParams(spec)]));
  return encodeTlv(0x30, Buffer.concat([alg, bits]));
}

const fromB64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

/**
 * The private scalar of an EC PKCS#8, read from the DER: node:crypto's JWK export knows only P-256/384/521
 * and secp256k1, not the brainpool, secp224, x962p239 … curves Warden holds.
 */
function ecScalar(pkcs8: Buffer): Buffer {
  const [, , inner] = readChildren(readTlv(pkcs8).value); // PrivateKeyInfo { version, algorithm, privateKey }
  const [, d] = readChildren(readTlv(inner.value).value); // ECPrivateKey { 1, privateKey, [0] parameters, [1] publicKey }
  return Buffer.from(d.value);
}

/** PKCS#8 of an EC key from its scalar and its SPKI (curve OID and public point), as the software keystore stores it. */
function ecPkcs8(d: Buffer, spki: Buffer): Buffer {
  const [alg, point] = readChildren(readTlv(spki).value);
  const [, curve] = readChildren(alg.value);
  // SEC 1: the scalar as an octet string of the field's length (the token may drop leading zeros).
  const size = (point.value.length - 2) / 2; // BIT STRING: unused-bits byte, 04 ‖ X ‖ Y
  const scalar = d.length < size ? Buffer.concat([Buffer.alloc(size - d.length), d]) : d;
  const sec1 = encodeTlv(0x30, Buffer.concat([Buffer.from([0x02, 0x01, 0x01]), encodeTlv(0x04, scalar), encodeTlv(0xa0, encodeTlv(0x06, curve.value)), encodeTlv(0xa1, encodeTlv(0x03, point.value))]));
  return createPrivateKey({ key: sec1, format: 'der', type: 'sec1' }).export({ type: 'pkcs8', format: 'der' });
}

/** Puts imported material on the token with C_CreateObject (RSA components, EC/ED scalar, secret value). */
export async function importObject(pool: SessionPool, spec: ObjectSpec, material: KeyMaterial): Promise<PlacedObject> {
  const what = `${spec.kind} key import`;
  let template: Template;
  let keyClass: KeyClass;
  if (material.secret) {
    keyClass = 'secret';
    template = [b(P.CKA_CLASS, P.CKO_SECRET_KEY), b(P.CKA_KEY_TYPE, secretKeyType(spec.kind)), b(P.CKA_VALUE, material.secret)];
  } else if (material.privateKey) {
    keyClass = 'private';
    if (spec.kind === 'EC') {
      template = [b(P.CKA_CLASS, P.CKO_PRIVATE_KEY), b(P.CKA_KEY_TYPE, P.CKK_EC), b(P.CKA_EC_PARAMS, curveParams(spec)), b(P.CKA_VALUE, ecScalar(material.privateKey))];
    } else if (spec.kind === 'RSA') {
      const jwk = createPrivateKey({ key: material.privateKey, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }) as JsonWebKey;
      template = [
        b(P.CKA_CLASS, P.CKO_PRIVATE_KEY), b(P.CKA_KEY_TYPE, P.CKK_RSA),
        b(P.CKA_MODULUS, fromB64u(jwk.n)), b(P.CKA_PUBLIC_EXPONENT, fromB64u(jwk.e)), b(P.CKA_PRIVATE_EXPONENT, fromB64u(jwk.d)),
        b(P.CKA_PRIME_1, fromB64u(jwk.p)), b(P.CKA_PRIME_2, fromB64u(jwk.q)), b(P.CKA_EXPONENT_1, fromB64u(jwk.dp)), b(P.CKA_EXPONENT_2, fromB64u(jwk.dq)), b(P.CKA_COEFFICIENT, fromB64u(jwk.qi)),
      ];
    } else {
      const jwk = createPrivateKey({ key: material.privateKey, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }) as JsonWebKey;
      template = [b(P.CKA_CLASS, P.CKO_PRIVATE_KEY), b(P.CKA_KEY_TYPE, CKK_EC_EDWARDS), b(P.CKA_EC_PARAMS, curveParams(spec)), b(P.CKA_VALUE, fromB64u(jwk.d))];
    }
  } else {
    throw new WardenError(600, 'nothing to import');
  }
  try {
    return await pool.run(({ m, session }) => {
      const handle = m.C_CreateObject(session, [...template, ...commonTemplate(spec), ...usageTemplate(spec)]);
      return { keyClass, publicKey: material.publicKey ?? null, ...readFlags(m, session, handle) };
    });
  } catch (e) {
    throw tokenRefusal(e, what);
  }
}

/**
 * C_UnwrapKey of a wrapped secret key straight into its token object (same template as a generated
 * key of its kind): the key never exists outside the token. Returns the key's length in bytes.
 */
export async function unwrapObject(pool: SessionPool, spec: ObjectSpec, unwrapping: Pkcs11Key, mechanism: TokenMechanism, wrapped: Buffer, length: number): Promise<PlacedObject & { bytes: number }> {
  if (spec.kind !== 'AES' && spec.kind !== 'HMAC' && spec.kind !== 'DES3') throw refusedOnToken(`unwrapping a ${spec.kind} private key into the token`);
  const r = unwrapping.mechanismFor(mechanism, 'unwrapping');
  const template = [b(P.CKA_CLASS, P.CKO_SECRET_KEY), b(P.CKA_KEY_TYPE, secretKeyType(spec.kind)), ...commonTemplate(spec), ...usageTemplate(spec)];
  try {
    return await pool.run(async ({ m, session, find }) => {
      const handle = await m.C_UnwrapKeyAsync(session, r.mechanism, find(unwrapping.id, unwrapping.objectClass), wrapped, template);
      const [len] = m.C_GetAttributeValue(session, handle, [{ type: P.CKA_VALUE_LEN }]);
      // SoftHSM 2.6 leaves CKA_VALUE_LEN 0 on unwrapped keys: then the length the wrapping format tells.
      const reported = Number((len.value as Buffer).readBigUInt64LE(0));
      return { keyClass: 'secret' as const, publicKey: null, bytes: reported || length, ...readFlags(m, session, handle) };
    });
  } catch (e) {
    const err = operationError(e, 'unwrapping', unwrapping.label);
    // The token's "wrapped key invalid" is the caller's failed integrity check, as in software.
    if (err instanceof WardenError && err.code === 612) throw new WardenError(410, 'Unwrapping failed: the integrity check of the wrapped key failed (wrong key or tampered data)', { cause: e });
    throw err;
  }
}

/** Plain material, read from the token: only what the token itself releases (CKA_SENSITIVE false, CKA_EXTRACTABLE true). */
export async function exportObject(pool: SessionPool, spec: Pick<ObjectSpec, 'id' | 'kind' | 'label'>, keyClass: KeyClass, publicKey: Buffer | null): Promise<KeyMaterial> {
  const cls = keyClass === 'secret' ? P.CKO_SECRET_KEY : P.CKO_PRIVATE_KEY;
  try {
    return await pool.run(({ m, session, find }) => {
      const h = find(spec.id, cls);
      if (keyClass === 'secret') return { secret: m.C_GetAttributeValue(session, h, [{ type: P.CKA_VALUE }])[0].value as Buffer };
      if (spec.kind === 'EC') {
        const d = m.C_GetAttributeValue(session, h, [{ type: P.CKA_VALUE }])[0].value as Buffer;
        return { privateKey: ecPkcs8(d, publicKey as Buffer), publicKey: publicKey ?? undefined };
      }
      let jwk: JsonWebKey;
      const pub = createPublicKey({ key: publicKey as Buffer, format: 'der', type: 'spki' }).export({ format: 'jwk' }) as JsonWebKey;
      if (spec.kind === 'RSA') {
        const types = [P.CKA_PRIVATE_EXPONENT, P.CKA_PRIME_1, P.CKA_PRIME_2, P.CKA_EXPONENT_1, P.CKA_EXPONENT_2, P.CKA_COEFFICIENT];
        const [d, p, q, dp, dq, qi] = m.C_GetAttributeValue(session, h, types.map((type) => ({ type }))).map((a) => (a.value as Buffer).toString('base64url'));
        jwk = { ...pub, d, p, q, dp, dq, qi };
      } else {
        const value = m.C_GetAttributeValue(session, h, [{ type: P.CKA_VALUE }])[0].value as Buffer;
        jwk = { ...pub, d: value.toString('base64url') };
      }
      return { privateKey: createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' }), publicKey: publicKey ?? undefined };
    });
  } catch (e) {
    // CKR_ATTRIBUTE_SENSITIVE: the token's own attributes forbid it, whatever the row says.
    if (pkcs11Code(e) === 0x11) throw errors.forbidden(`Key '${spec.label}' is sensitive or not extractable on the token; the token does not release it`);
    throw e;
  }
}

export async function destroyObject(pool: SessionPool, id: Buffer, keyClass: KeyClass): Promise<void> {
  const cls = keyClass === 'secret' ? P.CKO_SECRET_KEY : P.CKO_PRIVATE_KEY;
  await pool.run(({ m, session, find }) => {
    let h: Handle;
    try {
      h = find(id, cls);
    } catch (e) {
      if (e instanceof WardenError) return; // already gone
      throw e;
    }
    m.C_DestroyObject(session, h);
  });
  pool.forget(id);
}

export function newObjectId(): Buffer {
  return randomBytes(16);
}

/** A key on the token as the crypto layer sees it: every operation runs there, on a pooled session. */
export class Pkcs11Key implements TokenKey {
  constructor(
    private readonly pool: SessionPool,
    readonly id: Buffer,
    readonly keyClass: KeyClass,
    readonly kind: TokenKeyKind,
    readonly label: string,
  ) {}

  get objectClass(): number {
    return this.keyClass === 'secret' ? P.CKO_SECRET_KEY : P.CKO_PRIVATE_KEY;
  }

  private get cls(): number {
    return this.objectClass;
  }

  mechanismFor(mechanism: TokenMechanism, what: string) {
    return this.resolve(mechanism, what);
  }

  private resolve(mechanism: TokenMechanism, what: string) {
    const r = resolveMechanism(mechanism, this.pool.mechanisms);
    if (!r) throw refusedOnToken(`${what} with ${describeMechanism(mechanism)} (key '${this.label}')`);
    return r;
  }

  private run<T>(what: string, fn: Parameters<SessionPool['run']>[0]): Promise<T> {
    return this.pool.run(fn).catch((e: unknown) => {
      throw operationError(e, what, this.label);
    }) as Promise<T>;
  }

  sign(mechanism: TokenMechanism, data: Buffer): Promise<Buffer> {
    const r = this.resolve(mechanism, 'signing');
    return this.run('signing', async ({ m, session, find }) => {
      m.C_SignInit(session, r.mechanism, find(this.id, this.cls));
      const input = r.data(data);
      // pkcs11js hands the token a NULL pointer for an empty buffer (CKR_ARGUMENTS_BAD): the multi-part form has no data argument.
      if (input.length === 0) return m.C_SignFinalAsync(session, Buffer.alloc(1024));
      return m.C_SignAsync(session, input, Buffer.alloc(1024));
    });
  }

  verify(mechanism: TokenMechanism, data: Buffer, signature: Buffer): Promise<boolean> {
    const r = this.resolve(mechanism, 'verification');
    return this.run('verification', async ({ m, session, find }) => {
      m.C_VerifyInit(session, r.mechanism, find(this.id, this.cls));
      const input = r.data(data);
      try {
        return input.length === 0 ? await m.C_VerifyFinalAsync(session, signature) : await m.C_VerifyAsync(session, input, signature);
      } catch (e) {
        const code = pkcs11Code(e);
        if (code === 0xc0 || code === 0xc1) return false; // CKR_SIGNATURE_INVALID, CKR_SIGNATURE_LEN_RANGE
        throw e;
      }
    });
  }

  encrypt(mechanism: TokenMechanism, data: Buffer): Promise<Buffer> {
    const r = this.resolve(mechanism, 'encryption');
    return this.run('encryption', async ({ m, session, find }) => {
      m.C_EncryptInit(session, r.mechanism, find(this.id, this.cls));
      if (data.length === 0) return m.C_EncryptFinalAsync(session, Buffer.alloc(1024));
      return m.C_EncryptAsync(session, data, Buffer.alloc(data.length + 1024));
    });
  }

  decrypt(mechanism: TokenMechanism, data: Buffer): Promise<Buffer> {
    const r = this.resolve(mechanism, 'decryption');
    return this.run('decryption', async ({ m, session, find }) => {
      m.C_DecryptInit(session, r.mechanism, find(this.id, this.cls));
      if (data.length === 0) return m.C_DecryptFinalAsync(session, Buffer.alloc(1024));
      return m.C_DecryptAsync(session, data, Buffer.alloc(data.length + 1024));
    });
  }

  wrapKey(mechanism: TokenMechanism, target: TokenKey): Promise<Buffer> {
    if (!(target instanceof Pkcs11Key)) throw refusedOnToken('wrapping a key that is not on the same token');
    target.checkWrappable();
    const r = this.resolve(mechanism, 'wrapping');
    return this.run('wrapping', async ({ m, session, find }) => m.C_WrapKeyAsync(session, r.mechanism, find(this.id, this.cls), find(target.id, target.cls), Buffer.alloc(16384)));
  }

  wrapUnderPublicKey(mechanism: TokenMechanism, spki: Buffer): Promise<Buffer> {
    this.checkWrappable();
    const r = this.resolve(mechanism, 'wrapping');
    const jwk = createPublicKey({ key: spki, format: 'der', type: 'spki' }).export({ format: 'jwk' }) as JsonWebKey;
    if (jwk.kty !== 'RSA') throw new WardenError(607, 'wrapping under a public key needs an RSA public key');
    const template: Template = [
      b(P.CKA_CLASS, P.CKO_PUBLIC_KEY), b(P.CKA_KEY_TYPE, P.CKK_RSA), b(P.CKA_TOKEN, false), b(P.CKA_WRAP, true), b(P.CKA_ENCRYPT, false),
      b(P.CKA_MODULUS, fromB64u(jwk.n)), b(P.CKA_PUBLIC_EXPONENT, fromB64u(jwk.e)),
    ];
    return this.run('wrapping', async ({ m, session, find }) => {
      const target = find(this.id, this.cls);
      // The public key is public data: a session object for this one C_WrapKey, destroyed right after.
      const wrapping = m.C_CreateObject(session, template);
      try {
        return await m.C_WrapKeyAsync(session, r.mechanism, wrapping, target, Buffer.alloc(16384));
      } finally {
        m.C_DestroyObject(session, wrapping);
      }
    });
  }

  unwrapToBytes(mechanism: TokenMechanism, wrapped: Buffer): Promise<Buffer> {
    const r = this.resolve(mechanism, 'unwrapping');
    const template: Template = [b(P.CKA_CLASS, P.CKO_SECRET_KEY), b(P.CKA_KEY_TYPE, P.CKK_GENERIC_SECRET), b(P.CKA_TOKEN, false), b(P.CKA_SENSITIVE, false), b(P.CKA_EXTRACTABLE, true)];
    return this.run('unwrapping', async ({ m, session, find }) => {
      const h = await m.C_UnwrapKeyAsync(session, r.mechanism, find(this.id, this.cls), wrapped, template);
      try {
        return m.C_GetAttributeValue(session, h, [{ type: P.CKA_VALUE }])[0].value as Buffer;
      } finally {
        m.C_DestroyObject(session, h);
      }
    });
  }

  /** SoftHSM 2.6 cannot encode an EdDSA key for C_WrapKey (CKR_KEY_NOT_WRAPPABLE): a limit of the token, not of the key. */
  checkWrappable(): void {
    if (this.kind === 'ED') throw refusedOnToken(`wrapping the EdDSA key '${this.label}' (the token cannot encode it for C_WrapKey)`);
  }
}

/** Token errors of an operation in Warden's terms. */
function operationError(e: unknown, what: string, label: string): unknown {
  const code = pkcs11Code(e);
  if (code === null) return e;
  switch (code) {
    case 0x68: // CKR_KEY_FUNCTION_NOT_PERMITTED
    case 0x69: // CKR_KEY_NOT_WRAPPABLE
    case 0x6a: // CKR_KEY_UNEXTRACTABLE
      return errors.forbidden(`Key '${label}': the token does not permit ${what} with it (${pkcs11Name(e)})`);
    case 0x70: // CKR_MECHANISM_INVALID
    case 0x71: // CKR_MECHANISM_PARAM_INVALID
    case 0x63: // CKR_KEY_TYPE_INCONSISTENT
    case 0x07: // CKR_ARGUMENTS_BAD (SoftHSM 2.6: OAEP with a hash other than SHA-1)
      return refusedOnToken(`${what} with key '${label}' (${pkcs11Name(e)})`);
    case 0x110: // CKR_WRAPPED_KEY_INVALID
    case 0x112: // CKR_WRAPPED_KEY_LEN_RANGE
    case 0x40: // CKR_ENCRYPTED_DATA_INVALID
    case 0x41: // CKR_ENCRYPTED_DATA_LEN_RANGE
    case 0x20: // CKR_DATA_INVALID
    case 0x21: // CKR_DATA_LEN_RANGE
    case 0x05: // CKR_GENERAL_ERROR (SoftHSM: GCM tag mismatch)
      return new WardenError(612, `${what} with key '${label}' failed on the token: the data is not valid for it (${pkcs11Name(e)})`);
    default:
      return new WardenError(701, `PKCS#11 token error during ${what} with key '${label}': ${pkcs11Name(e)}`);
  }
}
