// Opens the database named by database.url and brings its schema up to date. SQLite (better-sqlite3 v12,
// WAL) is the embedded default; PostgreSQL (pg Pool) is for several nodes sharing one database. The
// dialect is chosen here only, repositories are dialect-neutral.
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type PostgresPool, type PostgresPoolClient, type SqliteDatabase, type SqliteDialectConfig } from 'kysely';
import { Migrator, type MigrationProvider } from 'kysely/migration';
import type { Database } from './schema.ts';
import { migrations } from './migrations/index.ts';
import { isConnectionLevelError } from './errors.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /**
   * SQLite: the one connection Kysely runs on, for the few statements of the hot path that run per row
   * (the audit insert). A statement on it joins whatever transaction Kysely has open on it.
   */
  sqlite?: SQLite.Database;
  /**
   * Takes a database-wide named lock and resolves with its release once held: nodes starting together
   * on one database initialise it one at a time. PostgreSQL: a session advisory lock on a connection
   * of its own (outside the pool, so the holder can still query), freed by the server if the node dies.
   * SQLite serves one node: a no-op. close() frees locks still held.
   */
  lock(name: string): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Pool settings (config `database.*`); SQLite ignores them. */
export interface StoreOptions {
  /** Connections per node; every node opens up to this many, so nodes × poolSize must fit max_connections. */
  poolSize?: number;
  /** Server-side statement_timeout; 0 = none. A client-side read timeout a little above it catches dead links. */
  statementTimeoutMs?: number;
  /** How long to wait for a new connection or a free pooled one before the call fails with 503. */
  connectionTimeoutMs?: number;
  /** Idle connections are closed after this long. */
  idleTimeoutMs?: number;
  /** Told about connection errors the pool handled on its own (idle connection lost, …). */
  onBackgroundError?: (err: Error) => void;
}

export const STORE_DEFAULTS = { poolSize: 10, statementTimeoutMs: 30000, connectionTimeoutMs: 5000, idleTimeoutMs: 30000 } as const;

export function dialectOf(url: string): Dialect {
  if (url.startsWith('sqlite:')) return 'sqlite';
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return 'postgres';
  throw new Error(`database.url: unsupported scheme ${url.split(':')[0]}: (use sqlite: or postgres://)`);
}

export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  return dialectOf(url) === 'postgres' ? openPostgres(url, options) : openSqlite(url);
}

async function openSqlite(url: string): Promise<Store> {
  const file = url.slice('sqlite:'.length);
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(file);
  if (file !== ':memory:') chmodSync(file, 0o600);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_MS}`);
  const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: cachedStatements(sqlite) }, sqlite) });
  await migrate(db, 'sqlite');
  return {
    db,
    dialect: 'sqlite',
    sqlite,
    lock: async () => async () => undefined,
    async close() {
      await db.destroy();
    },
  };
}

/**
 * Kysely prepares every query anew, and better-sqlite3 compiles SQL on prepare: on the hot path (one key
 * read and one audit batch per call) that compile was a visible share of the CPU. Statements are kept by
 * their SQL text, a bounded number, like server-side prepared statements; one still iterating (busy)
 * is not handed out twice.
 */
function cachedStatements(sqlite: SQLite.Database, max = 256): SqliteDatabase {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(text: string) {
      const known = cache.get(text);
      if (known && !known.busy) return known;
      const stmt = sqlite.prepare(text);
      if (!known) {
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
        cache.set(text, stmt);
      }
      return stmt;
    },
  };
}

/** How long a statement or transaction waits for another process's write lock before SQLITE_BUSY. */
const SQLITE_BUSY_MS = 5000;
const BEGIN_IMMEDIATE = CompiledQuery.raw('begin immediate');

/**
 * Several processes write one SQLite file (`warden serve --workers N`). A deferred BEGIN takes the write
 * lock only at its first write; if another process committed after this transaction's first read, that
 * write fails at once with SQLITE_BUSY (the snapshot is stale, busy_timeout cannot help). BEGIN IMMEDIATE
 * takes the write lock up front, so concurrent writers queue instead of failing. The wait for it is
 * asynchronous: SQLite's own busy handler sleeps in the calling thread (the event loop) in steps of up
 * to 100 ms, while another process's commit holds the lock for one fsync (a few ms); here the event loop
 * keeps serving and the lock is tried again after 1–8 ms.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  constructor(
    cfg: SqliteDialectConfig,
    private readonly sqlite: SQLite.Database,
  ) {
    super(cfg);
  }

  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    const deadline = performance.now() + SQLITE_BUSY_MS;
    // The connection is this transaction's until it ends (Kysely's mutex): nothing else runs with the
    // busy handler off.
    this.sqlite.pragma('busy_timeout = 0');
    try {
      for (let wait = 1; ; wait = Math.min(wait * 2, 8)) {
        try {
          await connection.executeQuery(BEGIN_IMMEDIATE);
          return;
        } catch (e) {
          if ((e as { code?: string }).code !== 'SQLITE_BUSY' || performance.now() > deadline) throw e;
        }
        await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random())));
      }
    } finally {
      this.sqlite.pragma(`busy_timeout = ${SQLITE_BUSY_MS}`);
    }
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  constructor(
    private readonly cfg: SqliteDialectConfig,
    private readonly sqlite: SQLite.Database,
  ) {
    super(cfg);
  }

  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.cfg, this.sqlite);
  }
}

async function openPostgres(url: string, options: StoreOptions): Promise<Store> {
  const o = { ...STORE_DEFAULTS, ...options };
  const pool = new pg.Pool({
    connectionString: url,
    max: o.poolSize,
    connectionTimeoutMillis: o.connectionTimeoutMs,
    idleTimeoutMillis: o.idleTimeoutMs,
    keepAlive: true,
    // Idle pooled connections do not hold the event loop open: a CLI command (or a runtime someone
    // forgot to close) ends when its work does; the HTTP listener keeps a server alive.
    allowExitOnIdle: true,
    application_name: 'warden',
    ...(o.statementTimeoutMs > 0
      ? { statement_timeout: o.statementTimeoutMs, query_timeout: o.statementTimeoutMs + Math.max(1000, o.connectionTimeoutMs) }
      : {}),
  });
  // An idle connection that dies (server restart, network cut) is dropped by the pool; without a
  // listener the 'error' event would end the process instead of letting the node ride it out.
  pool.on('error', (err) => options.onBackgroundError?.(err));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: guardedPool(pool, options.onBackgroundError) }) });
  try {
    await migrate(db, 'postgres');
  } catch (e) {
    await db.destroy();
    throw e;
  }
  const held = new Set<pg.Client>();
  return {
    db,
    dialect: 'postgres',
    async lock(name) {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: o.connectionTimeoutMs, application_name: 'warden-lock' });
      client.on('error', (err) => options.onBackgroundError?.(err));
      await client.connect();
      held.add(client);
      try {
        // A holder that hangs (not dies) would block every other start forever: give up after a minute.
        await client.query(`set lock_timeout = '60s'`);
        await client.query('select pg_advisory_lock($1::bigint)', [lockId(name)]);
      } catch (e) {
        held.delete(client);
        await client.end().catch(() => undefined);
        throw e;
      }
      let released = false;
      return async () => {
        if (released) return;
        released = true;
        held.delete(client);
        // Ending the session frees its advisory locks; no explicit unlock needed.
        await client.end().catch(() => undefined);
      };
    },
    async close() {
      await Promise.all([...held].map((c) => c.end().catch(() => undefined)));
      held.clear();
      await db.destroy();
    },
  };
}

/** A signed 64-bit advisory lock id for a name (first 8 bytes of SHA-256("warden/lock/" + name)). */
export function lockId(name: string): string {
  return createHash('sha256').update(`warden/lock/${name}`).digest().readBigInt64BE(0).toString();
}

/**
 * The pg Pool as Kysely sees it, with one repair: a connection that failed below SQL (read timeout,
 * reset) is destroyed on release instead of going back to the pool, where a half-read reply would
 * poison the next query. A checked-out client also gets an 'error' listener, which pg-pool only
 * attaches to idle ones: a link lost between two statements of a transaction must not crash the node.
 */
function guardedPool(pool: pg.Pool, onError?: (err: Error) => void): PostgresPool {
  const wrapped = new WeakMap<pg.PoolClient, { client: PostgresPoolClient; broken: { v: boolean } }>();
  const wrap = (client: pg.PoolClient) => {
    const known = wrapped.get(client);
    if (known) return known.client;
    const broken = { v: false };
    client.on('error', (err) => {
      broken.v = true;
      onError?.(err);
    });
    const query = (...args: unknown[]): unknown => {
      const r = (client.query as (...a: unknown[]) => unknown).apply(client, args);
      if (r instanceof Promise) {
        return r.catch((e: unknown) => {
          if (isConnectionLevelError(e)) broken.v = true;
          throw e;
        });
      }
      return r;
    };
    const facade = {
      query: query as PostgresPoolClient['query'],
      release: (destroy?: boolean) => client.release(destroy === true || broken.v),
      get processID() {
        return (client as unknown as { processID?: number }).processID;
      },
    } satisfies PostgresPoolClient & { processID?: number };
    wrapped.set(client, { client: facade, broken });
    return facade;
  };
  return {
    connect: async () => wrap(await pool.connect()),
    end: () => pool.end(),
    options: pool.options,
  };
}

async function migrate(db: Kysely<Database>, dialect: Dialect): Promise<void> {
  // On PostgreSQL the Migrator holds an advisory lock, so nodes starting together migrate once.
  const provider: MigrationProvider = { getMigrations: async () => migrations(dialect) };
  const { error, results } = await new Migrator({ db, provider }).migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`database migration${failed ? ` ${failed}` : ''} failed: ${(error as Error).message}`, { cause: error });
  }
}
