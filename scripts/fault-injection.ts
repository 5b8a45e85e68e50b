// Repeat runner of the fault-injection scenarios (issue 11, docs/operations.md):
//   node --import tsx scripts/fault-injection.ts --repeat 20 [--only crash|db|remote] [--db sqlite|postgres]
// runs test/fault-{crash,db,remote}.test.ts with WARDEN_FAULT_REPEAT=N (each scenario N times: SIGKILL
// during key creation and during master-key rotation, read-only / locked database, disk full at the audit
// write, hanging JWKS and OCSP), one file at a time, and prints a pass/fail line per file.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { dropTestDatabases } from '../test/helpers/postgres.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { repeat: { type: 'string', default: '20' }, only: { type: 'string' }, db: { type: 'string', default: 'sqlite' } } });
const repeat = Number(values.repeat);
if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer');
const files = ['crash', 'db', 'remote'].filter((f) => !values.only || values.only === f).map((f) => `test/fault-${f}.test.ts`);

function run(file: string): Promise<{ file: string; code: number; seconds: number; tests: string }> {
  // One tag per file on PostgreSQL: the databases a killed scenario left behind are dropped afterwards.
  const tag = `f${process.pid}${Date.now().toString(36)}`;
  return new Promise((resolve) => {
    const started = Date.now();
    let out = '';
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', file], {
      cwd: root,
      env: { ...process.env, WARDEN_FAULT_REPEAT: String(repeat), WARDEN_TEST_DB: values.db, WARDEN_TEST_RUN_ID: tag },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
    });
    child.on('exit', (code) => {
      const pass = /ℹ pass (\d+)/.exec(out)?.[1] ?? '?';
      const fail = /ℹ fail (\d+)/.exec(out)?.[1] ?? '?';
      const done = () => resolve({ file, code: code ?? 1, seconds: (Date.now() - started) / 1000, tests: `${pass} passed, ${fail} failed` });
      if (values.db !== 'postgres') return done();
      dropTestDatabases(tag).then((n) => {
        if (n > 0) process.stdout.write(`dropped ${n} database(s) left by ${file}\n`);
      }, (e: Error) => process.stderr.write(`could not drop the databases of ${file}: ${e.message}\n`)).finally(done);
    });
  });
}

const results = [];
for (const f of files) results.push(await run(f));
process.stdout.write(`\n=== fault injection, ${repeat} run(s) per scenario, ${values.db} ===\n`);
for (const r of results) process.stdout.write(`${r.code === 0 ? 'pass' : 'FAIL'}  ${r.file}  ${r.tests}  ${r.seconds.toFixed(0)} s\n`);
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
