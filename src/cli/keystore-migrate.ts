// `warden keystore migrate --from software --to pkcs11`: moves the keys whose attributes allow it out of
// the software keystore (rows sealed under the master key) onto the PKCS#11 token, through the KeyStore
// interface of both keystores over the same database. Each key keeps its label, id, attributes, creation
// kind, certificate and derivation data; it gets a new creation time and use count (docs/hsm.md).
//
// Refused, and left in place untouched: system keys (each keystore has its own), keys with a policy
// (SKA keys never leave their keystore), non-extractable keys, stateful hash-based keys (a copy could
// reuse one-time indices), password-protected keys (Warden keeps only a salted hash of the password, so
// the copy could not carry it), and keys the token has no mechanism for (611 from a probe).
//
// Crash safety: before a software row is deleted, the key is written to a journal in the data directory,
// sealed under the master key; the next run finishes any key found there with no row (resumed) and drops
// the entries whose key exists. Re-running is idempotent: keys already on the token are reported as such.
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { KeyMaterial } from '../crypto/families/types.ts';
import { familyOfStored } from '../crypto/registry.ts';
import type { KeyInfo, KeyStore, NewKey } from '../keystore/interface.ts';
import { TOKEN_SEAL_VERSION } from '../keystore/software/seal.ts';
import { WardenError } from '../server/errors.ts';
import type { Config } from '../config/schema.ts';
import { openKeyStore } from '../keystore/open.ts';
import { SoftwareKeyStore } from '../keystore/software/keystore.ts';
import { unlockMasterKey } from '../keystore/software/unlock.ts';
import { openStore, type Store } from '../store/db.ts';
import { KeysRepository } from '../store/repositories.ts';

export type MigrateOutcome =
  | { label: string; result: 'migrated' | 'would-migrate' | 'resumed' }
  | { label: string; result: 'already-on-token' }
  | { label: string; result: 'refused'; reason: string };

export interface MigrateReport {
  outcomes: MigrateOutcome[];
  migrated: number;
  refused: number;
  alreadyOnToken: number;
  dryRun: boolean;
}

const JOURNAL = 'keystore-migrate.journal';
const PURPOSE = 'keystore-migrate';

/** A key in flight, as the journal keeps it (sealed under the master key by the source keystore). */
interface JournalKey {
  label: string;
  id: string | null;
  algorithm: string;
  algorithmOid: string;
  curveOid: string | null;
  keySize: number | null;
  creation: 'generated' | 'imported';
  attributes: KeyInfo['attributes'];
  certificate: string | null;
  ext: KeyInfo['ext'] | null;
  material: { privateKey?: string; publicKey?: string; secret?: string };
}

const b64 = (b: Buffer | undefined) => (b ? b.toString('base64') : undefined);
const unb64 = (s: string | undefined) => (s === undefined ? undefined : Buffer.from(s, 'base64'));

function toJournal(info: KeyInfo, material: KeyMaterial): JournalKey {
  const m: JournalKey['material'] = {};
  if (material.privateKey) m.privateKey = b64(material.privateKey);
  if (material.publicKey) m.publicKey = b64(material.publicKey);
  if (material.secret) m.secret = b64(material.secret);
  return {
    label: info.label, id: info.id, algorithm: info.algorithm, algorithmOid: info.algorithmOid, curveOid: info.curveOid, keySize: info.keySize,
    creation: info.creation, attributes: info.attributes, certificate: info.certificate ? info.certificate.toString('base64') : null, ext: info.ext ?? null, material: m,
  };
}

function toNewKey(j: JournalKey, label = j.label): NewKey {
  const material: KeyMaterial = {};
  if (j.material.privateKey) material.privateKey = unb64(j.material.privateKey);
  if (j.material.publicKey) material.publicKey = unb64(j.material.publicKey);
  if (j.material.secret) material.secret = unb64(j.material.secret);
  return {
    label,
    id: j.id,
    family: familyOfStored(j.algorithm),
    params: { algorithmOid: j.algorithmOid, curveOid: j.curveOid, keySize: j.keySize },
    attributes: j.attributes,
    password: null,
    creation: j.creation,
    material,
    certificate: j.certificate ? Buffer.from(j.certificate, 'base64') : null,
    ext: j.ext,
  };
}

class Journal {
  private readonly file: string;
  private entries: Record<string, string>;
  constructor(dataDir: string, private readonly from: KeyStore) {
    this.file = path.join(dataDir, JOURNAL);
    this.entries = existsSync(this.file) ? (JSON.parse(readFileSync(this.file, 'utf8')) as Record<string, string>) : {};
  }
  labels(): string[] {
    return Object.keys(this.entries);
  }
  get(label: string): JournalKey {
    return JSON.parse(this.from.openSecret(`${PURPOSE}:${label}`, Buffer.from(this.entries[label] as string, 'base64')).toString('utf8')) as JournalKey;
  }
  put(key: JournalKey): void {
    this.entries[key.label] = this.from.sealSecret(`${PURPOSE}:${key.label}`, Buffer.from(JSON.stringify(key))).toString('base64');
    this.save();
  }
  drop(label: string): void {
    delete this.entries[label];
    this.save();
  }
  private save(): void {
    if (Object.keys(this.entries).length === 0) {
      rmSync(this.file, { force: true });
      return;
    }
    // Written whole and renamed over: a crash leaves the old journal or the new one, never half of one.
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.entries), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

/** Why a software key may not move, or null when its attributes allow it. */
function refusal(info: KeyInfo, hasPassword: boolean): string | null {
  if (info.system) return "system key: Warden's own key of this keystore (the PKCS#11 keystore keeps its own)";
  if (info.policy) return 'has a policy: keys with a policy never leave their keystore';
  if (familyOfStored(info.algorithm).stateful) return 'stateful hash-based key: a copy could reuse one-time signature indices';
  if (info.keyClass !== 'public' && !info.attributes.extractable) return 'not extractable';
  if (hasPassword) return 'password-protected: Warden keeps only a salted hash of the password, so the copy could not carry it (remove the password first)';
  return null;
}

const reasonOf = (e: unknown) => (e instanceof WardenError ? `${e.code}: ${e.message}` : (e as Error).message);

/**
 * Moves every eligible software key of `store` onto the token keystore `to`. `from` is the software
 * keystore over the same database and master key.
 */
export async function migrateKeys(opts: { store: Store; from: KeyStore; to: KeyStore; dataDir: string; dryRun?: boolean }): Promise<MigrateReport> {
  const { store, from, to } = opts;
  if (from.type !== 'software' || to.type !== 'pkcs11') throw new Error(`migrate goes from a software to a pkcs11 keystore (got ${from.type} → ${to.type})`);
  const rows = new KeysRepository(store.db);
  const journal = new Journal(opts.dataDir, from);
  const outcomes: MigrateOutcome[] = [];

  // A previous run stopped between deleting a software row and creating its token key: finish it.
  for (const label of journal.labels()) {
    if (await rows.get(label)) {
      if (!opts.dryRun) journal.drop(label);
      continue;
    }
    if (opts.dryRun) {
      outcomes.push({ label, result: 'would-migrate' });
      continue;
    }
    await to.create(toNewKey(journal.get(label)));
    journal.drop(label);
    outcomes.push({ label, result: 'resumed' });
  }

  for (const label of (await from.list()).sort()) {
    if (outcomes.some((o) => o.label === label)) continue;
    const row = await rows.get(label);
    if (!row) continue;
    if (row.sealed && Buffer.from(row.sealed)[0] === TOKEN_SEAL_VERSION) {
      outcomes.push({ label, result: 'already-on-token' });
      continue;
    }
    let info: KeyInfo;
    let hasPassword = false;
    try {
      info = await from.describe(label, null);
    } catch (e) {
      // 620: the key has a password (an empty one does not match it).
      if (e instanceof WardenError && e.code === 620) hasPassword = true;
      else {
        outcomes.push({ label, result: 'refused', reason: reasonOf(e) });
        continue;
      }
      info = (await from.peek(label)) as KeyInfo;
    }
    const why = refusal(info, hasPassword);
    if (why) {
      outcomes.push({ label, result: 'refused', reason: why });
      continue;
    }
    const key = info.keyClass === 'public'
      ? toJournal(info, await from.exportPlain(label, null))
      : await from.use(label, null, 'extract', ({ info: opened, material }) => toJournal(opened, material));
    // A probe under a throw-away label: a key the token refuses (611) is never taken out of software.
    const probe = `warden-migrate-probe-${randomBytes(6).toString('hex')}`;
    try {
      await to.create(toNewKey(key, probe));
      await to.delete(probe, null, { force: true });
    } catch (e) {
      await to.delete(probe, null, { force: true }).catch(() => undefined);
      outcomes.push({ label, result: 'refused', reason: `the token refuses it: ${reasonOf(e)}` });
      continue;
    }
    if (opts.dryRun) {
      outcomes.push({ label, result: 'would-migrate' });
      continue;
    }
    journal.put(key);
    await from.delete(label, null, { force: true });
    await to.create(toNewKey(key));
    journal.drop(label);
    outcomes.push({ label, result: 'migrated' });
  }
  return {
    outcomes,
    migrated: outcomes.filter((o) => o.result === 'migrated' || o.result === 'resumed' || o.result === 'would-migrate').length,
    refused: outcomes.filter((o) => o.result === 'refused').length,
    alreadyOnToken: outcomes.filter((o) => o.result === 'already-on-token').length,
    dryRun: opts.dryRun ?? false,
  };
}

/**
 * The database, the master key, the software keystore and the keystore `config` names (the token),
 * under the start-up lock so no Warden node initialises the database meanwhile.
 */
export async function openKeystores(config: Config): Promise<{ store: Store; from: KeyStore; to: KeyStore; close(): Promise<void> }> {
  const store = await openStore(config.database.url, { ...config.database });
  try {
    const unlock = await store.lock('startup');
    const { key: master } = await unlockMasterKey(store, { file: config.keystore.masterKeyFile, fromEnv: config.keystore.masterKeyFromEnv });
    const target = await openKeyStore(store, config, master, pino({ level: 'silent' }));
    return {
      store,
      from: new SoftwareKeyStore(store, master),
      to: target.keystore,
      async close() {
        target.close();
        await unlock();
        await store.close();
      },
    };
  } catch (e) {
    await store.close();
    throw e;
  }
}
