// The key extension of a new key (create, import, seed import): BIP-32/SLIP-10 material and chain code
// when the attributes ask for derivation (spec §2.3), and the SKA address format (§2.6), checked
// against the key's algorithm and curve (605).
import type { KeyAttributes, KeyExtension } from '../../keystore/interface.ts';
import { checkAddressFormat, checkAddressKey } from '../addresses/index.ts';
import type { KeyMaterial } from '../families/types.ts';
import { derivableMaterial } from './keys.ts';

export interface NewKeyExtensionInput {
  algorithm: string;
  curveOid: string | null;
  attributes: KeyAttributes;
  addressFormat?: { format: string } | null;
  /** Imported material; absent for keys Warden generates. */
  material?: KeyMaterial;
}

/** Material to create the key with (undefined: let the family generate it) and its extension. */
export function extensionForNewKey(input: NewKeyExtensionInput): { material?: KeyMaterial; ext: KeyExtension | null } {
  let ext: KeyExtension | null = null;
  let material = input.material;
  const derivable = derivableMaterial(input, input.material);
  if (derivable) {
    material = derivable.material;
    ext = derivable.ext;
  }
  if (input.addressFormat) {
    const format = checkAddressFormat(input.addressFormat.format);
    checkAddressKey(format, input);
    ext = { ...ext, addressFormat: format };
  }
  return { material, ext };
}
