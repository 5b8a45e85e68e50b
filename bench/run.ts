// `npm run bench` (issue 10; docs/performance.md): Warden under `serve --workers 2` in its own process
// tree, driven over loopback by wrk (when installed) or autocannon, next to the raw node:crypto rate of
// the same operation measured in the same run. Prints one table and the targets, writes
// bench/results/<timestamp>.json and bench/results/latest.svg.
//   npm run bench [-- --seconds 3 --connections 32 --workers 2 --keys 100000 --raw-seconds 1 --profile DIR]
// The load average sits next to every row: on a shared machine the numbers are only as quiet as it is.
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportSPKI, generateKeyPair as joseKeyPair, SignJWT } from 'jose';
import { loadConfig } from '../src/config/load.ts';
import { createLogger, openRuntime } from '../src/server/boot.ts';
import { familyFor } from '../src/crypto/registry.ts';
import { resolveAttributes } from '../src/api/wire.ts';
import { SoftwareKeyStore } from '../src/keystore/software/keystore.ts';
import type { Store } from '../src/store/db.ts';
import { createPki } from '../test/helpers/pki.ts';
import { load, wrkAvailable, type LoadRequest, type LoadResult } from './lib/load.ts';
import { rawAesGcm, rawHmac, rawSign, rawVerify, type RawRate } from './lib/raw.ts';
import { startServer, type Server } from './lib/server.ts';
import { barChart } from './lib/svg.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const argText = (name: string): string | null => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
};
const SECONDS = arg('seconds', 3);
const CONNECTIONS = arg('connections', 32);
const WORKERS = arg('workers', 2);
const BIG_STORE = arg('keys', 100_000);
const RAW_SECONDS = arg('raw-seconds', 1);
const PROFILE = argText('profile');
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

const KEYS = { km: 'bench-km-key', ko: 'bench-ko-key', sv: 'bench-sv-key', ap: 'bench-ap-key', am: 'bench-am-key' };
const P256 = '1.2.840.10045.3.1.7';

interface Row {
  name: string;
  auth: string;
  store: number;
  result: LoadResult;
  raw: RawRate | null;
  load: number;
}

const rows: Row[] = [];

async function measure(server: Server, name: string, auth: string, store: number, request: LoadRequest, raw: (() => Promise<RawRate>) | null, tls?: { ca: string; cert?: string; key?: string }): Promise<Row> {
  const rawRate = raw ? await raw() : null;
  // Warm-up: JIT, the unsealed-key cache of every worker, TLS sessions.
  await load({ base: server.url, request, seconds: 1, connections: CONNECTIONS, ...(tls ? { tls } : {}) });
  const loadBefore = loadavg()[0];
  const result = await load({ base: server.url, request, seconds: SECONDS, connections: CONNECTIONS, ...(tls ? { tls } : {}) });
  // A row with failed calls is kept, with the count; more than 1 % makes the run invalid.
  if (result.bad > Math.max(1, result.total * 0.01)) throw new Error(`${name} (${auth}): ${result.bad} of ${result.total} calls failed (non-2xx or socket errors)`);
  const row = { name, auth, store, result, raw: rawRate, load: Math.max(loadBefore, loadavg()[0]) };
  rows.push(row);
  const ratio = rawRate ? ` = ${((result.rps / rawRate.async) * 100).toFixed(0)} % of raw async` : '';
  process.stderr.write(`  ${name.padEnd(34)} ${auth.padEnd(12)} ${result.rps.toFixed(0).padStart(6)} req/s  p50 ${result.p50} ms  p99 ${result.p99} ms${ratio}  (load ${row.load.toFixed(1)})\n`);
  return row;
}

const json = (v: unknown) => JSON.stringify(v);

async function call(base: string, url: string, body: unknown, key: string): Promise<Record<string, unknown>> {
  const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
  const out = (await r.json()) as Record<string, unknown>;
  if (r.status >= 300) throw new Error(`${url}: ${r.status} ${JSON.stringify(out)}`);
  return out;
}

interface Material {
  rsa: { privateKey: KeyObject; publicKey: KeyObject };
  ec: { privateKey: KeyObject; publicKey: KeyObject };
  ed: { privateKey: KeyObject; publicKey: KeyObject };
  aes: Buffer;
  hmac: Buffer;
}

const pkcs8 = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'der' }).toString('base64');
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');

/** The bench keys, imported with material the raw columns use too (same key sizes, same curves). */
async function importKeys(base: string, m: Material): Promise<void> {
  const sign = { sign: true, verify: true, decrypt: false, unwrap: false };
  await call(base, '/v1/key/import/plain', { label: 'rsa', algorithm: 'RSA', privateKey: pkcs8(m.rsa.privateKey), publicKey: spki(m.rsa.publicKey), attributes: sign }, KEYS.km);
  await call(base, '/v1/key/import/plain', { label: 'ec', algorithm: 'EC', privateKey: pkcs8(m.ec.privateKey), publicKey: spki(m.ec.publicKey), attributes: sign }, KEYS.km);
  await call(base, '/v1/key/import/plain', { label: 'ed', algorithm: 'ED', privateKey: pkcs8(m.ed.privateKey), publicKey: spki(m.ed.publicKey), attributes: sign }, KEYS.km);
  await call(base, '/v1/key/import/plain', { label: 'aes', algorithm: 'AES', secretKey: m.aes.toString('base64'), attributes: { encrypt: true, decrypt: true, sign: false, unwrap: false } }, KEYS.km);
  await call(base, '/v1/key/import/plain', { label: 'hmac', algorithm: 'HMACSHA256', secretKey: m.hmac.toString('base64'), attributes: sign }, KEYS.km);
  // A key with a policy whose rules are all empty: /v1/sign creates a request that executes at once.
  await call(base, '/v1/key', { label: 'ska', algorithm: 'EC', curveOid: P256, attributes: { sign: true, decrypt: false, unwrap: false }, policy: { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null, keyStatus: { blocked: false } } }, KEYS.km);
}

/**
 * Grows the store to `total` keys: EC P-256 keys inserted through the keystore (sealed like any other)
 * inside one transaction, straight into the database while the server runs, instead of 100,000 HTTP calls.
 */
async function growStore(dataDir: string, total: number): Promise<{ labels: string[]; seconds: number }> {
  const started = performance.now();
  const cfg = loadConfig({ env: { WARDEN_DATA_DIR: dataDir, WARDEN_API_AUTHENTICATION_ENABLED: 'false', WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' }, cwd: dataDir });
  const rt = await openRuntime(cfg, createLogger({ ...cfg, logging: { level: 'silent' } }));
  const family = familyFor('EC');
  const params = family.resolve({ curveOid: P256 });
  const attributes = resolveAttributes({ sign: true, decrypt: false, unwrap: false }, { generated: true, symmetric: false, algorithm: 'EC' });
  const existing = (await rt.services.keystore.list()).length;
  const labels: string[] = [];
  try {
    await rt.store.db.transaction().execute(async (trx) => {
      const keystore = new SoftwareKeyStore({ ...rt.store, db: trx } as Store, rt.master);
      for (let i = 0; existing + i < total; i++) {
        const label = `bulk-${String(i).padStart(6, '0')}`;
        const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
        await keystore.create({
          label, family, params, attributes, password: null, creation: 'generated',
          material: { privateKey: privateKey.export({ type: 'pkcs8', format: 'der' }), publicKey: publicKey.export({ type: 'spki', format: 'der' }) },
        });
        labels.push(label);
      }
    });
  } finally {
    await rt.close();
  }
  return { labels, seconds: (performance.now() - started) / 1000 };
}

function table(): string {
  const header = ['operation', 'auth', 'keys in store', 'req/s', 'p50 ms', 'p99 ms', 'raw sync/s', 'raw async/s', 'Warden / raw async', 'failed', 'load avg'];
  const body = rows.map((r) => [
    r.name, r.auth, String(r.store), r.result.rps.toFixed(0), String(r.result.p50), String(r.result.p99),
    r.raw ? r.raw.sync.toFixed(0) : '–', r.raw ? r.raw.async.toFixed(0) : '–',
    r.raw ? `${((r.result.rps / r.raw.async) * 100).toFixed(0)} %` : '–', String(r.result.bad), r.load.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w, i) => (i <= 1 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...body.map(line)].join('\n');
}

interface Target {
  name: string;
  value: number;
  goal: string;
  pass: boolean;
}

function find(name: string, auth: string, store?: number): Row | undefined {
  return rows.find((r) => r.name === name && r.auth === auth && (store === undefined || r.store === store));
}

function targets(smallStore: number, bigStore: number): Target[] {
  const out: Target[] = [];
  const add = (name: string, value: number | null, goal: string, pass: (v: number) => boolean) => {
    if (value !== null && Number.isFinite(value)) out.push({ name, value, goal, pass: pass(value) });
  };
  const rsa = find('sign RSA-2048 PKCS#1 SHA-256', 'API key');
  add('RSA-2048 sign / raw async node:crypto', rsa?.raw ? rsa.result.rps / rsa.raw.async : null, '≥ 0.80', (v) => v >= 0.8);
  const ec = find('sign ECDSA P-256 SHA-256', 'API key', smallStore);
  const get = find('GET /v1/versionInfo', 'API key');
  add('ECDSA P-256 sign / bare GET', ec && get ? ec.result.rps / get.result.rps : null, '≥ 0.50', (v) => v >= 0.5);
  const getNone = find('GET /v1/versionInfo', 'none');
  const getJwt = find('GET /v1/versionInfo', 'JWT');
  add('API key cost vs no auth (bare GET)', get && getNone ? 1 - get.result.rps / getNone.result.rps : null, '≤ 0.05', (v) => v <= 0.05);
  add('JWT cost vs no auth (bare GET)', getJwt && getNone ? 1 - getJwt.result.rps / getNone.result.rps : null, '≤ 0.10', (v) => v <= 0.1);
  const ecNone = find('sign ECDSA P-256 SHA-256', 'none');
  const ecJwt = find('sign ECDSA P-256 SHA-256', 'JWT');
  add('API key cost vs no auth (ECDSA sign)', ec && ecNone ? 1 - ec.result.rps / ecNone.result.rps : null, '≤ 0.05', (v) => v <= 0.05);
  add('JWT cost vs no auth (ECDSA sign)', ecJwt && ecNone ? 1 - ecJwt.result.rps / ecNone.result.rps : null, '≤ 0.10', (v) => v <= 0.1);
  const big = find('sign ECDSA P-256 SHA-256', 'API key', bigStore);
  add(`ECDSA sign, ${bigStore} keys / ${smallStore} keys`, ec && big ? big.result.rps / ec.result.rps : null, '≥ 0.90', (v) => v >= 0.9);
  const spread = find('sign ECDSA P-256, 1,000 keys in turn', 'API key', bigStore);
  add(`ECDSA sign over 1,000 of ${bigStore} keys / one key of ${smallStore}`, ec && spread ? spread.result.rps / ec.result.rps : null, '≥ 0.90', (v) => v >= 0.9);
  return out;
}

async function main(): Promise<void> {
  const started = new Date();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'warden-bench-'));
  const pki = await createPki();
  const servers: Server[] = [];
  const stopAll = async () => {
    for (const s of servers.splice(0)) await s.stop();
  };
  const notes: string[] = [];
  try {
    const payload = randomBytes(1024);
    const p64 = payload.toString('base64');
    const m: Material = {
      rsa: generateKeyPairSync('rsa', { modulusLength: 2048 }),
      ec: generateKeyPairSync('ec', { namedCurve: 'prime256v1' }),
      ed: generateKeyPairSync('ed25519'),
      aes: randomBytes(32),
      hmac: randomBytes(32),
    };
    const ecSig = sign('sha256', payload, m.ec.privateKey);
    const signBody = (label: string, alg: string) => json({ signRequest: { payload: p64, payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: alg, signatureType: 'DER' } });
    const post = (p: string, bodies: string[], headers: Record<string, string>): LoadRequest => ({ method: 'POST', path: p, bodies, headers });
    const ko = { 'x-api-key': KEYS.ko };
    const roleConfig = { keyManagementToken: KEYS.km, keyOperationToken: KEYS.ko, serviceToken: KEYS.sv, approverToken: KEYS.ap, approverKeyManagementToken: KEYS.am };
    const start = async (name: string, config: Record<string, unknown>, scheme: 'http' | 'https' = 'http') => {
      const s = await startServer({ dataDir, name, workers: WORKERS, config, scheme, ...(PROFILE ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE)}`] } : {}) });
      servers.push(s);
      return s;
    };

    // ---- API key: every operation, a small store -----------------------------------------------
    process.stderr.write(`Warden under serve --workers ${WORKERS}; load: ${wrkAvailable() ? 'wrk -t1' : 'autocannon'} -c ${CONNECTIONS}, ${SECONDS} s per row\n`);
    const a = await start('apikey', { apiAuthentication: { enabled: true, ...roleConfig } });
    await importKeys(a.url, m);
    const small = ((await (await fetch(`${a.url}/v1/key`, { headers: { 'x-api-key': KEYS.km } })).json()) as string[]).length;
    const ecRow = 'sign ECDSA P-256 SHA-256';
    await measure(a, 'GET /v1/versionInfo', 'API key', small, { method: 'GET', path: '/v1/versionInfo', headers: { 'x-api-key': KEYS.sv } }, null);
    await measure(a, 'sign RSA-2048 PKCS#1 SHA-256', 'API key', small, post('/v1/synchronousSign', [signBody('rsa', 'SHA256_WITH_RSA')], ko), () => rawSign('sha256', m.rsa.privateKey, payload, RAW_SECONDS));
    await measure(a, ecRow, 'API key', small, post('/v1/synchronousSign', [signBody('ec', 'SHA256_WITH_ECDSA')], ko), () => rawSign('sha256', m.ec.privateKey, payload, RAW_SECONDS));
    await measure(a, 'sign Ed25519', 'API key', small, post('/v1/synchronousSign', [signBody('ed', 'EDDSA')], ko), () => rawSign(null, m.ed.privateKey, payload, RAW_SECONDS));
    await measure(a, 'encrypt AES-256-GCM 1 KiB', 'API key', small,
      post('/v1/encrypt', [json({ encryptRequest: { payload: p64, encryptKeyName: 'aes', cipherAlgorithm: 'AES_GCM', tagLength: 128 } })], ko), () => rawAesGcm(m.aes, payload, RAW_SECONDS));
    await measure(a, 'HMAC-SHA256 1 KiB', 'API key', small, post('/v1/synchronousHmac', [json({ hmacRequest: { keyName: 'hmac', payload: p64 } })], ko), () => rawHmac(m.hmac, payload, RAW_SECONDS));
    await measure(a, 'verify ECDSA P-256 SHA-256', 'API key', small,
      post('/v1/verify', [json({ verifySignatureRequest: { signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', payload: p64, signature: ecSig.toString('base64') } })], ko),
      () => rawVerify('sha256', m.ec.publicKey, payload, ecSig, RAW_SECONDS));
    await measure(a, 'async request: POST /v1/sign (201)', 'API key', small, post('/v1/sign', [signBody('ska', 'SHA256_WITH_ECDSA')], ko), null);

    // ---- the same server, 100,000 keys in the store ---------------------------------------------
    process.stderr.write(`growing the store to ${BIG_STORE} keys (one transaction, server running)…\n`);
    const grown = await growStore(dataDir, BIG_STORE);
    notes.push(`${grown.labels.length} EC keys inserted through the keystore in one transaction in ${grown.seconds.toFixed(1)} s`);
    process.stderr.write(`  ${notes[notes.length - 1]}\n`);
    // The running workers see the new rows at once (SQLite WAL, one read per use): no restart.
    await measure(a, ecRow, 'API key', BIG_STORE, post('/v1/synchronousSign', [signBody('ec', 'SHA256_WITH_ECDSA')], ko), () => rawSign('sha256', m.ec.privateKey, payload, RAW_SECONDS));
    const spread = grown.labels.filter((_, i) => i % Math.max(1, Math.floor(grown.labels.length / 1000)) === 0).slice(0, 1000);
    await measure(a, 'sign ECDSA P-256, 1,000 keys in turn', 'API key', BIG_STORE, post('/v1/synchronousSign', spread.map((l) => signBody(l, 'SHA256_WITH_ECDSA')), ko), null);
    await stopAll();

    // ---- no auth and JWT on one server (jwt.required false: a token is checked when sent) -------
    const { privateKey: jwtKey, publicKey: jwtPub } = await joseKeyPair('ES256');
    const pem = path.join(dataDir, 'jwt.pem');
    writeFileSync(pem, await exportSPKI(jwtPub));
    const token = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://idp.bench').setAudience('warden').setExpirationTime('1h').sign(jwtKey);
    const b = await start('jwt', { apiAuthentication: { enabled: false }, jwt: { enabled: true, required: false, publicKeys: [pem], issuer: 'https://idp.bench', audience: 'warden', algorithms: ['ES256'] } });
    const bearer = { authorization: `Bearer ${token}` };
    await measure(b, 'GET /v1/versionInfo', 'none', small, { method: 'GET', path: '/v1/versionInfo' }, null);
    await measure(b, 'GET /v1/versionInfo', 'JWT', small, { method: 'GET', path: '/v1/versionInfo', headers: bearer }, null);
    await measure(b, ecRow, 'none', BIG_STORE, post('/v1/synchronousSign', [signBody('ec', 'SHA256_WITH_ECDSA')], {}), null);
    await measure(b, ecRow, 'JWT', BIG_STORE, post('/v1/synchronousSign', [signBody('ec', 'SHA256_WITH_ECDSA')], bearer), null);
    await stopAll();

    // ---- HTTPS and mTLS on one server (clientAuthentication want) --------------------------------
    const c = await start('mtls', {
      apiAuthentication: { enabled: false },
      tls: { enabled: true, certificate: pki.server.chain, privateKey: pki.server.key, clientAuthentication: 'want', trustedCertificates: [pki.root.crt] },
    }, 'https');
    const https = { ca: pki.root.crt };
    const mtls = { ca: pki.root.crt, cert: pki.client.chain, key: pki.client.key };
    await measure(c, 'GET /v1/versionInfo', 'HTTPS', BIG_STORE, { method: 'GET', path: '/v1/versionInfo' }, null, https);
    await measure(c, 'GET /v1/versionInfo', 'mTLS', BIG_STORE, { method: 'GET', path: '/v1/versionInfo' }, null, mtls);
    await measure(c, ecRow, 'mTLS', BIG_STORE, post('/v1/synchronousSign', [signBody('ec', 'SHA256_WITH_ECDSA')], {}), null, mtls);
    await stopAll();

    const goals = targets(small, BIG_STORE);
    const tool = rows.some((r) => r.result.tool === 'wrk') ? 'wrk -t1 (autocannon for TLS rows)' : 'autocannon';
    const headline = `Warden, serve --workers ${WORKERS}, ${tool} -c ${CONNECTIONS}, ${SECONDS} s per row, Node ${process.versions.node}, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? '?'}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}, ${started.toISOString()}`;
    process.stdout.write(`\n${headline}\n\n${table()}\n\nTargets (ratios within this run):\n`);
    for (const t of goals) process.stdout.write(`  ${t.pass ? 'MET ' : 'MISS'}  ${t.name}: ${t.value.toFixed(3)} (goal ${t.goal})\n`);
    for (const n of notes) process.stdout.write(`\nNote: ${n}`);
    process.stdout.write('\n');

    mkdirSync(RESULTS, { recursive: true });
    const stamp = started.toISOString().replace(/[:.]/g, '-');
    const file = path.join(RESULTS, `${stamp}.json`);
    writeFileSync(file, JSON.stringify({
      started: started.toISOString(), node: process.versions.node, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null,
      workers: WORKERS, connections: CONNECTIONS, seconds: SECONDS, tool, dataDir: tmpdir(), notes,
      rows: rows.map((r) => ({ name: r.name, auth: r.auth, keysInStore: r.store, rps: r.result.rps, p50: r.result.p50, p99: r.result.p99, failed: r.result.bad, requests: r.result.total, tool: r.result.tool, raw: r.raw, ratioToRawAsync: r.raw ? r.result.rps / r.raw.async : null, loadAverage: r.load })),
      targets: goals,
    }, null, 2) + '\n');
    writeFileSync(path.join(RESULTS, 'latest.svg'), barChart(
      `Warden throughput, serve --workers ${WORKERS} on ${cpus().length} CPUs`,
      `${tool} -c ${CONNECTIONS}, ${SECONDS} s per row, ${started.toISOString().slice(0, 16)}Z, load avg up to ${Math.max(...rows.map((r) => r.load)).toFixed(1)}`,
      rows.map((r) => ({ name: `${r.name} (${r.auth}${r.store === BIG_STORE ? `, ${BIG_STORE / 1000}k keys` : ''})`, rps: r.result.rps, raw: r.raw?.async ?? null })),
    ));
    process.stdout.write(`results: ${path.relative(process.cwd(), file)}, ${path.relative(process.cwd(), path.join(RESULTS, 'latest.svg'))}\n`);
  } finally {
    await stopAll().catch((e: Error) => process.stderr.write(`${e.message}\n`));
    pki.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
