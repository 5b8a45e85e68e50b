// The token seal key: AES-256 `warden-seal`, generated on the token at first start (sensitive,
// non-extractable, encrypt/decrypt only). A row's payload {token object id, password verifier} is
// sealed with CKM_AES_GCM on the token under the same AAD as the software keystore (keyAad), so an
// edited row — label, attributes, policy, block state — no longer opens, and neither does the whole
// database copied next to another token. Layout: 2 ‖ iv(12) ‖ ciphertext ‖ tag(16).
import { randomBytes } from 'node:crypto';
import { SealError, TOKEN_SEAL_VERSION } from '../software/seal.ts';
import { WardenError } from '../../server/errors.ts';
import { pkcs11 as P, pkcs11Code, pkcs11Name, type Handle, type SessionPool } from './session-pool.ts';

export const SEAL_KEY_LABEL = 'warden-seal';
const SEAL_KEY_ID = Buffer.from('warden-seal/v1');

export class TokenSeal {
  constructor(private readonly pool: SessionPool) {}

  /** Finds the seal key, or creates it when the token has none (first start). */
  async ensureKey(): Promise<{ created: boolean }> {
    if (!this.pool.mechanisms.has(P.CKM_AES_GCM) || !this.pool.mechanisms.has(P.CKM_AES_KEY_GEN)) {
      throw new WardenError(611, `PKCS#11 token '${this.pool.tokenLabel}' has no CKM_AES_GCM / CKM_AES_KEY_GEN: Warden needs them for the token seal key`);
    }
    return this.pool.run(({ m, session }) => {
      m.C_FindObjectsInit(session, [{ type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }, { type: P.CKA_ID, value: SEAL_KEY_ID }, { type: P.CKA_TOKEN, value: true }]);
      let found: Handle[];
      try {
        found = m.C_FindObjects(session, 2);
      } finally {
        m.C_FindObjectsFinal(session);
      }
      if (found.length > 1) throw new WardenError(701, `PKCS#11 token '${this.pool.tokenLabel}' holds several '${SEAL_KEY_LABEL}' keys`);
      if (found.length === 1) return { created: false };
      m.C_GenerateKey(session, { mechanism: P.CKM_AES_KEY_GEN }, [
        { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY },
        { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
        { type: P.CKA_VALUE_LEN, value: 32 },
        { type: P.CKA_TOKEN, value: true },
        { type: P.CKA_PRIVATE, value: true },
        { type: P.CKA_ID, value: SEAL_KEY_ID },
        { type: P.CKA_LABEL, value: SEAL_KEY_LABEL },
        { type: P.CKA_SENSITIVE, value: true },
        { type: P.CKA_EXTRACTABLE, value: false },
        { type: P.CKA_ENCRYPT, value: true },
        { type: P.CKA_DECRYPT, value: true },
        { type: P.CKA_WRAP, value: false },
        { type: P.CKA_UNWRAP, value: false },
        { type: P.CKA_MODIFIABLE, value: false },
      ]);
      return { created: true };
    });
  }

  private mechanism(iv: Buffer, aad: string) {
    return { mechanism: P.CKM_AES_GCM, parameter: { type: P.CK_PARAMS_GCM, iv, ivBits: 96, aad: Buffer.from(aad, 'utf8'), tagBits: 128 } };
  }

  async seal(plain: Buffer, aad: string): Promise<Buffer> {
    const iv = randomBytes(12);
    const ct = await this.pool.run(({ m, session, find }) => {
      m.C_EncryptInit(session, this.mechanism(iv, aad), find(SEAL_KEY_ID, P.CKO_SECRET_KEY));
      return m.C_Encrypt(session, plain, Buffer.alloc(plain.length + 16));
    });
    return Buffer.concat([Buffer.from([TOKEN_SEAL_VERSION]), iv, ct]);
  }

  async unseal(sealed: Buffer, aad: string): Promise<Buffer> {
    if (sealed.length < 1 + 12 + 16) throw new SealError('sealed record has an unknown layout');
    if (sealed[0] !== TOKEN_SEAL_VERSION) {
      throw new WardenError(701, 'This key is in the software keystore (sealed under the master key), not on the PKCS#11 token: move it with `warden keystore migrate --from software --to pkcs11` (docs/hsm.md)');
    }
    const iv = sealed.subarray(1, 13);
    try {
      return await this.pool.run(({ m, session, find }) => {
        m.C_DecryptInit(session, this.mechanism(iv, aad), find(SEAL_KEY_ID, P.CKO_SECRET_KEY));
        return m.C_Decrypt(session, sealed.subarray(13), Buffer.alloc(sealed.length));
      });
    } catch (e) {
      const code = pkcs11Code(e);
      // A tag mismatch: CKR_ENCRYPTED_DATA_INVALID by the standard, CKR_GENERAL_ERROR from SoftHSM 2.6.
      if (code === 0x40 || code === 0x41 || code === 0x05) throw new SealError(`sealed record failed authentication (${pkcs11Name(e)})`);
      throw e;
    }
  }
}
