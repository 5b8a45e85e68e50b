// `warden keystore rotate-master-key` for approver secrets: the sealed PKCS#12s, pending restore
// passwords and the one-time-code key move to the new master key in the rotation's transaction, so
// onboarding and restores survive a rotation.
import type { Transaction } from 'kysely';
import type { MasterKey } from '../keystore/software/master-key.ts';
import { canonical, seal, unseal } from '../keystore/software/seal.ts';
import type { Database } from '../store/schema.ts';
import type { ApproversTable } from './repository.ts';

/** The AAD of KeyStore.sealSecret (src/keystore/software/keystore.ts): the two must stay identical. */
const aad = (purpose: string) => canonical({ v: 1, kind: 'workflowSecret', purpose });

function reseal(from: MasterKey, to: MasterKey, purpose: string, sealed: Buffer): Buffer {
  return seal(to.sealKey, unseal(from.sealKey, sealed, aad(purpose)), aad(purpose));
}

export async function resealApproverSecrets(trx: Transaction<Database>, from: MasterKey, to: MasterKey): Promise<number> {
  const otc = await trx.selectFrom('meta').select('v').where('k', '=', 'approver_otc_key').executeTakeFirst();
  if (otc) {
    const v = reseal(from, to, 'approver-otc-key', Buffer.from(otc.v, 'base64')).toString('base64');
    await trx.updateTable('meta').set({ v }).where('k', '=', 'approver_otc_key').execute();
  }
  const db = trx.withTables<{ approvers: ApproversTable }>();
  const rows = await db.selectFrom('approvers').select(['name', 'p12', 'restore_id', 'restore_secret']).execute();
  for (const r of rows) {
    const p12 = reseal(from, to, `approver-p12:${r.name}`, Buffer.from(r.p12));
    const restore = r.restore_id && r.restore_secret ? reseal(from, to, `approver-restore:${r.name}:${r.restore_id}`, Buffer.from(r.restore_secret)) : r.restore_secret;
    await db.updateTable('approvers').set({ p12, restore_secret: restore }).where('name', '=', r.name).execute();
  }
  return rows.length;
}
