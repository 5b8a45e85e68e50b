// Warden's mechanism names (src/crypto/token.ts) → CKM_* and their parameter structures.
import { createHash } from 'node:crypto';
import type { GcmParams, Mechanism, RsaOAEP, RsaPSS } from 'pkcs11js';
import type { TokenHash, TokenMechanism } from '../../crypto/token.ts';
import { pkcs11 as P } from './session-pool.ts';

/** Not (yet) in pkcs11js's constant table: PKCS#11 3.0 values. */
export const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
export const CKM_EDDSA = 0x1057;
export const CKK_EC_EDWARDS = 0x40;
const CKZ_DATA_SPECIFIED = 1;

const HASH: Record<TokenHash, { ckm: number; mgf: number; rsaPkcs: number; rsaPss: number; hmac: number; ecdsa: number; dsa: number }> = {
  sha1: { ckm: P.CKM_SHA_1, mgf: P.CKG_MGF1_SHA1, rsaPkcs: P.CKM_SHA1_RSA_PKCS, rsaPss: P.CKM_SHA1_RSA_PKCS_PSS, hmac: P.CKM_SHA_1_HMAC, ecdsa: P.CKM_ECDSA_SHA1, dsa: P.CKM_DSA_SHA1 },
  sha224: { ckm: P.CKM_SHA224, mgf: P.CKG_MGF1_SHA224, rsaPkcs: P.CKM_SHA224_RSA_PKCS, rsaPss: P.CKM_SHA224_RSA_PKCS_PSS, hmac: P.CKM_SHA224_HMAC, ecdsa: P.CKM_ECDSA_SHA224, dsa: P.CKM_DSA_SHA224 },
  sha256: { ckm: P.CKM_SHA256, mgf: P.CKG_MGF1_SHA256, rsaPkcs: P.CKM_SHA256_RSA_PKCS, rsaPss: P.CKM_SHA256_RSA_PKCS_PSS, hmac: P.CKM_SHA256_HMAC, ecdsa: P.CKM_ECDSA_SHA256, dsa: P.CKM_DSA_SHA256 },
  sha384: { ckm: P.CKM_SHA384, mgf: P.CKG_MGF1_SHA384, rsaPkcs: P.CKM_SHA384_RSA_PKCS, rsaPss: P.CKM_SHA384_RSA_PKCS_PSS, hmac: P.CKM_SHA384_HMAC, ecdsa: P.CKM_ECDSA_SHA384, dsa: P.CKM_DSA_SHA384 },
  sha512: { ckm: P.CKM_SHA512, mgf: P.CKG_MGF1_SHA512, rsaPkcs: P.CKM_SHA512_RSA_PKCS, rsaPss: P.CKM_SHA512_RSA_PKCS_PSS, hmac: P.CKM_SHA512_HMAC, ecdsa: P.CKM_ECDSA_SHA512, dsa: P.CKM_DSA_SHA512 },
};

/** The CKM_* a Warden mechanism needs, and how the data is prepared for it. */
export interface Resolved {
  mechanism: Mechanism;
  /** Data as the token gets it (pre-hashed where only raw ECDSA exists). */
  data(input: Buffer): Buffer;
}

const same = (b: Buffer) => b;

/** Resolves against the token's mechanism list; null when the token has no way to do it. */
export function resolveMechanism(m: TokenMechanism, available: ReadonlySet<number>): Resolved | null {
  const need = (ckm: number, mechanism: Mechanism, data: (b: Buffer) => Buffer = same): Resolved | null => (available.has(ckm) ? { mechanism, data } : null);
  switch (m.name) {
    case 'RSA_PKCS1':
      return m.hash ? need(HASH[m.hash].rsaPkcs, { mechanism: HASH[m.hash].rsaPkcs }) : need(P.CKM_RSA_PKCS, { mechanism: P.CKM_RSA_PKCS });
    case 'RSA_PSS': {
      const parameter: RsaPSS = { type: P.CK_PARAMS_RSA_PSS, hashAlg: HASH[m.hash].ckm, mgf: HASH[m.hash].mgf, saltLen: m.saltLength };
      return m.prehashed ? need(P.CKM_RSA_PKCS_PSS, { mechanism: P.CKM_RSA_PKCS_PSS, parameter }) : need(HASH[m.hash].rsaPss, { mechanism: HASH[m.hash].rsaPss, parameter });
    }
    case 'RSA_OAEP':
      return need(P.CKM_RSA_PKCS_OAEP, {
        mechanism: P.CKM_RSA_PKCS_OAEP,
        parameter: { type: P.CK_PARAMS_RSA_OAEP, hashAlg: HASH[m.hash].ckm, mgf: HASH[m.hash].mgf, source: CKZ_DATA_SPECIFIED, ...(m.label && m.label.length > 0 ? { sourceData: m.label } : {}) } as RsaOAEP,
      });
    case 'RSA_PKCS1_DECRYPT':
      return need(P.CKM_RSA_PKCS, { mechanism: P.CKM_RSA_PKCS });
    case 'RSA_RAW':
      return need(P.CKM_RSA_X_509, { mechanism: P.CKM_RSA_X_509 });
    case 'ECDSA': {
      if (m.hash === null) return need(P.CKM_ECDSA, { mechanism: P.CKM_ECDSA });
      const hash = m.hash;
      // Hashing the payload is public work: only the signature over the digest needs the key.
      return need(HASH[hash].ecdsa, { mechanism: HASH[hash].ecdsa }) ?? need(P.CKM_ECDSA, { mechanism: P.CKM_ECDSA }, (b) => createHash(hash).update(b).digest());
    }
    case 'EDDSA':
      return need(CKM_EDDSA, { mechanism: CKM_EDDSA });
    case 'AES_GCM':
      return need(P.CKM_AES_GCM, {
        mechanism: P.CKM_AES_GCM,
        parameter: { type: P.CK_PARAMS_GCM, iv: m.iv, ivBits: m.iv.length * 8, tagBits: m.tagBits, ...(m.aad && m.aad.length > 0 ? { aad: m.aad } : {}) } as GcmParams,
      });
    case 'AES_CBC':
      return m.pad ? need(P.CKM_AES_CBC_PAD, { mechanism: P.CKM_AES_CBC_PAD, parameter: m.iv }) : need(P.CKM_AES_CBC, { mechanism: P.CKM_AES_CBC, parameter: m.iv });
    case 'AES_ECB':
      return need(P.CKM_AES_ECB, { mechanism: P.CKM_AES_ECB });
    case 'AES_CTR': {
      // CK_AES_CTR_PARAMS { CK_ULONG ulCounterBits; CK_BYTE cb[16]; } laid out by hand (no pkcs11js struct).
      const params = Buffer.alloc(8 + 16);
      params.writeBigUInt64LE(BigInt(m.counterBits), 0);
      m.iv.copy(params, 8);
      return need(P.CKM_AES_CTR, { mechanism: P.CKM_AES_CTR, parameter: params });
    }
    case 'AES_KEY_WRAP':
      return m.pad ? need(P.CKM_AES_KEY_WRAP_PAD, { mechanism: P.CKM_AES_KEY_WRAP_PAD }) : need(P.CKM_AES_KEY_WRAP, { mechanism: P.CKM_AES_KEY_WRAP });
    case 'HMAC':
      return need(HASH[m.hash].hmac, { mechanism: HASH[m.hash].hmac });
    case 'DES3_CBC':
      return m.pad ? need(P.CKM_DES3_CBC_PAD, { mechanism: P.CKM_DES3_CBC_PAD, parameter: m.iv }) : need(P.CKM_DES3_CBC, { mechanism: P.CKM_DES3_CBC, parameter: m.iv });
    case 'DES3_ECB':
      return need(P.CKM_DES3_ECB, { mechanism: P.CKM_DES3_ECB });
    case 'DSA': {
      if (m.hash === null) return need(P.CKM_DSA, { mechanism: P.CKM_DSA });
      const hash = m.hash;
      return need(HASH[hash].dsa, { mechanism: HASH[hash].dsa }) ?? need(P.CKM_DSA, { mechanism: P.CKM_DSA }, (b) => createHash(hash).update(b).digest());
    }
  }
}

/** A readable name for refusals: RSA_PSS/sha256 … */
export function describeMechanism(m: TokenMechanism): string {
  const hash = 'hash' in m && m.hash ? `/${m.hash.toUpperCase()}` : '';
  return `${m.name}${hash}`;
}
