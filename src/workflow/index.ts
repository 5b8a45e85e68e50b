// Start-up of the multi-authorization workflow: the timestamp key (`hsm.timestampKeyName`, a system EC
// P-256 key created at first start like the attestation key), the engine and its scheduler.
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { ec } from '../crypto/families/ec.ts';
import type { KeyStore } from '../keystore/interface.ts';
import type { Store } from '../store/db.ts';
import { Workflow, type WorkflowDeps } from './engine.ts';
import { defaultExecutors } from './executors.ts';
import { Scheduler } from './scheduler.ts';

const P256 = '1.2.840.10045.3.1.7';

/** Creates the timestamp key on first start and tells the keystore to trust it for challenges. */
export async function ensureTimestampKey(keystore: KeyStore, name: string): Promise<void> {
  if (!(await keystore.peek(name))) {
    await keystore.create({
      label: name,
      family: ec,
      params: ec.resolve({ curveOid: P256 }),
      attributes: {
        encrypt: false, decrypt: false, verify: true, sign: true, wrap: false, unwrap: false, derive: false, bip32: false, slip10: false,
        extractable: false, modifiable: false, destroyable: false, sensitive: true, copyable: false, alwaysSensitive: true, neverExtractable: true,
      },
      password: null,
      creation: 'generated',
      system: true,
    });
  }
  await keystore.setTimestampKey(name);
}


/** Opens the workflow and starts its scheduler; `stop()` the scheduler before closing the store. */
export async function openWorkflow(o: { store: Store; keystore: KeyStore; config: Config; logger: Logger; audit?: WorkflowDeps['audit'] }): Promise<Workflow> {
  await ensureTimestampKey(o.keystore, o.config.hsm.timestampKeyName);
  const g = o.config.general;
  const workflow = new Workflow({ db: o.store.db, keystore: o.keystore, logger: o.logger, executors: defaultExecutors(), audit: o.audit, claimTimeoutMs: g.executionClaimTimeout });
  workflow.scheduler = new Scheduler(workflow, o.logger, g.hsmRequestsTimerServiceInterval, g.approvalTaskCleanupInterval);
  workflow.scheduler.start();
  return workflow;
}

export { Workflow };
