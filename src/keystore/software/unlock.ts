// Finds the master key (env WARDEN_MASTER_KEY, else the key file) and checks it against the store.
// First start: creates it. Existing sealed data with a missing or different key: refuses, never
// replaces. A rotation interrupted after its commit is finished here (master.key.new → master.key).
import { existsSync, renameSync } from 'node:fs';
import { DataObjectsRepository, KeysRepository, MetaRepository } from '../../store/repositories.ts';
import type { Store } from '../../store/db.ts';
import { MasterKey, MasterKeyError, readMasterKeyFile, writeMasterKeyFile } from './master-key.ts';

export const CHECK_KEY = 'master_key_check';

export async function unlockMasterKey(store: Store, opts: { file: string; fromEnv: Buffer | null }): Promise<{ key: MasterKey; created: boolean }> {
  const meta = new MetaRepository(store.db);
  const check = await meta.get(CHECK_KEY);
  const sealedItems = (await new KeysRepository(store.db).count()) + (await new DataObjectsRepository(store.db).count());
  const key = opts.fromEnv ? new MasterKey(opts.fromEnv) : readMasterKeyFile(opts.file);
  const where = opts.fromEnv ? 'WARDEN_MASTER_KEY' : opts.file;

  if (check) {
    if (key?.matches(check)) return { key, created: false };
    const pending = `${opts.file}.new`;
    if (!opts.fromEnv && existsSync(pending)) {
      const next = readMasterKeyFile(pending);
      if (next?.matches(check)) {
        renameSync(pending, opts.file);
        return { key: next, created: false };
      }
    }
    if (!key) throw new MasterKeyError(`master key not found (${where}) but the database holds data sealed under one: restore the key file or set WARDEN_MASTER_KEY; refusing to start`);
    throw new MasterKeyError(`master key from ${where} does not match the one that sealed this database; refusing to start`);
  }
  if (sealedItems > 0) throw new MasterKeyError('the database holds sealed keys but no master key check value; refusing to start');
  if (key) {
    await meta.set(CHECK_KEY, key.checkValue);
    return { key, created: false };
  }
  const fresh = MasterKey.generate();
  writeMasterKeyFile(opts.file, fresh);
  await meta.set(CHECK_KEY, fresh.checkValue);
  return { key: fresh, created: true };
}
