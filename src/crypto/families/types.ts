// What one key family (RSA, EC, AES, …) must provide to the registry. Adding a family = one module
// exporting a KeyFamily and one line in registry.ts.
import type { TokenKey } from '../token.ts';
export type KeyClass = 'private' | 'public' | 'secret';

/** Key bytes as the keystore seals them: PKCS#8 DER for private keys, raw bytes for secrets. */
export interface KeyMaterial {
  privateKey?: Buffer;
  publicKey?: Buffer;
  secret?: Buffer;
  /** A key on a PKCS#11 token: no private/secret bytes here, operations go through this handle (src/crypto/token.ts). */
  token?: TokenKey;
}

/** Parameters fixed at creation and reported in the attributes response. */
export interface KeyParams {
  algorithmOid: string;
  curveOid: string | null;
  keySize: number | null;
}

export interface CreateParamsInput {
  keySize?: number | null;
  curveOid?: string | null;
}

export interface KeyFamily {
  /** `algorithm` on the wire when creating or importing. */
  readonly algorithm: string;
  /** `algorithm` reported in attributes (e.g. LMS → HSS-LMS). */
  readonly reportedAlgorithm: string;
  readonly symmetric: boolean;
  /** Validates keySize/curveOid of a create request; throws WardenError 603 / 600. */
  resolve(input: CreateParamsInput): KeyParams;
  generate(params: KeyParams): Promise<KeyMaterial>;
  /**
   * Validates imported material of this family and returns the canonical form plus the params it
   * implies (size/curve read from the key itself). Throws WardenError 407/625/603/600.
   */
  importMaterial(input: { privateKey?: Buffer; publicKey?: Buffer; secret?: Buffer }): { material: KeyMaterial; params: KeyParams };
  /**
   * Stateful hash-based signature keys (LMS/HSS, XMSS): how many one-time signatures a private key
   * holds. The keystore keeps the next index sealed beside the key and never hands one out twice.
   */
  readonly stateful?: { capacity(material: KeyMaterial): number };
}
