// `warden keystore rotate-master-key` for the workflow: a request's sealed key password (`secret`, needed
// when it executes) and its sealed result (until fetched) move to the new master key in the rotation's
// transaction. Without this, a rotation made every pending request with a key password fail (701) at
// execution and every unfetched result unreadable.
import type { Transaction } from 'kysely';
import type { MasterKey } from '../keystore/software/master-key.ts';
import { canonical, seal, unseal } from '../keystore/software/seal.ts';
import type { Database } from '../store/schema.ts';

/** The AAD of KeyStore.sealSecret (src/keystore/core.ts): the two must stay identical. */
const aad = (purpose: string) => canonical({ v: 1, kind: 'workflowSecret', purpose });

function reseal(from: MasterKey, to: MasterKey, purpose: string, sealed: Buffer): Buffer {
  return seal(to.sealKey, unseal(from.sealKey, sealed, aad(purpose)), aad(purpose));
}

export async function resealWorkflowSecrets(trx: Transaction<Database>, from: MasterKey, to: MasterKey): Promise<number> {
  const rows = await trx
    .selectFrom('requests')
    .select(['id', 'secret', 'result'])
    .where((eb) => eb.or([eb('secret', 'is not', null), eb('result', 'is not', null)]))
    .execute();
  for (const r of rows) {
    await trx
      .updateTable('requests')
      .set({
        secret: r.secret ? reseal(from, to, `request:${r.id}`, Buffer.from(r.secret)) : r.secret,
        result: r.result ? reseal(from, to, `result:${r.id}`, Buffer.from(r.result)) : r.result,
      })
      .where('id', '=', r.id)
      .execute();
  }
  return rows.length;
}
