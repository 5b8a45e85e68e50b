// Where key material lives: the one thing the two keystores differ in. The row-based core
// (src/keystore/core.ts) keeps every rule (passwords, attributes, system keys, policies, use counts,
// workflow secrets) and asks a custody to place, seal, open and remove material. Software custody:
// material sealed in the row under the master key. PKCS#11 custody: objects on a token, the row sealed
// by a key that never leaves the token.
import type { KeyClass, KeyMaterial, KeyParams } from '../crypto/families/types.ts';
import type { KeyAttributes, KeyInfo, NewKey } from './interface.ts';

/** The custody's part of a row's sealed payload (the core adds the password verifier `pw`). */
export type CustodyRef = Record<string, unknown>;

export interface PlacedKey {
  keyClass: KeyClass;
  publicKey: Buffer | null;
  ref: CustodyRef;
  /** Attributes as the custody reports them (the token's CKA_ALWAYS_SENSITIVE / CKA_NEVER_EXTRACTABLE). */
  attributes?: KeyAttributes;
  /** What use() hands out (software: every byte; token: the public key and a token handle). */
  material: KeyMaterial;
  /** Parameters only the custody learns (the size of a key the token unwrapped). */
  params?: Partial<KeyParams>;
}

export interface KeyCustody {
  readonly type: 'software' | 'pkcs11';
  /** Generates (or imports `key.material`) into custody. `info` is the row about to be written. */
  place(key: NewKey, info: Omit<KeyInfo, 'keyClass' | 'publicKey'>): Promise<PlacedKey>;
  /** Custody of material the core computed itself (a derived child key). */
  adopt(material: KeyMaterial): CustodyRef;
  /** Seals a row's payload bound to `aad`; unseal throws SealError when the two do not match. */
  seal(plain: Buffer, aad: string): Buffer | Promise<Buffer>;
  unseal(sealed: Buffer, aad: string): Buffer | Promise<Buffer>;
  /** The material an opened row stands for. */
  material(ref: CustodyRef, info: KeyInfo): KeyMaterial | Promise<KeyMaterial>;
  /** Plain bytes of a key whose Warden attributes allow export (the custody may refuse further). */
  exportPlain(ref: CustodyRef, info: KeyInfo, material: KeyMaterial): Promise<KeyMaterial>;
  /** Destroys the material of a deleted row (the row is already gone). */
  remove(ref: CustodyRef, info: KeyInfo): Promise<void>;
}
