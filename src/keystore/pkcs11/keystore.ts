// The PKCS#11 keystore: the shared row-based core (src/keystore/core.ts) over PKCS#11 custody. Rows,
// policies, use counts and the workflow stay in the database; key material stays on the token.
import type { Store } from '../../store/db.ts';
import { RowKeyStore } from '../core.ts';
import type { MasterKey } from '../software/master-key.ts';
import { Pkcs11Custody } from './custody.ts';
import { TokenSeal } from './seal.ts';
import { SessionPool, type Pkcs11Options } from './session-pool.ts';
import { TOKEN_SEAL_VERSION } from '../software/seal.ts';

/**
 * A data directory that ran on the software keystore holds Warden's own system keys (attestation,
 * timestamps) sealed under the master key. They are never copied to a token (migrate refuses them):
 * their rows go, and the start creates new ones on the token (boot.ts, under the startup lock).
 */
async function dropSoftwareSystemKeys(store: Store): Promise<string[]> {
  const rows = await store.db.selectFrom('keys').select(['label', 'sealed']).where('system', '=', 1).execute();
  const stale = rows.filter((r) => r.sealed && Buffer.from(r.sealed)[0] !== TOKEN_SEAL_VERSION).map((r) => r.label);
  if (stale.length > 0) await store.db.deleteFrom('keys').where('label', 'in', stale).execute();
  return stale;
}

export class Pkcs11KeyStore extends RowKeyStore {
  readonly pool: SessionPool;

  private constructor(store: Store, custody: Pkcs11Custody, master: MasterKey, cacheSize: number) {
    super(store, custody, master, cacheSize);
    this.pool = custody.pool;
  }

  /**
   * Connects to the token, logs in and makes sure the seal key exists. Only a serving start replaces
   * the software system keys (`replaceSoftwareSystemKeys`): a tool that merely opens the token (migrate,
   * even its dry run) must leave a data directory that stays on the software keystore as it was.
   */
  static async open(store: Store, opts: Pkcs11Options, master: MasterKey, cacheSize = 10000, { replaceSoftwareSystemKeys = false } = {}): Promise<{ keystore: Pkcs11KeyStore; sealKeyCreated: boolean; replacedSystemKeys: string[] }> {
    const pool = new SessionPool(opts);
    pool.connect();
    try {
      const tokenSeal = new TokenSeal(pool);
      const { created } = await tokenSeal.ensureKey();
      const replacedSystemKeys = replaceSoftwareSystemKeys ? await dropSoftwareSystemKeys(store) : [];
      return { keystore: new Pkcs11KeyStore(store, new Pkcs11Custody(pool, tokenSeal), master, cacheSize), sealKeyCreated: created, replacedSystemKeys };
    } catch (e) {
      pool.close();
      throw e;
    }
  }

  close(): void {
    this.pool.close();
  }
}
