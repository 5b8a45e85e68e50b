// The PKCS#11 keystore: the shared row-based core (src/keystore/core.ts) over PKCS#11 custody. Rows,
// policies, use counts and the workflow stay in the database; key material stays on the token.
import type { Store } from '../../store/db.ts';
import { RowKeyStore } from '../core.ts';
import type { MasterKey } from '../software/master-key.ts';
import { Pkcs11Custody } from './custody.ts';
import { TokenSeal } from './seal.ts';
import { SessionPool, type Pkcs11Options } from './session-pool.ts';

export class Pkcs11KeyStore extends RowKeyStore {
  readonly pool: SessionPool;

  private constructor(store: Store, custody: Pkcs11Custody, master: MasterKey, cacheSize: number) {
    super(store, custody, master, cacheSize);
    this.pool = custody.pool;
  }

  /** Connects to the token, logs in and makes sure the seal key exists. */
  static async open(store: Store, opts: Pkcs11Options, master: MasterKey, cacheSize = 10000): Promise<{ keystore: Pkcs11KeyStore; sealKeyCreated: boolean }> {
    const pool = new SessionPool(opts);
    pool.connect();
    try {
      const tokenSeal = new TokenSeal(pool);
      const { created } = await tokenSeal.ensureKey();
      return { keystore: new Pkcs11KeyStore(store, new Pkcs11Custody(pool, tokenSeal), master, cacheSize), sealKeyCreated: created };
    } catch (e) {
      pool.close();
      throw e;
    }
  }

  close(): void {
    this.pool.close();
  }
}
