// `warden keystore rotate-master-key`: re-seals every key, data object and the audit key under a new
// master key in one database transaction. The new key is written to master.key.new first and renamed
// after the commit; a crash in between is finished by unlockMasterKey at the next start.
import { renameSync, rmSync } from 'node:fs';
import { resealAuditKey } from '../../audit/log.ts';
import { resealApproverSecrets } from '../../approvers/reseal.ts';
import { resealWorkflowSecrets } from '../../workflow/reseal.ts';
import type { Store } from '../../store/db.ts';
import { MetaRepository } from '../../store/repositories.ts';
import { MasterKey, writeMasterKeyFile } from './master-key.ts';
import { SoftwareKeyStore } from './keystore.ts';
import { CHECK_KEY } from './unlock.ts';

export async function rotateMasterKey(store: Store, current: MasterKey, opts: { file: string | null }): Promise<{ key: MasterKey; keys: number; dataObjects: number }> {
  const next = MasterKey.generate();
  const pending = opts.file ? `${opts.file}.new` : null;
  if (pending) writeMasterKeyFile(pending, next);
  let counts: { keys: number; dataObjects: number };
  try {
    counts = await store.db.transaction().execute(async (trx) => {
      const result = await SoftwareKeyStore.resealAll(trx, current, next);
      const meta = new MetaRepository(trx);
      await resealAuditKey(meta, current, next);
      await resealApproverSecrets(trx, current, next);
      await resealWorkflowSecrets(trx, current, next);
      await meta.set(CHECK_KEY, next.checkValue);
      return result;
    });
  } catch (e) {
    // The transaction rolled back: the pending key seals nothing, so it must not linger.
    if (pending) rmSync(pending, { force: true });
    throw e;
  }
  if (pending && opts.file) renameSync(pending, opts.file);
  return { key: next, ...counts };
}
