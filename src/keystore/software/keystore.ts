// The software keystore: keys sealed under the master key in the database. The rules live in the
// shared row-based core (src/keystore/core.ts); this module adds the software custody and the
// master-key rotation, which re-seals rows without opening them as keys.
import type { Transaction } from 'kysely';
import type { Store } from '../../store/db.ts';
import type { Database } from '../../store/schema.ts';
import { DataObjectsRepository, KeysRepository, type KeyRow } from '../../store/repositories.ts';
import { WardenError } from '../../server/errors.ts';
import { RowKeyStore, dataObjectAad, keyAad, openState, rowToInfo, sealState } from '../core.ts';
import { SoftwareCustody } from './custody.ts';
import type { MasterKey } from './master-key.ts';
import { TOKEN_SEAL_VERSION, seal, unseal } from './seal.ts';

export { keyAad };

export class SoftwareKeyStore extends RowKeyStore {
  constructor(store: Store, master: MasterKey, cacheSize = 10000) {
    super(store, new SoftwareCustody(master), master, cacheSize);
  }

  /**
   * Re-seals every key and data object under a new master key, inside the caller's transaction. Rows
   * sealed by a PKCS#11 token seal key (version byte 2) are not under the master key and stay as they are.
   */
  static async resealAll(trx: Transaction<Database>, from: MasterKey, to: MasterKey): Promise<{ keys: number; dataObjects: number }> {
    const keys = new KeysRepository(trx);
    const objects = new DataObjectsRepository(trx);
    let k = 0;
    for (const row of await keys.all()) {
      const info = rowToInfo(row);
      const aad = keyAad(info);
      const patch: Partial<KeyRow> = {};
      if (row.sealed && Buffer.from(row.sealed)[0] !== TOKEN_SEAL_VERSION) {
        let plain: Buffer;
        try {
          plain = unseal(from.sealKey, Buffer.from(row.sealed as Buffer), aad);
        } catch {
          throw new WardenError(701, `Key '${row.label}' failed its integrity check; rotation aborted, nothing changed`);
        }
        patch.sealed = seal(to.sealKey, plain, aad);
      } else if (!row.sealed) {
        throw new WardenError(701, `Key '${row.label}' failed its integrity check; rotation aborted, nothing changed`);
      }
      if (row.state) patch.state = sealState(to, info, openState(from, info, Buffer.from(row.state)));
      if (Object.keys(patch).length === 0) continue;
      await keys.update(row.label, patch);
      k++;
    }
    let d = 0;
    for (const row of await objects.all()) {
      const aad = dataObjectAad(row.name, row.attributes, row.create_time);
      let plain: Buffer;
      try {
        plain = unseal(from.sealKey, Buffer.from(row.value), aad);
      } catch {
        throw new WardenError(701, `Data object '${row.name}' failed its integrity check; rotation aborted, nothing changed`);
      }
      await objects.update(row.name, { value: seal(to.sealKey, plain, aad) });
      d++;
    }
    return { keys: k, dataObjects: d };
  }
}
