// PKCS#11 custody: private and secret keys are CKA_TOKEN objects on the token, found by a random
// CKA_ID kept in the row's payload, which the token seal key seals. Public-only keys stay in the row
// (public data, bound by the AAD like every row). Nothing private is ever read back except through
// exportPlain, and then only what the token's own CKA_SENSITIVE / CKA_EXTRACTABLE release.
import type { KeyMaterial } from '../../crypto/families/types.ts';
import { refusedOnToken } from '../../crypto/token.ts';
import type { CustodyRef, KeyCustody, PlacedKey } from '../custody.ts';
import type { KeyInfo, NewKey } from '../interface.ts';
import { WardenError } from '../../server/errors.ts';
import { Pkcs11Key, destroyObject, exportObject, generateObject, importObject, newObjectId, tokenKindOf, unwrapObject, type ObjectSpec } from './objects.ts';
import type { TokenSeal } from './seal.ts';
import type { SessionPool } from './session-pool.ts';

export class Pkcs11Custody implements KeyCustody {
  readonly type = 'pkcs11' as const;

  constructor(
    readonly pool: SessionPool,
    private readonly tokenSeal: TokenSeal,
  ) {}

  async place(key: NewKey, info: Omit<KeyInfo, 'keyClass' | 'publicKey'>): Promise<PlacedKey> {
    const algorithm = key.family.reportedAlgorithm;
    const material = key.material;
    // A public key is public data: it stays in its row (verification runs in software, docs/hsm.md).
    if (material && !material.privateKey && !material.secret) {
      return { keyClass: 'public', publicKey: material.publicKey ?? null, ref: {}, material: { publicKey: material.publicKey } };
    }
    if (key.family.stateful) throw refusedOnToken(`stateful hash-based ${algorithm} keys (one-time signature state)`);
    const kind = tokenKindOf(algorithm);
    if (key.attributes.bip32 || key.attributes.slip10) throw refusedOnToken('BIP-32/SLIP-0010 derivation');
    const spec: ObjectSpec = { id: newObjectId(), label: key.label, kind, params: key.params, attributes: key.attributes, system: info.system };
    let params: PlacedKey['params'];
    let placed;
    if (key.unwrap) {
      const { key: unwrapping, mechanism, wrapped, length } = key.unwrap;
      if (!(unwrapping instanceof Pkcs11Key)) throw refusedOnToken('unwrapping with a key that is not on this token');
      const unwrapped = await unwrapObject(this.pool, spec, unwrapping, mechanism, wrapped, length);
      placed = unwrapped;
      try {
        // The size is known once the token has unwrapped it: the family's own rule decides (AES 16/24/32 bytes, …).
        params = key.family.resolve({ keySize: unwrapped.bytes * 8 });
      } catch (e) {
        await destroyObject(this.pool, spec.id, 'secret');
        const rsa = mechanism.name === 'RSA_OAEP' || mechanism.name === 'RSA_PKCS1_DECRYPT';
        throw new WardenError(rsa ? 410 : 600, rsa
          ? `Unwrapping failed: the unwrapped data is not a valid ${algorithm} key (wrong key or method, or tampered data)`
          : `A ${unwrapped.bytes}-byte secret is not a valid ${algorithm} key: name its algorithm in unwrapKeyRequest.algorithm`, { cause: e });
      }
    } else placed = material ? await importObject(this.pool, spec, material) : await generateObject(this.pool, spec);
    const ref = { p11: spec.id.toString('hex') };
    return {
      params,
      keyClass: placed.keyClass,
      publicKey: placed.publicKey,
      ref,
      attributes: { ...key.attributes, alwaysSensitive: placed.alwaysSensitive, neverExtractable: placed.neverExtractable },
      material: { publicKey: placed.publicKey ?? undefined, token: new Pkcs11Key(this.pool, spec.id, placed.keyClass, kind, key.label) },
    };
  }

  adopt(): CustodyRef {
    throw refusedOnToken('BIP-32/SLIP-0010 derivation');
  }

  seal(plain: Buffer, aad: string): Promise<Buffer> {
    return this.tokenSeal.seal(plain, aad);
  }

  unseal(sealed: Buffer, aad: string): Promise<Buffer> {
    return this.tokenSeal.unseal(sealed, aad);
  }

  material(ref: CustodyRef, info: KeyInfo): KeyMaterial {
    const publicKey = info.publicKey ?? undefined;
    if (typeof ref.p11 !== 'string') return { publicKey };
    return { publicKey, token: new Pkcs11Key(this.pool, Buffer.from(ref.p11, 'hex'), info.keyClass, tokenKindOf(info.algorithm), info.label) };
  }

  async exportPlain(ref: CustodyRef, info: KeyInfo, material: KeyMaterial): Promise<KeyMaterial> {
    if (typeof ref.p11 !== 'string') return { publicKey: material.publicKey };
    return exportObject(this.pool, { id: Buffer.from(ref.p11, 'hex'), kind: tokenKindOf(info.algorithm), label: info.label }, info.keyClass, info.publicKey);
  }

  async remove(ref: CustodyRef, info: KeyInfo): Promise<void> {
    if (typeof ref.p11 !== 'string') return;
    await destroyObject(this.pool, Buffer.from(ref.p11, 'hex'), info.keyClass);
  }
}
