// Fault injection, database (issue 11): a database that turns read-only, a second connection holding an
// exclusive lock, and a full disk while the audit entry is written. Every call answers a clean error body
// (503 service unavailable, or 703 when the audit write itself fails) within a bounded time, the process
// stays up, and the node recovers by itself once the fault is gone. Both dialects: SQLite (pragma
// query_only / BEGIN EXCLUSIVE / a RAISE trigger) and PostgreSQL (default_transaction_read_only /
// LOCK TABLE / a trigger raising SQLSTATE 53100 disk_full).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { ON_POSTGRES, rawDb, type RawDb } from './helpers/postgres.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const P256 = '1.2.840.10045.3.1.7';
/** Runs of each scenario (scripts/fault-injection.ts --repeat N sets it). */
const REPEAT = Number(process.env.WARDEN_FAULT_REPEAT ?? 1);
const runs = Array.from({ length: REPEAT }, (_, i) => i + 1);
const SIGN = { sign: true, decrypt: false, unwrap: false, destroyable: true };

type Res = { statusCode: number; body: string; json(): unknown };

function assertError(r: Res, status: number, code: number): void {
  assert.equal(r.statusCode, status, r.body);
  const b = r.json() as { errorCode: unknown; reason: unknown; message: unknown };
  assert.equal(b.errorCode, code, r.body);
  assert.match(String(b.reason), /^res\.error\./);
  assert.equal(typeof b.message, 'string');
}

const sign = (w: TestWarden, label: string) => w.call('POST', '/v1/synchronousSign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken');
const create = (w: TestWarden, label: string) => w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: SIGN });

/** Retries `fn` until it answers `status` (the pool may first meet a connection the fault killed). */
async function eventually(fn: () => Promise<Res>, status: number, tries = 10): Promise<Res> {
  let r = await fn();
  for (let i = 1; i < tries && r.statusCode !== status; i++) {
    await new Promise((res) => setTimeout(res, 200));
    r = await fn();
  }
  return r;
}

/** Ends the Warden pool's connections (PostgreSQL): it reconnects on demand, under the new settings. */
async function dropWardenConnections(db: RawDb): Promise<void> {
  await db.all("select pg_terminate_backend(pid) as t from pg_stat_activity where datname = current_database() and application_name = 'warden' and pid <> pg_backend_pid()");
}

describe('the database turns read-only', () => {
  let w: TestWarden;
  let db: RawDb;
  before(async () => {
    w = await startTestWarden();
    db = await rawDb(w.config.database.url);
    assert.equal((await create(w, 'ro-key')).statusCode, 201);
  });
  after(async () => {
    await db.close();
    await w.close();
  });

  const setReadOnly = async (on: boolean) => {
    if (ON_POSTGRES) {
      const [{ d }] = await db.all<{ d: string }>('select current_database() as d');
      await db.run(on ? `alter database "${d}" set default_transaction_read_only = on` : `alter database "${d}" reset default_transaction_read_only`);
      await dropWardenConnections(db);
    } else {
      // The server's own (only) SQLite connection refuses writes from now on: SQLITE_READONLY.
      await sql.raw(`pragma query_only = ${on ? 'on' : 'off'}`).execute(w.runtime.store.db);
    }
  };

  for (const run of runs) it(`run ${run}/${REPEAT}: writes and audited reads answer 503/503 with the error body; liveness stays up; then it recovers`, async () => {
    await setReadOnly(true);
    try {
      assertError(await eventually(() => create(w, `ro-new-${run}`), 503), 503, 503);
      assertError(await eventually(() => sign(w, 'ro-key'), 503), 503, 503);
      assertError(await eventually(() => w.call('POST', '/v1/key/attributes', { label: 'ro-key' }), 503), 503, 503);
      assert.equal((await w.call('GET', '/health/live', undefined, null)).statusCode, 200);
      const m = await w.call('GET', '/metrics', undefined, null);
      assert.match(m.body, /^warden_http_errors_total\{route="\/v1\/synchronousSign",error_code="503",reason="res.error.service.unavailable"\} [1-9]/m);
    } finally {
      await setReadOnly(false);
    }
    assert.equal((await eventually(() => sign(w, 'ro-key'), 200)).statusCode, 200);
    assert.equal((await eventually(() => create(w, `ro-after-${run}`), 201)).statusCode, 201);
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: `ro-new-${run}` })).statusCode, 404, 'the refused creation left no key');
    const audit = await w.runtime.services.audit.verify();
    assert.ok(audit.ok, String(audit.problem));
  });
});

describe('another connection holds an exclusive lock', () => {
  let w: TestWarden;
  let db: RawDb;
  before(async () => {
    // PostgreSQL: a short statement timeout bounds the wait (SQLite: busy_timeout, 5 s).
    w = await startTestWarden({ env: ON_POSTGRES ? { WARDEN_DATABASE_STATEMENT_TIMEOUT_MS: '1500' } : {} });
    db = await rawDb(w.config.database.url);
    assert.equal((await create(w, 'lock-key')).statusCode, 201);
  });
  after(async () => {
    await db.close();
    await w.close();
  });

  for (const run of runs) it(`run ${run}/${REPEAT}: calls fail with 503/503 within a bounded time instead of hanging, and succeed once the lock is gone`, async () => {
    if (ON_POSTGRES) {
      await db.run('begin');
      await db.run('lock table audit_log in access exclusive mode');
    } else {
      await db.run('begin exclusive');
    }
    try {
      const t0 = Date.now();
      const r = await sign(w, 'lock-key');
      const ms = Date.now() - t0;
      assertError(r, 503, 503);
      assert.ok(ms < 9000, `answered after ${ms} ms`);
      process.stdout.write(`# locked database: 503 after ${ms} ms\n`);
    } finally {
      await db.run(ON_POSTGRES ? 'rollback' : 'commit');
    }
    assert.equal((await eventually(() => sign(w, 'lock-key'), 200)).statusCode, 200);
    const audit = await w.runtime.services.audit.verify();
    assert.ok(audit.ok, String(audit.problem));
  });
});

describe('disk full while the audit entry is written', () => {
  let w: TestWarden;
  let db: RawDb;
  before(async () => {
    w = await startTestWarden();
    db = await rawDb(w.config.database.url);
    assert.equal((await create(w, 'full-key')).statusCode, 201);
  });
  after(async () => {
    await db.close();
    await w.close();
  });

  const diskFull = async (on: boolean) => {
    if (ON_POSTGRES) {
      if (on) {
        await db.run("create or replace function warden_test_disk_full() returns trigger language plpgsql as $$ begin raise exception 'could not extend file: No space left on device' using errcode = '53100'; end $$");
        await db.run('create trigger warden_test_disk_full before insert on audit_log for each row execute function warden_test_disk_full()');
      } else {
        await db.run('drop trigger if exists warden_test_disk_full on audit_log');
      }
    } else if (on) {
      await db.run("create trigger warden_test_disk_full before insert on audit_log begin select raise(abort, 'database or disk is full'); end");
    } else {
      await db.run('drop trigger if exists warden_test_disk_full');
    }
  };

  for (const run of runs) it(`run ${run}/${REPEAT}: a signature is refused with 500/703 (never returned without its audit entry); the chain stays intact; recovery`, async () => {
    const count = async () => Number((await db.all<{ n: number }>('select count(*) as n from audit_log'))[0]?.n);
    const before = await count();
    await diskFull(true);
    try {
      const s = await sign(w, 'full-key');
      assertError(s, 500, 703);
      assert.equal(s.body.includes('"signature"'), false, 'no signature leaves without its audit entry');
      assertError(await w.call('POST', '/v1/key/attributes', { label: 'full-key' }), 500, 703);
      // A state change made before the audit write stays made; the caller is told the outcome is not recorded.
      assertError(await create(w, `full-new-${run}`), 500, 703);
      assert.equal((await w.call('GET', '/health/live', undefined, null)).statusCode, 200);
      assert.equal(await count(), before, 'no entry was written, none was skipped silently');
    } finally {
      await diskFull(false);
    }
    assert.equal((await sign(w, 'full-key')).statusCode, 200);
    assert.equal(await count(), before + 1);
    const audit = await w.runtime.services.audit.verify();
    assert.ok(audit.ok, String(audit.problem));
    const m = await w.call('GET', '/metrics', undefined, null);
    assert.match(m.body, /^warden_http_errors_total\{route="\/v1\/synchronousSign",error_code="703",reason="res.error.io"\} [1-9]\d*$/m);
  });
});
