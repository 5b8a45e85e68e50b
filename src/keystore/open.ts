// Picks the keystore of `keystore.type`: software (sealed rows) or pkcs11 (a token, docs/hsm.md).
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { Store } from '../store/db.ts';
import type { RowKeyStore } from './core.ts';
import { Pkcs11KeyStore } from './pkcs11/keystore.ts';
import { SoftwareKeyStore } from './software/keystore.ts';
import type { MasterKey } from './software/master-key.ts';

/** `serving`: the start of `warden serve` (under the startup lock), the one place system keys are replaced. */
export async function openKeyStore(store: Store, config: Config, master: MasterKey, logger: Logger, { serving = false } = {}): Promise<{ keystore: RowKeyStore; close(): void }> {
  const k = config.keystore;
  if (k.type !== 'pkcs11') return { keystore: new SoftwareKeyStore(store, master, k.unsealedCacheSize), close: () => undefined };
  const p = k.pkcs11;
  if (!p || k.pkcs11Pin === undefined) throw new Error('keystore.pkcs11 is required when keystore.type is pkcs11');
  const { keystore, sealKeyCreated, replacedSystemKeys } = await Pkcs11KeyStore.open(store, { library: p.library, tokenLabel: p.tokenLabel ?? null, slot: p.slot ?? null, pin: k.pkcs11Pin, sessions: p.sessions }, master, k.unsealedCacheSize, { replaceSoftwareSystemKeys: serving });
  logger.info({ library: p.library, token: keystore.pool.tokenLabel, sessions: p.sessions }, sealKeyCreated ? 'PKCS#11 keystore: created the token seal key warden-seal' : 'PKCS#11 keystore: token opened');
  if (replacedSystemKeys.length > 0) logger.warn({ keys: replacedSystemKeys }, 'PKCS#11 keystore: system keys of the software keystore replaced by new keys on the token');
  return { keystore, close: () => keystore.close() };
}
