// PostgreSQL for tests: a throw-away database per test runtime (warden_test_<run>_<random>) on the
// server of WARDEN_TEST_PG_URL (default: the local cluster scripts/ensure-postgres.sh starts), and a
// TCP proxy in front of it that a test can cut, to see the node answer 503 and recover.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.WARDEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** Databases of one `npm test` run share this tag, so the runner can drop leftovers of crashed files. */
export const PG_RUN_TAG = (process.env.WARDEN_TEST_RUN_ID ?? `p${process.pid}`).replace(/[^a-z0-9]/gi, '').toLowerCase().slice(0, 20);

export function databaseUrl(name: string, base = PG_ADMIN_URL): string {
  const u = new URL(base);
  u.pathname = `/${name}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

let availability: Promise<boolean> | null = null;

/** Whether the test server answers (cached per process). */
export function pgAvailable(): Promise<boolean> {
  availability ??= admin(async (c) => {
    await c.query('select 1');
    return true;
  }).catch(() => false);
  return availability;
}

export interface TestDatabase {
  name: string;
  url: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `warden_test_${PG_RUN_TAG}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`create database ${name}`));
  return { name, url: databaseUrl(name), drop: () => dropTestDatabase(name) };
}

export async function dropTestDatabase(name: string): Promise<void> {
  if (!/^warden_test_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to drop ${name}: not a test database`);
  // WITH (FORCE), PostgreSQL 13+: a pool the test forgot to close must not keep the database alive.
  await admin((c) => c.query(`drop database if exists ${name} with (force)`));
}

/** Drops every test database whose name starts with warden_test_<tag>_ (a run's leftovers). */
export async function dropTestDatabases(tag: string): Promise<number> {
  const prefix = `warden_test_${tag}_`;
  const rows = await admin(async (c) => (await c.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [prefix])).rows);
  for (const r of rows) await dropTestDatabase(r.datname);
  return rows.length;
}

/**
 * A TCP proxy on 127.0.0.1:<random port> to the test server. Modes: `pass` forwards; `down` resets
 * every open and new connection (server crashed or network cut: ECONNRESET, "Connection terminated");
 * `blackhole` accepts and forwards nothing (a hung link: connect and read timeouts).
 */
export interface PgProxy {
  port: number;
  /** database.url through the proxy. */
  urlFor(name: string): string;
  setMode(mode: 'pass' | 'down' | 'blackhole'): void;
  close(): Promise<void>;
}

export async function startPgProxy(): Promise<PgProxy> {
  const target = new URL(PG_ADMIN_URL);
  const targetPort = Number(target.port || 5432);
  const targetHost = target.hostname;
  let mode: 'pass' | 'down' | 'blackhole' = 'pass';
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (mode === 'down') {
      client.resetAndDestroy();
      return;
    }
    if (mode === 'blackhole') return;
    const upstream = net.connect(targetPort, targetHost);
    open.add(upstream);
    upstream.on('close', () => open.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    urlFor(name) {
      const u = new URL(PG_ADMIN_URL);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      u.pathname = `/${name}`;
      return u.toString();
    },
    setMode(next) {
      mode = next;
      if (next === 'pass') return;
      for (const s of open) {
        if (next === 'down') s.resetAndDestroy();
        else s.pause();
      }
      // A paused socket still has its pipe: drop the links so nothing flows while blackholed.
      if (next === 'blackhole') for (const s of open) s.unpipe();
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Test databases of runtimes started by startTestWarden, by data directory (a restart on the same directory reuses its database). */
const byDataDir = new Map<string, string>();

/**
 * With WARDEN_TEST_DB=postgres, the environment that points a test runtime at its own throw-away
 * database (created on first use of dataDir), and how to drop it. Null on SQLite, or when the test
 * chose a database itself.
 */
export async function testPostgresFor(dataDir: string, env: Record<string, string> | undefined): Promise<{ env: Record<string, string>; drop(): Promise<void> } | null> {
  if (process.env.WARDEN_TEST_DB !== 'postgres' || env?.WARDEN_DATABASE_URL) return null;
  let name = byDataDir.get(dataDir);
  if (!name) {
    name = (await createTestDatabase()).name;
    byDataDir.set(dataDir, name);
  }
  const chosen = name;
  return {
    // A small pool: two test files run at once, each may hold several runtimes (max_connections 100).
    env: { WARDEN_DATABASE_URL: databaseUrl(chosen), WARDEN_DATABASE_POOL_SIZE: '4' },
    async drop() {
      byDataDir.delete(dataDir);
      await dropTestDatabase(chosen);
    },
  };
}

/** True in the PostgreSQL pass of `npm test` (WARDEN_TEST_DB=postgres). */
export const ON_POSTGRES = process.env.WARDEN_TEST_DB === 'postgres';

/** SQL straight on a runtime's database, for tests that edit rows behind Warden's back. */
export interface RawDb {
  /** Rows of a query; `?` placeholders on both dialects. */
  all<T extends Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement; resolves with the number of rows it changed. */
  run(text: string, params?: unknown[]): Promise<number>;
  close(): Promise<void>;
}

/**
 * Opens database.url (`w.config.database.url`) directly, SQLite or PostgreSQL, so a tamper test runs
 * in both passes. Placeholders are `?` (turned into $1, $2… for PostgreSQL; keep `?` out of literals).
 */
export async function rawDb(url: string): Promise<RawDb> {
  if (url.startsWith('sqlite:')) {
    const { default: SQLite } = await import('better-sqlite3');
    const db = new SQLite(url.slice('sqlite:'.length));
    return {
      all: async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) => db.prepare(text).all(...params) as T[],
      run: async (text, params = []) => db.prepare(text).run(...params).changes,
      close: async () => void db.close(),
    };
  }
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const numbered = (text: string) => {
    let i = 0;
    return text.replace(/\?/g, () => `$${++i}`);
  };
  return {
    all: async <T extends Record<string, unknown>>(text: string, params: unknown[] = []) => (await c.query(numbered(text), params)).rows as T[],
    run: async (text, params = []) => (await c.query(numbered(text), params)).rowCount ?? 0,
    close: () => c.end(),
  };
}
