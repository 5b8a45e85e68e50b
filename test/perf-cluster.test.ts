// `warden serve --workers N` and SQLite written by several processes (issue 10; docs/performance.md),
// functional, not timed: the primary prepares the data directory once and two workers share the port;
// calls that write from both workers at once all succeed, every use is counted and the audit chain
// (written by the primary) stays one valid chain; a killed worker is replaced; SIGTERM in the middle of
// a burst stops everything with exit 0 and every call answered 200 is on disk. Then three
// processes append to one chain and create keys at the same time without a single SQLITE_BUSY.
// warden-test-db: sqlite-only
// (The cluster runs on the embedded SQLite default; several nodes on PostgreSQL are test/postgres*.test.ts.)
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { ROLE_KEYS, startTestWarden, tempDataDir } from './helpers/runtime.ts';
import { REPO_ROOT, runWardenAsync, spawnWarden, waitFor } from './helpers/core-tools.ts';

const P256 = '1.2.840.10045.3.1.7';
const ATTRS = { sign: true, verify: true, decrypt: false, unwrap: false, destroyable: true };

function roleEnv(dataDir: string): Record<string, string> {
  return {
    WARDEN_DATA_DIR: dataDir,
    WARDEN_SERVER_PORT: '0',
    WARDEN_LOGGING_LEVEL: 'info',
    WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
    WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: ROLE_KEYS.keyOperationToken,
    WARDEN_API_AUTHENTICATION_APPROVER_TOKEN: ROLE_KEYS.approverToken,
    WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: ROLE_KEYS.serviceToken,
    WARDEN_API_AUTHENTICATION_APPROVER_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.approverKeyManagementToken,
  };
}

async function post(base: string, url: string, body: unknown, key: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe('warden serve --workers 2', () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('two workers share the port; concurrent writers on both succeed; counts and chain are exact; a killed worker is replaced; SIGTERM exits 0', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    let burstOk = 0;
    const { child, output } = spawnWarden(['serve', '--workers', '2'], roleEnv(dataDir), dataDir);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /Warden [0-9.]+ started/.test(output()) || child.exitCode !== null, 90_000, 'the cluster start');
      assert.equal(child.exitCode, null, output());
      const started = output().split('\n').find((l) => l.includes('started') && l.includes('"workers":2'));
      assert.ok(started, output());
      const port = Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(started)?.[1]);
      assert.ok(port > 0, started);
      const base = `http://127.0.0.1:${port}`;
      // The first-start work ran once, in the primary: one master key message, no per-worker repeat.
      assert.equal(output().split('created a new 256-bit master key').length - 1, 1);

      assert.equal((await post(base, '/v1/key', { label: 'cl-ec', algorithm: 'EC', curveOid: P256, attributes: ATTRS }, ROLE_KEYS.keyManagementToken)).status, 201);
      // Several connections at once: the primary hands them to both workers (round robin).
      const signs = Array.from({ length: 120 }, () =>
        post(base, '/v1/synchronousSign', { signRequest: { payload: randomBytes(32).toString('base64'), signKeyName: 'cl-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, ROLE_KEYS.keyOperationToken));
      const creates = Array.from({ length: 40 }, (_, i) =>
        post(base, '/v1/key', { label: `cl-new-${i}`, algorithm: 'EC', curveOid: P256, attributes: ATTRS }, ROLE_KEYS.keyManagementToken));
      const results = await Promise.all([...signs, ...creates]);
      const bad = results.filter((r, i) => r.status !== (i < 120 ? 200 : 201));
      assert.equal(bad.length, 0, JSON.stringify(bad.slice(0, 3)));
      const workersSeen = new Set([...output().matchAll(/"worker":(\d+),"pid":\d+,"reqId"/g)].map((m) => m[1]));
      assert.equal(workersSeen.size, 2, `requests were served by workers ${[...workersSeen].join(', ')}`);

      // Each worker committed its uses with its own audit batches before answering.
      const attrs = await post(base, '/v1/key/attributes', { label: 'cl-ec' }, ROLE_KEYS.keyManagementToken);
      assert.equal((attrs.json.json as { keyUsageCount: number }).keyUsageCount, 120);

      // A worker that dies is replaced, and the port keeps answering.
      const pids = [...new Set([...output().matchAll(/"worker":\d+,"pid":(\d+)/g)].map((m) => Number(m[1])))];
      assert.equal(pids.length, 2);
      const readyBefore = output().split('worker ready').length;
      process.kill(pids[0], 'SIGKILL');
      await waitFor(() => output().split('worker ready').length > readyBefore, 90_000, 'a replacement worker');
      assert.match(output(), /a worker exited; starting a new one/);
      const again = await Promise.all(Array.from({ length: 10 }, () => fetch(`${base}/v1/versionInfo`, { headers: { 'x-api-key': ROLE_KEYS.serviceToken } })));
      assert.deepEqual(again.map((r) => r.status), Array(10).fill(200));

      // SIGTERM during a burst: every call answered 200 has its entry and its use count on disk.
      const burst = Array.from({ length: 40 }, () =>
        post(base, '/v1/synchronousSign', { signRequest: { payload: randomBytes(32).toString('base64'), signKeyName: 'cl-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, ROLE_KEYS.keyOperationToken).catch(() => null));
      await new Promise((r) => setTimeout(r, 30));
      child.kill('SIGTERM');
      burstOk = (await Promise.all(burst)).filter((r) => r?.status === 200).length;
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output());
    assert.match(output(), /shutting down: workers finish their in-flight requests/);

    const verify = await runWardenAsync(['audit', 'verify'], roleEnv(dataDir), dataDir);
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);
    const db = new SQLite(path.join(dataDir, 'warden.db'), { readonly: true });
    try {
      const n = (route: string) => (db.prepare(`select count(*) as n from audit_log where route = ? and outcome = 'success'`).get(route) as { n: number }).n;
      console.log(`# ${burstOk} of 40 calls of the shutdown burst answered 200`);
      assert.equal(n('/v1/synchronousSign'), 120 + burstOk);
      assert.equal(n('/v1/key'), 41);
      assert.equal((db.prepare('select use_count from keys where label = ?').get('cl-ec') as { use_count: number }).use_count, 120 + burstOk);
    } finally {
      db.close();
    }
  });

  it('refuses --workers values that are not 1..256 and an in-memory database with several workers', async () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    for (const v of ['0', 'two', '257', '-1']) {
      const r = await runWardenAsync(['serve', '--workers', v], roleEnv(dataDir), dataDir);
      assert.equal(r.status, 1, v);
      assert.match(r.stderr, /--workers must be a whole number from 1 to 256/, v);
    }
    const mem = await runWardenAsync(['serve', '--workers', '2'], { ...roleEnv(dataDir), WARDEN_DATABASE_URL: 'sqlite::memory:' }, dataDir);
    assert.equal(mem.status, 1);
    assert.match(mem.stderr, /in-memory database cannot be shared/);
  });
});

const CHILD = `
import { loadConfig } from ${JSON.stringify(path.join(REPO_ROOT, 'src/config/load.ts'))};
import { createLogger, openRuntime } from ${JSON.stringify(path.join(REPO_ROOT, 'src/server/boot.ts'))};
const [dataDir, name, go] = process.argv.slice(2);
const cfg = loadConfig({ env: { WARDEN_DATA_DIR: dataDir, WARDEN_API_AUTHENTICATION_ENABLED: 'false' }, cwd: dataDir });
const rt = await openRuntime(cfg, createLogger({ ...cfg, logging: { level: 'silent' } }));
const { audit, keystore } = rt.services;
const family = (await import(${JSON.stringify(path.join(REPO_ROOT, 'src/crypto/registry.ts'))})).familyFor('EC');
const { resolveAttributes } = await import(${JSON.stringify(path.join(REPO_ROOT, 'src/api/wire.ts'))});
const params = family.resolve({ curveOid: '${P256}' });
const attributes = resolveAttributes({ sign: true }, { generated: true, symmetric: false, algorithm: 'EC' });
// Start together: wait for the go file the parent writes once every child is ready.
const { existsSync } = await import('node:fs');
process.stdout.write('ready\\n');
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 5));
let failures = 0;
const errors = [];
for (let round = 0; round < 10; round++) {
  const work = [];
  for (let i = 0; i < 15; i++) work.push(audit.append({ action: 'multi-process', outcome: 'success', details: { name, round, i } }));
  work.push(keystore.create({ label: name + '-' + round, family, params, attributes, password: null, creation: 'generated' }));
  work.push(keystore.use('shared', null, 'sign', () => null));
  for (const r of await Promise.allSettled(work)) if (r.status === 'rejected') { failures++; errors.push(String(r.reason)); }
}
await rt.close();
process.stdout.write(JSON.stringify({ failures, errors: errors.slice(0, 3) }) + '\\n');
`;

describe('SQLite written by several processes at once', () => {
  it('three processes append to one chain, create keys and count uses concurrently: no SQLITE_BUSY, chain valid, counts exact', async () => {
    const dataDir = tempDataDir();
    try {
      const w = await startTestWarden({ dataDir });
      assert.equal((await w.call('POST', '/v1/key', { label: 'shared', algorithm: 'EC', curveOid: P256, attributes: ATTRS })).statusCode, 201);
      await w.close(false);
      const script = path.join(dataDir, 'child.mts');
      writeFileSync(script, CHILD);
      const go = path.join(dataDir, 'go');
      const children = ['p1', 'p2', 'p3'].map((name) => {
        const c = spawn(process.execPath, ['--import', 'tsx', script, dataDir, name, go], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        const done = new Promise<number | null>((resolve) => c.once('exit', resolve));
        return { out: () => out, err: () => err, done, c };
      });
      await waitFor(() => children.every((c) => c.out().includes('ready') || c.c.exitCode !== null), 90_000, 'the children to open the store');
      writeFileSync(go, '');
      const codes = await Promise.all(children.map((c) => c.done));
      for (const [i, c] of children.entries()) {
        assert.equal(codes[i], 0, c.err());
        const last = JSON.parse(c.out().trim().split('\n').pop() as string) as { failures: number; errors: string[] };
        assert.equal(last.failures, 0, last.errors.join('\n'));
      }
      const check = await startTestWarden({ dataDir });
      try {
        const v = await check.runtime.services.audit.verify();
        assert.equal(v.ok, true, v.problem ?? '');
        const rows = await check.runtime.services.audit.query({ limit: 100000 });
        assert.equal(rows.filter((r) => r.action === 'multi-process').length, 3 * 10 * 15);
        assert.equal((await check.runtime.services.keystore.peek('shared'))?.useCount, 30);
        assert.equal((await check.runtime.services.keystore.list()).filter((l) => /^p[123]-\d$/.test(l)).length, 30);
      } finally {
        await check.close(false);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
