// RSA signature families (spec §4.1): PKCS#1 v1.5 and PSS with a server-side hash (node:crypto on the
// threadpool), and the pre-hashed forms node:crypto cannot express — NONE_WITH_RSA (type-1 padding over
// the raw payload), NONESHA*_WITH_RSA (type-1 padding over DigestInfo‖digest, RFC 8017 §9.2) and PSS
// over a supplied digest (EMSA-PSS of RFC 8017 §9.1 done here, then a raw RSA operation).
import { constants, publicDecrypt, randomBytes, timingSafeEqual } from 'node:crypto';
import { WardenError } from '../../server/errors.ts';
import { DIGEST_LENGTHS, sha2ByLength, type HashInfo } from '../hashes.ts';
import { privateDer, privateKeyObject, publicKeyObject, signAsync, verifyAsync } from './node.ts';
import { rsaPrivateRaw } from './rsa-raw.ts';
import { MAX_HASHED_PAYLOAD, type SignatureAlgorithm, type SignatureKey } from './types.ts';

const RSA = ['RSA'] as const;
const NATURAL = ['DER', 'RAW'] as const;

function hashedPayload(payload: Buffer): void {
  if (payload.length > MAX_HASHED_PAYLOAD) {
    throw new WardenError(612, `payload is ${payload.length} bytes; at most ${MAX_HASHED_PAYLOAD} bytes are signed directly (hash larger data and use a NONE* algorithm)`);
  }
}

function digestPayload(payload: Buffer, hash: HashInfo): void {
  if (payload.length !== hash.length) {
    throw new WardenError(612, `payload must be a ${hash.name} digest of ${hash.length} bytes, got ${payload.length}`);
  }
}

function modulusBits(key: SignatureKey): number {
  return publicKeyObject(key).asymmetricKeyDetails?.modulusLength ?? (key.keySize as number);
}

/** RSASSA-PKCS1-v1_5 with a server-side hash. */
export function rsaPkcs1(hash: HashInfo): SignatureAlgorithm {
  const nodeName = hash.nodeName as string;
  return Object.freeze({
    name: `${hash.name}_WITH_RSA`, aliases: [], scheme: 'RSA_PKCS1', keyAlgorithms: RSA, curves: null,
    hash, prehashed: false, deterministic: true, signatureTypes: NATURAL,
    summary: `RSASSA-PKCS1-v1_5 with ${hash.name} (RFC 8017 §8.2)`,
    async sign(key, payload) {
      hashedPayload(payload);
      return signAsync(nodeName, payload, { key: privateKeyObject(key), padding: constants.RSA_PKCS1_PADDING });
    },
    async verify(key, payload, signature) {
      hashedPayload(payload);
      return verifyAsync(nodeName, payload, { key: publicKeyObject(key), padding: constants.RSA_PKCS1_PADDING }, signature);
    },
  } satisfies SignatureAlgorithm);
}

/** RSASSA-PSS with a server-side hash; MGF1 with the same hash, salt length = digest length. */
export function rsaPss(hash: HashInfo): SignatureAlgorithm {
  const nodeName = hash.nodeName as string;
  const opts = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: hash.length };
  return Object.freeze({
    name: `${hash.name}_WITH_RSA_PSS`, aliases: [], scheme: 'RSA_PSS', keyAlgorithms: RSA, curves: null,
    hash, prehashed: false, deterministic: false, signatureTypes: NATURAL,
    summary: `RSASSA-PSS with ${hash.name}, MGF1-${hash.name}, ${hash.length}-byte salt (RFC 8017 §8.1)`,
    async sign(key, payload) {
      hashedPayload(payload);
      return signAsync(nodeName, payload, { key: privateKeyObject(key), ...opts });
    },
    async verify(key, payload, signature) {
      hashedPayload(payload);
      return verifyAsync(nodeName, payload, { key: publicKeyObject(key), ...opts }, signature);
    },
  } satisfies SignatureAlgorithm);
}

/** RSASP1 ∘ EMSA-PKCS1-v1_5 type-1 padding over `block`, off the event loop. */
function pkcs1Type1Sign(key: SignatureKey, block: Buffer): Promise<Buffer> {
  return rsaPrivateRaw('privateEncrypt', privateDer(key), block, constants.RSA_PKCS1_PADDING);
}

/** RSAVP1 + type-1 unpadding, then an exact comparison with the expected block (no DigestInfo parsing, so no BER leniency). */
function pkcs1Type1Verify(key: SignatureKey, expected: Buffer, signature: Buffer): boolean {
  const k = Math.ceil(modulusBits(key) / 8);
  if (signature.length !== k) return false;
  let recovered: Buffer;
  try {
    recovered = publicDecrypt({ key: publicKeyObject(key), padding: constants.RSA_PKCS1_PADDING }, signature);
  } catch {
    return false;
  }
  return recovered.length === expected.length && timingSafeEqual(recovered, expected);
}

/** NONEwithRSA: PKCS#1 v1.5 type-1 padding over the raw payload, no DigestInfo. */
export function noneWithRsa(): SignatureAlgorithm {
  const check = (key: SignatureKey, payload: Buffer) => {
    const max = Math.ceil(modulusBits(key) / 8) - 11;
    if (payload.length < 1 || payload.length > max) throw new WardenError(612, `NONE_WITH_RSA signs 1..${max} bytes with this key, got ${payload.length}`);
  };
  return Object.freeze({
    name: 'NONE_WITH_RSA', aliases: [], scheme: 'RSA_PKCS1', keyAlgorithms: RSA, curves: null,
    hash: null, prehashed: true, deterministic: true, signatureTypes: NATURAL,
    summary: 'PKCS#1 v1.5 type-1 padding over the raw payload (JCA NONEwithRSA; the payload is not wrapped in a DigestInfo)',
    async sign(key, payload) {
      check(key, payload);
      return pkcs1Type1Sign(key, payload);
    },
    async verify(key, payload, signature) {
      check(key, payload);
      return pkcs1Type1Verify(key, payload, signature);
    },
  } satisfies SignatureAlgorithm);
}

/** NONESHAxxx_WITH_RSA: the payload is a digest; the server adds the DigestInfo (= SHAxxx_WITH_RSA over the original message). */
export function noneShaRsa(hash: HashInfo): SignatureAlgorithm {
  const prefix = hash.digestInfoPrefix as Buffer;
  return Object.freeze({
    name: `NONE${hash.name}_WITH_RSA`, aliases: [], scheme: 'RSA_PKCS1', keyAlgorithms: RSA, curves: null,
    hash, prehashed: true, deterministic: true, signatureTypes: NATURAL,
    summary: `PKCS#1 v1.5 over a supplied ${hash.name} digest (DigestInfo added by the server; same signature as ${hash.name}_WITH_RSA over the message)`,
    async sign(key, payload) {
      digestPayload(payload, hash);
      return pkcs1Type1Sign(key, Buffer.concat([prefix, payload]));
    },
    async verify(key, payload, signature) {
      digestPayload(payload, hash);
      return pkcs1Type1Verify(key, Buffer.concat([prefix, payload]), signature);
    },
  } satisfies SignatureAlgorithm);
}

/** MGF1 (RFC 8017 §B.2.1). */
function mgf1(hash: HashInfo, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  for (let counter = 0, have = 0; have < length; counter++) {
    const c = Buffer.alloc(4);
    c.writeUInt32BE(counter);
    const block = hash.digest(Buffer.concat([seed, c]));
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

/** EMSA-PSS-ENCODE (RFC 8017 §9.1.1) of a digest, salt length = digest length, emBits = modBits − 1. */
export function emsaPssEncode(hash: HashInfo, mHash: Buffer, modBits: number, salt = randomBytes(hash.length)): Buffer {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = hash.length;
  if (emLen < hLen + salt.length + 2) throw new WardenError(607, `The RSA key is too small for PSS with ${hash.name}`);
  const h = hash.digest(Buffer.concat([Buffer.alloc(8), mHash, salt]));
  const db = Buffer.concat([Buffer.alloc(emLen - salt.length - hLen - 2), Buffer.from([1]), salt]);
  const mask = mgf1(hash, h, emLen - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  return Buffer.concat([db, h, Buffer.from([0xbc])]);
}

/** EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with the salt length fixed to the digest length. */
export function emsaPssVerify(hash: HashInfo, mHash: Buffer, em: Buffer, modBits: number): boolean {
  const emBits = modBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const hLen = hash.length;
  const sLen = hLen;
  if (em.length !== emLen || emLen < hLen + sLen + 2 || em[emLen - 1] !== 0xbc) return false;
  const maskedDb = em.subarray(0, emLen - hLen - 1);
  const h = em.subarray(emLen - hLen - 1, emLen - 1);
  const topMask = 0xff >> (8 * emLen - emBits);
  if ((maskedDb[0] & ~topMask) !== 0) return false;
  const mask = mgf1(hash, h, maskedDb.length);
  const db = Buffer.alloc(maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i] ^ mask[i];
  db[0] &= topMask;
  const psLen = emLen - hLen - sLen - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - sLen);
  const h2 = hash.digest(Buffer.concat([Buffer.alloc(8), mHash, salt]));
  return timingSafeEqual(h, h2);
}

/**
 * RSASSA-PSS over a supplied digest. `hash` names the digest (NONESHAxxx_WITH_RSA_PSS); null infers it
 * from the digest length (NONE_WITH_RSA_PSS: 20/28/32/48/64 bytes → SHA-1/224/256/384/512).
 */
export function rsaPssPrehashed(hash: HashInfo | null): SignatureAlgorithm {
  const resolve = (payload: Buffer): HashInfo => {
    if (hash) {
      digestPayload(payload, hash);
      return hash;
    }
    const inferred = sha2ByLength(payload.length);
    if (!inferred) throw new WardenError(612, `NONE_WITH_RSA_PSS takes a SHA-1/SHA-2 digest (${DIGEST_LENGTHS.join(', ')} bytes), got ${payload.length} bytes`);
    return inferred;
  };
  return Object.freeze({
    name: hash ? `NONE${hash.name}_WITH_RSA_PSS` : 'NONE_WITH_RSA_PSS', aliases: [], scheme: 'RSA_PSS', keyAlgorithms: RSA, curves: null,
    hash, prehashed: true, deterministic: false, signatureTypes: NATURAL,
    summary: hash
      ? `RSASSA-PSS over a supplied ${hash.name} digest (MGF1-${hash.name}, ${hash.length}-byte salt); same signature as ${hash.name}_WITH_RSA_PSS over the message`
      : 'RSASSA-PSS over a supplied digest; the hash (SHA-1/224/256/384/512) is inferred from the digest length',
    async sign(key, payload) {
      const h = resolve(payload);
      const bits = modulusBits(key);
      const em = emsaPssEncode(h, payload, bits);
      const k = Math.ceil(bits / 8);
      const block = Buffer.concat([Buffer.alloc(k - em.length), em]);
      return rsaPrivateRaw('privateEncrypt', privateDer(key), block, constants.RSA_NO_PADDING);
    },
    async verify(key, payload, signature) {
      const h = resolve(payload);
      const bits = modulusBits(key);
      const k = Math.ceil(bits / 8);
      if (signature.length !== k) return false;
      let m: Buffer;
      try {
        m = publicDecrypt({ key: publicKeyObject(key), padding: constants.RSA_NO_PADDING }, signature);
      } catch {
        return false;
      }
      const emLen = Math.ceil((bits - 1) / 8);
      if (m.subarray(0, k - emLen).some((b) => b !== 0)) return false;
      return emsaPssVerify(h, payload, m.subarray(k - emLen), bits);
    },
  } satisfies SignatureAlgorithm);
}
