#!/usr/bin/env node
// The test runner behind `npm test`: the whole suite on SQLite, then every file that opens a database
// again on PostgreSQL (WARDEN_TEST_DB=postgres: each test runtime gets a throw-away database), so the
// API suite passes on both dialects. Files that never open a store (pure crypto, vectors) would run
// the same code twice and are left out of the second pass. A third pass, PKCS#11, runs the key-management
// and key-operation suites again on SQLite with the PKCS#11 keystore on SoftHSM (WARDEN_TEST_KEYSTORE=pkcs11:
// each test runtime gets a fresh token, test/helpers/softhsm.ts).
//
//   node scripts/run-tests.mjs [--db=both|sqlite|postgres] [--pg-scope=db|all] [--keystore=both|software|pkcs11] [test files…]
//
// test/postgres*.test.ts need PostgreSQL and run in the PostgreSQL pass only. Two markers (a line of
// their own) leave a file out of the PostgreSQL pass:
//   // warden-test-db: sqlite-only   it inspects the SQLite file or runs the CLI on a data directory
//                                    (better: rawDb() of test/helpers/postgres.ts, so it runs on both);
//   // warden-test-db: any           the database plays no part in what it checks (vectors, fuzzing of
//                                    crypto through the API): running it twice costs CPU and finds nothing.
// Files named on the command line run in both passes (unless marked). Without a reachable server the
// PostgreSQL pass is skipped with a warning, except in CI (CI=true), where it fails.
//
// The PKCS#11 pass runs only the files marked (a line of its own)
//   // warden-test-keystore: both    every test holds on the token too; what SoftHSM lacks is asserted
//                                    as refused (611, test/helpers/keystore-under-test.ts), never skipped.
// Files named on the command line join it when marked, or all of them with --keystore=pkcs11. It runs
// unless --db=postgres or --keystore=software; without SoftHSM it is skipped with a warning (CI: fails).
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const args = process.argv.slice(2);
const opt = (name, fallback) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback;
const db = opt('db', 'both');
const pgScope = opt('pg-scope', 'db');
const keystore = opt('keystore', 'both');
const explicit = args.filter((a) => !a.startsWith('--'));
const adminUrl = process.env.WARDEN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ci = process.env.CI === 'true';

if (!['both', 'sqlite', 'postgres'].includes(db) || !['db', 'all'].includes(pgScope) || !['both', 'software', 'pkcs11'].includes(keystore)) {
  console.error('usage: run-tests.mjs [--db=both|sqlite|postgres] [--pg-scope=db|all] [--keystore=both|software|pkcs11] [files…]');
  process.exit(2);
}

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(path.relative(root, p));
  }
  return out.sort();
}

// Listed again for each pass: a file may come or go while the first pass runs (several people share the tree).
const listTests = () => (explicit.length > 0 ? explicit : findTests(path.join(root, 'test')));
const pgOnly = (f) => /(^|\/)postgres[^/]*\.test\.ts$/.test(f);
const textOf = (f) => {
  try {
    return readFileSync(path.resolve(root, f), 'utf8');
  } catch {
    return '';
  }
};
const sqliteOnly = (f) => /^\/\/ warden-test-db: (sqlite-only|any)\s*$/m.test(textOf(f));
const bothKeystores = (f) => /^\/\/ warden-test-keystore: both\s*$/m.test(textOf(f));
const softhsmInstalled = () => ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so', '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so', process.env.WARDEN_TEST_SOFTHSM_LIBRARY]
  .some((p) => p && existsSync(p));
// A file touches the database if it starts a runtime or opens a store itself.
const touchesDb = (f) => /helpers\/runtime|src\/store\/|src\/server\/boot|openRuntime|openStore|startTestWarden/.test(textOf(f));

/** CPU seconds (user + system) of this process's waited-for children, from /proc (Linux); null elsewhere. */
function childCpuSeconds() {
  try {
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    // After "pid (comm) ": state is field 3, so cutime/cstime (fields 16/17) are at 13/14, in clock ticks.
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return null;
  }
}

let current = null;
let runTag = null;

function run(label, files, env) {
  return new Promise((resolve) => {
    if (files.length === 0) return resolve({ label, code: 0, seconds: 0, files: 0 });
    const started = Date.now();
    const cpu0 = childCpuSeconds();
    console.log(`\n=== ${label}: ${files.length} test file(s) ===\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-force-exit', '--test-timeout=600000', '--test-concurrency=2', '--test-reporter=spec', ...files], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    current = child;
    child.on('exit', (code, signal) => {
      const cpu1 = childCpuSeconds();
      resolve({ label, code: code ?? (signal ? 1 : 0), seconds: (Date.now() - started) / 1000, cpu: cpu0 === null || cpu1 === null ? null : cpu1 - cpu0, files: files.length });
    });
  });
}

async function pgReachable() {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function dropRunDatabases(tag) {
  const c = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5000 });
  await c.connect();
  try {
    const { rows } = await c.query('select datname from pg_database where starts_with(datname, $1)', [`warden_test_${tag}_`]);
    for (const r of rows) await c.query(`drop database if exists "${r.datname}" with (force)`);
    return rows.length;
  } finally {
    await c.end();
  }
}

// Stopped from outside (CI timeout, ^C): stop the test process, then drop this run's databases.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    current?.kill(signal);
    const cleanup = runTag ? dropRunDatabases(runTag).catch(() => 0) : Promise.resolve(0);
    void cleanup.finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  });
}

const results = [];
if (db !== 'postgres' && keystore !== 'pkcs11') {
  results.push(await run('SQLite', listTests().filter((f) => !pgOnly(f)), { WARDEN_TEST_DB: 'sqlite', WARDEN_TEST_KEYSTORE: 'software' }));
}
if (db !== 'sqlite' && keystore !== 'pkcs11') {
  if (await pgReachable()) {
    const tag = `r${process.pid}${Date.now().toString(36)}`;
    runTag = tag;
    const wanted = (f) => pgOnly(f) || (!sqliteOnly(f) && (explicit.length > 0 || pgScope === 'all' || touchesDb(f)));
    const files = listTests().filter(wanted);
    results.push(await run('PostgreSQL', files, { WARDEN_TEST_DB: 'postgres', WARDEN_TEST_RUN_ID: tag, WARDEN_TEST_KEYSTORE: 'software' }));
    const left = await dropRunDatabases(tag).catch((e) => {
      console.error(`could not drop this run's test databases: ${e.message}`);
      return 0;
    });
    if (left > 0) console.log(`dropped ${left} test database(s) a test left behind`);
  } else if (ci) {
    console.error(`PostgreSQL at ${new URL(adminUrl).host} is not reachable: the PostgreSQL pass cannot run (CI=true)`);
    results.push({ label: 'PostgreSQL', code: 1, seconds: 0, files: 0 });
  } else {
    console.warn(`warning: PostgreSQL at ${new URL(adminUrl).host} is not reachable; skipping the PostgreSQL pass (scripts/ensure-postgres.sh starts a local one)`);
  }
}

if (db !== 'postgres' && keystore !== 'software') {
  const files = listTests().filter((f) => !pgOnly(f) && (bothKeystores(f) || (explicit.length > 0 && keystore === 'pkcs11')));
  if (softhsmInstalled()) {
    results.push(await run('PKCS#11', files, { WARDEN_TEST_DB: 'sqlite', WARDEN_TEST_KEYSTORE: 'pkcs11' }));
  } else if (ci) {
    console.error('SoftHSM (libsofthsm2.so) is not installed: the PKCS#11 pass cannot run (CI=true)');
    results.push({ label: 'PKCS#11', code: 1, seconds: 0, files: 0 });
  } else {
    console.warn('warning: SoftHSM is not installed; skipping the PKCS#11 pass (scripts/ensure-system-deps.sh installs it)');
  }
}

console.log('\n=== summary ===');
for (const r of results) {
  const cpu = typeof r.cpu === 'number' ? `, ${r.cpu.toFixed(0)} s CPU` : '';
  console.log(`${r.label.padEnd(10)} ${r.code === 0 ? 'pass' : 'FAIL'}  ${r.files} file(s)  ${r.seconds.toFixed(1)} s wall${cpu}`);
}
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
