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
const CONNECTIONS = arg('connections', 128);
const WORKERS = arg('workers', 2);
const BIG_STORE = arg('keys', 100_000);
const RAW_SECONDS = arg('raw-seconds', 0.5);
const ROUNDS = arg('rounds', 2);
const PROFILE = argText('profile');
/** --only ops,auth-get,auth-sign,store: a subset of the sets (the targets of the others are not shown). */
const ONLY = new Set((argText('only') ?? 'ops,auth-get,auth-sign,store').split(','));
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

const KEYS = { km: 'bench-km-key', ko: 'bench-ko-key', sv: 'bench-sv-key', ap: 'bench-ap-key', am: 'bench-am-key' };
const P256 = '1.2.840.10045.3.1.7';

interface Row {
  /** ops: each operation next to its raw rate; auth-get / auth-sign / store: interleaved comparisons. */
  group: string;
  name: string;
  auth: string;
  store: number;
  result: LoadResult;
  raw: RawRate | null;
  load: number;
}

const rows: Row[] = [];
let group = 'ops';

interface Case {
  server: Server;
  name: string;
  auth: string;
  store: number;
  request: LoadRequest;
  raw?: () => Promise<RawRate>;
  tls?: { ca: string; cert?: string; key?: string };
}

async function once(c: Case, warm: boolean): Promise<{ result: LoadResult; load: number }> {
  const spec = { base: c.server.url, request: c.request, connections: CONNECTIONS, ...(c.tls ? { tls: c.tls } : {}) };
  // Warm-up: JIT, every worker's unsealed-key cache (long enough to go through every body twice), TLS.
  if (warm) await load({ ...spec, seconds: Math.min(6, Math.max(1, Math.ceil((c.request.bodies?.length ?? 1) / 250))) });
  const before = loadavg()[0];
  const result = await load({ ...spec, seconds: SECONDS });
  // A row with failed calls is kept, with the count; more than 1 % makes the run invalid.
  if (result.bad > Math.max(1, result.total * 0.01)) throw new Error(`${c.name} (${c.auth}): ${result.bad} of ${result.total} calls failed (non-2xx or socket errors)`);
  return { result, load: Math.max(before, loadavg()[0]) };
}

function report(row: Row): void {
  rows.push(row);
  const ratio = row.raw ? ` = ${((row.result.rps / row.raw.async) * 100).toFixed(0)} % of raw async` : '';
  process.stderr.write(`  ${row.name.padEnd(36)} ${row.auth.padEnd(8)} ${String(row.store).padStart(6)} keys ${row.result.rps.toFixed(0).padStart(6)} req/s  p50 ${row.result.p50} ms  p99 ${row.result.p99} ms${ratio}  (load ${row.load.toFixed(1)})\n`);
}

/** One case: the raw rate, then Warden, right after each other. */
async function measure(c: Case): Promise<void> {
  const raw = c.raw ? await c.raw() : null;
  const { result, load: l } = await once(c, true);
  report({ group, name: c.name, auth: c.auth, store: c.store, result, raw, load: l });
}

/**
 * Cases compared with each other run interleaved, best of ROUNDS each: a neighbour's burst on a shared
 * machine then hurts every case of the comparison alike instead of one of them.
 */
async function interleaved(cases: Case[]): Promise<void> {
  const best: Array<{ result: LoadResult; load: number } | null> = cases.map(() => null);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, c] of cases.entries()) {
      const r = await once(c, round === 0);
      const b = best[i];
      if (!b || r.result.rps > b.result.rps) best[i] = r;
    }
  }
  cases.forEach((c, i) => {
    const b = best[i] as { result: LoadResult; load: number };
    report({ group, name: c.name, auth: c.auth, store: c.store, result: b.result, raw: null, load: b.load });
  });
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

/** A data directory with its master key, audit key and system keys (the first start), no server. */
async function prepare(dataDir: string): Promise<void> {
  const cfg = loadConfig({ env: { WARDEN_DATA_DIR: dataDir, WARDEN_API_AUTHENTICATION_ENABLED: 'false', WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' }, cwd: dataDir });
  const rt = await openRuntime(cfg, createLogger({ ...cfg, logging: { level: 'silent' } }));
  await rt.close();
}

/**
 * A store of `total` keys: the bench's EC key `ec` (the same material as the small store's) and EC
 * P-256 keys `bulk-NNNNNN`, inserted through the keystore (sealed like any other key) in one transaction
 * instead of 100,000 HTTP calls. Their material comes from a pool of 1,000 generated pairs: the rows,
 * labels, seals and AADs all differ, and key generation is not what is measured.
 */
async function bigStore(dataDir: string, total: number, ec: Material['ec']): Promise<{ labels: string[]; seconds: number }> {
  const started = performance.now();
  const cfg = loadConfig({ env: { WARDEN_DATA_DIR: dataDir, WARDEN_API_AUTHENTICATION_ENABLED: 'false', WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' }, cwd: dataDir });
  const rt = await openRuntime(cfg, createLogger({ ...cfg, logging: { level: 'silent' } }));
  const family = familyFor('EC');
  const params = family.resolve({ curveOid: P256 });
  const attributes = resolveAttributes({ sign: true, verify: true, decrypt: false, unwrap: false }, { generated: false, symmetric: false, algorithm: 'EC' });
  const der = (k: Material['ec']) => ({ privateKey: k.privateKey.export({ type: 'pkcs8', format: 'der' }), publicKey: k.publicKey.export({ type: 'spki', format: 'der' }) });
  const pool = Array.from({ length: 1000 }, () => der(generateKeyPairSync('ec', { namedCurve: 'prime256v1' })));
  const labels: string[] = [];
  try {
    await rt.services.keystore.create({ label: 'ec', family, params, attributes, password: null, creation: 'imported', material: der(ec) });
    const existing = (await rt.services.keystore.list()).length;
    await rt.store.db.transaction().execute(async (trx) => {
      const keystore = new SoftwareKeyStore({ ...rt.store, db: trx } as Store, rt.master);
      for (let i = 0; existing + i < total; i++) {
        const label = `bulk-${String(i).padStart(6, '0')}`;
        await keystore.create({ label, family, params, attributes, password: null, creation: 'generated', material: pool[i % pool.length] });
        labels.push(label);
      }
    });
  } finally {
    await rt.close();
  }
  return { labels, seconds: (performance.now() - started) / 1000 };
}

function table(): string {
  const header = ['set', 'operation', 'auth', 'keys in store', 'req/s', 'p50 ms', 'p99 ms', 'raw sync/s', 'raw async/s', 'Warden / raw async', 'failed', 'load avg'];
  const body = rows.map((r) => [
    r.group, r.name, r.auth, String(r.store), r.result.rps.toFixed(0), String(r.result.p50), String(r.result.p99),
    r.raw ? r.raw.sync.toFixed(0) : '–', r.raw ? r.raw.async.toFixed(0) : '–',
    r.raw ? `${((r.result.rps / r.raw.async) * 100).toFixed(0)} %` : '–', String(r.result.bad), r.load.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (i <= 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w, i) => (i <= 2 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...body.map(line)].join('\n');
}

interface Target {
  name: string;
  value: number;
  goal: string;
  pass: boolean;
}

function find(g: string, name: string, auth: string, store?: number): Row | undefined {
  return rows.find((r) => r.group === g && r.name === name && r.auth === auth && (store === undefined || r.store === store));
}

function targets(small: number, big: number): Target[] {
  const out: Target[] = [];
  const add = (name: string, value: number | null, goal: string, pass: (v: number) => boolean) => {
    if (value !== null && Number.isFinite(value)) out.push({ name, value, goal, pass: pass(value) });
  };
  const ecName = 'sign ECDSA P-256 SHA-256';
  const rsa = find('ops', 'sign RSA-2048 PKCS#1 SHA-256', 'API key');
  add('RSA-2048 sign / raw async node:crypto', rsa?.raw ? rsa.result.rps / rsa.raw.async : null, '≥ 0.80', (v) => v >= 0.8);
  const ec = find('ops', ecName, 'API key');
  const get = find('auth-get', 'GET /v1/versionInfo', 'API key');
  add('ECDSA P-256 sign / bare GET (both API key)', ec && get ? ec.result.rps / get.result.rps : null, '≥ 0.50', (v) => v >= 0.5);
  const cost = (g: string, name: string, auth: string) => {
    const none = find(g, name, 'none');
    const with_ = find(g, name, auth);
    return none && with_ ? 1 - with_.result.rps / none.result.rps : null;
  };
  add('API key cost vs no auth, bare GET', cost('auth-get', 'GET /v1/versionInfo', 'API key'), '≤ 0.05', (v) => v <= 0.05);
  add('JWT cost vs no auth, bare GET', cost('auth-get', 'GET /v1/versionInfo', 'JWT'), '≤ 0.10', (v) => v <= 0.1);
  add('API key cost vs no auth, ECDSA sign', cost('auth-sign', ecName, 'API key'), '≤ 0.05', (v) => v <= 0.05);
  add('JWT cost vs no auth, ECDSA sign', cost('auth-sign', ecName, 'JWT'), '≤ 0.10', (v) => v <= 0.1);
  const smallRow = find('store', `${ecName} (store size)`, 'API key', small);
  const bigRow = find('store', `${ecName} (store size)`, 'API key', big);
  const spread = find('store', 'sign ECDSA P-256, 1,000 keys in turn', 'API key', big);
  add(`ECDSA sign, ${big} keys / ${small} keys (one key)`, smallRow && bigRow ? bigRow.result.rps / smallRow.result.rps : null, '≥ 0.90', (v) => v >= 0.9);
  add(`ECDSA sign, 1,000 of ${big} keys in turn / one key of ${small}`, smallRow && spread ? spread.result.rps / smallRow.result.rps : null, '≥ 0.90', (v) => v >= 0.9);
  return out;
}

async function main(): Promise<void> {
  const started = new Date();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'warden-bench-'));
  const bigDir = mkdtempSync(path.join(tmpdir(), 'warden-bench-big-'));
  const pki = await createPki();
  const servers: Server[] = [];
  const stopAll = async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
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
    const start = async (dir: string, name: string, config: Record<string, unknown>, scheme: 'http' | 'https' = 'http') => {
      const s = await startServer({ dataDir: dir, name, workers: WORKERS, config, scheme, ...(PROFILE ? { execArgv: ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE)}`] } : {}) });
      servers.push(s);
      return s;
    };
    const { privateKey: jwtKey, publicKey: jwtPub } = await joseKeyPair('ES256');
    const pem = path.join(dataDir, 'jwt.pem');
    writeFileSync(pem, await exportSPKI(jwtPub));
    const token = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://idp.bench').setAudience('warden').setExpirationTime('1h').sign(jwtKey);

    // ---- the stores: a small one (the first start, ~10 keys) and one of BIG_STORE keys -----------
    process.stderr.write(`preparing the stores (${BIG_STORE} keys through the keystore, one transaction)…\n`);
    await prepare(dataDir);
    const grown = await bigStore(bigDir, BIG_STORE, m.ec);
    notes.push(`${grown.labels.length} EC keys inserted through the keystore in one transaction in ${grown.seconds.toFixed(1)} s`);
    process.stderr.write(`  ${notes[notes.length - 1]}\n`);

    // ---- four servers at once, so comparisons can interleave: API key (small store), no auth + JWT
    // (jwt.required false: a token is checked when sent), HTTPS + mTLS (clientAuthentication want),
    // API key on the big store. Idle ones cost nothing measurable.
    process.stderr.write(`starting 4 × serve --workers ${WORKERS}; load: ${wrkAvailable() ? 'wrk -t1' : 'autocannon'} -c ${CONNECTIONS}, ${SECONDS} s per row\n`);
    const [a, b, c, d] = await Promise.all([
      start(dataDir, 'apikey', { apiAuthentication: { enabled: true, ...roleConfig } }),
      start(dataDir, 'jwt', { apiAuthentication: { enabled: false }, jwt: { enabled: true, required: false, publicKeys: [pem], issuer: 'https://idp.bench', audience: 'warden', algorithms: ['ES256'] } }),
      start(dataDir, 'mtls', {
        apiAuthentication: { enabled: false },
        tls: { enabled: true, certificate: pki.server.chain, privateKey: pki.server.key, clientAuthentication: 'want', trustedCertificates: [pki.root.crt] },
      }, 'https'),
      start(bigDir, 'apikey-big', { apiAuthentication: { enabled: true, ...roleConfig } }),
    ]);
    await importKeys(a.url, m);
    const small = ((await (await fetch(`${a.url}/v1/key`, { headers: { 'x-api-key': KEYS.km } })).json()) as string[]).length;
    const big = ((await (await fetch(`${d.url}/v1/key`, { headers: { 'x-api-key': KEYS.km } })).json()) as string[]).length;

    // ---- every operation through Warden (API key), each next to its raw rate ---------------------
    const ecRow = 'sign ECDSA P-256 SHA-256';
    const ecSign = (label = 'ec') => signBody(label, 'SHA256_WITH_ECDSA');
    const getReq = (headers: Record<string, string>): LoadRequest => ({ method: 'GET', path: '/v1/versionInfo', headers });
    const one = (server: Server, name: string, request: LoadRequest, raw?: () => Promise<RawRate>): Case => ({ server, name, auth: 'API key', store: small, request, ...(raw ? { raw } : {}) });
    if (ONLY.has('ops')) {
    await measure(one(a, 'sign RSA-2048 PKCS#1 SHA-256', post('/v1/synchronousSign', [signBody('rsa', 'SHA256_WITH_RSA')], ko), () => rawSign('sha256', m.rsa.privateKey, payload, RAW_SECONDS)));
    await measure(one(a, 'sign Ed25519', post('/v1/synchronousSign', [signBody('ed', 'EDDSA')], ko), () => rawSign(null, m.ed.privateKey, payload, RAW_SECONDS)));
    await measure(one(a, 'encrypt AES-256-GCM 1 KiB', post('/v1/encrypt', [json({ encryptRequest: { payload: p64, encryptKeyName: 'aes', cipherAlgorithm: 'AES_GCM', tagLength: 128 } })], ko), () => rawAesGcm(m.aes, payload, RAW_SECONDS)));
    await measure(one(a, 'HMAC-SHA256 1 KiB', post('/v1/synchronousHmac', [json({ hmacRequest: { keyName: 'hmac', payload: p64 } })], ko), () => rawHmac(m.hmac, payload, RAW_SECONDS)));
    await measure(one(a, 'verify ECDSA P-256 SHA-256', post('/v1/verify', [json({ verifySignatureRequest: { signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', payload: p64, signature: ecSig.toString('base64') } })], ko),
      () => rawVerify('sha256', m.ec.publicKey, payload, ecSig, RAW_SECONDS)));
    await measure(one(a, 'async request: POST /v1/sign (201)', post('/v1/sign', [signBody('ska', 'SHA256_WITH_ECDSA')], ko)));
    await measure(one(a, ecRow, post('/v1/synchronousSign', [ecSign()], ko), () => rawSign('sha256', m.ec.privateKey, payload, RAW_SECONDS)));
    }

    // ---- comparisons, interleaved: authentication (bare GET and ECDSA sign), store size -----------
    const bearer = { authorization: `Bearer ${token}` };
    const https = { ca: pki.root.crt };
    const mtls = { ca: pki.root.crt, cert: pki.client.chain, key: pki.client.key };
    const as = (server: Server, name: string, auth: string, request: LoadRequest, tls?: Case['tls'], store = small): Case => ({ server, name, auth, store, request, ...(tls ? { tls } : {}) });
    group = 'auth-get';
    if (ONLY.has(group)) await interleaved([
      as(b, 'GET /v1/versionInfo', 'none', getReq({})),
      as(a, 'GET /v1/versionInfo', 'API key', getReq({ 'x-api-key': KEYS.sv })),
      as(b, 'GET /v1/versionInfo', 'JWT', getReq(bearer)),
      as(c, 'GET /v1/versionInfo', 'HTTPS', getReq({}), https),
      as(c, 'GET /v1/versionInfo', 'mTLS', getReq({}), mtls),
    ]);
    group = 'auth-sign';
    if (ONLY.has(group)) await interleaved([
      as(b, ecRow, 'none', post('/v1/synchronousSign', [ecSign()], {})),
      as(a, ecRow, 'API key', post('/v1/synchronousSign', [ecSign()], ko)),
      as(b, ecRow, 'JWT', post('/v1/synchronousSign', [ecSign()], bearer)),
      as(c, ecRow, 'mTLS', post('/v1/synchronousSign', [ecSign()], {}), mtls),
    ]);
    const spread = grown.labels.filter((_, i) => i % Math.max(1, Math.floor(grown.labels.length / 1000)) === 0).slice(0, 1000);
    group = 'store';
    if (ONLY.has(group)) await interleaved([
      as(a, `${ecRow} (store size)`, 'API key', post('/v1/synchronousSign', [ecSign()], ko)),
      as(d, `${ecRow} (store size)`, 'API key', post('/v1/synchronousSign', [ecSign()], ko), undefined, big),
      as(d, 'sign ECDSA P-256, 1,000 keys in turn', 'API key', post('/v1/synchronousSign', spread.map((l) => ecSign(l)), ko), undefined, big),
    ]);
    await stopAll();

    const goals = targets(small, big);
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
      rows: rows.map((r) => ({ group: r.group, name: r.name, auth: r.auth, keysInStore: r.store, rps: r.result.rps, p50: r.result.p50, p99: r.result.p99, failed: r.result.bad, requests: r.result.total, tool: r.result.tool, raw: r.raw, ratioToRawAsync: r.raw ? r.result.rps / r.raw.async : null, loadAverage: r.load })),
      targets: goals,
    }, null, 2) + '\n');
    writeFileSync(path.join(RESULTS, 'latest.svg'), barChart(
      `Warden throughput, serve --workers ${WORKERS} on ${cpus().length} CPUs`,
      `${tool} -c ${CONNECTIONS}, ${SECONDS} s per row, ${started.toISOString().slice(0, 16)}Z, load avg up to ${Math.max(...rows.map((r) => r.load)).toFixed(1)}`,
      rows.map((r) => ({ name: `${r.name} (${r.auth}${r.store >= 1000 ? `, ${Math.round(r.store / 1000)}k keys` : ''})`, rps: r.result.rps, raw: r.raw?.async ?? null })),
    ));
    process.stdout.write(`results: ${path.relative(process.cwd(), file)}, ${path.relative(process.cwd(), path.join(RESULTS, 'latest.svg'))}\n`);
  } finally {
    await stopAll().catch((e: Error) => process.stderr.write(`${e.message}\n`));
    pki.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(bigDir, { recursive: true, force: true });
  }
}

await main();
