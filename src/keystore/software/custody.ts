// Software custody: the key's bytes sealed in its own row (AES-256-GCM under the master key's seal
// subkey, payload {pk, sk, pw}). The stored format is the one Warden always had.
import type { KeyClass, KeyMaterial } from '../../crypto/families/types.ts';
import type { CustodyRef, KeyCustody, PlacedKey } from '../custody.ts';
import type { KeyInfo, NewKey } from '../interface.ts';
import type { MasterKey } from './master-key.ts';
import { seal, unseal } from './seal.ts';

export class SoftwareCustody implements KeyCustody {
  readonly type = 'software' as const;

  constructor(private readonly master: MasterKey) {}

  async place(key: NewKey): Promise<PlacedKey> {
    if (key.unwrap) throw new Error('a token unwrap reached the software keystore');
    const material = key.material ?? (await key.family.generate(key.params));
    const keyClass: KeyClass = material.secret ? 'secret' : material.privateKey ? 'private' : 'public';
    return { keyClass, publicKey: material.publicKey ?? null, ref: this.adopt(material), material };
  }

  adopt(material: KeyMaterial): CustodyRef {
    return { pk: material.privateKey?.toString('base64'), sk: material.secret?.toString('base64') };
  }

  seal(plain: Buffer, aad: string): Buffer {
    return seal(this.master.sealKey, plain, aad);
  }

  unseal(sealed: Buffer, aad: string): Buffer {
    return unseal(this.master.sealKey, sealed, aad);
  }

  material(ref: CustodyRef, info: KeyInfo): KeyMaterial {
    return {
      privateKey: typeof ref.pk === 'string' ? Buffer.from(ref.pk, 'base64') : undefined,
      secret: typeof ref.sk === 'string' ? Buffer.from(ref.sk, 'base64') : undefined,
      publicKey: info.publicKey ?? undefined,
    };
  }

  async exportPlain(_ref: CustodyRef, _info: KeyInfo, material: KeyMaterial): Promise<KeyMaterial> {
    return { privateKey: material.privateKey, publicKey: material.publicKey, secret: material.secret };
  }

  async remove(): Promise<void> {
    // The bytes were in the row, which is gone.
  }
}
