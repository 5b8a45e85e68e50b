// CPU per call (issue 10, docs/performance.md): Warden under `serve --workers N` driven by wrk, with the
// CPU time of its processes (from /proc) divided by the calls answered. Unlike req/s this stays
// meaningful on a machine other work shares: a neighbour steals time, not CPU per call.
//   node --import tsx bench/cpu.ts [--cases get,get-jwt,ec,rsa,…] [--seconds 4] [--connections 128]
//     [--workers 2] [--rounds 3] [--profile DIR] [--trees /path/a,/path/b]
// Prints per case the median over the rounds: calls/s, and µs of CPU per call in the workers (event-loop
// thread and other threads: libuv threadpool, worker-thread pools, GC helpers) and in the primary (the
// audit writer on SQLite). --trees compares checkouts (before/after a change): one pair of servers per
// tree, each case run on every tree in turn, round after round, so a neighbour's burst hits all alike.
import { generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { exportSPKI, generateKeyPair as joseKeyPair, SignJWT } from 'jose';
import { loadConfig } from '../src/config/load.ts';
import { createLogger, openRuntime } from '../src/server/boot.ts';
import { load, type LoadRequest } from './lib/load.ts';
import { startServer, WARDEN_BIN, type Server } from './lib/server.ts';

const argText = (name: string): string | null => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
};
const arg = (name: string, def: number): number => Number(argText(name) ?? def);
const SECONDS = arg('seconds', 4);
const CONNECTIONS = arg('connections', 128);
const WORKERS = arg('workers', 2);
const ROUNDS = arg('rounds', 3);
const TREES = (argText('trees') ?? '').split(',').filter(Boolean);
const PROFILE = argText('profile');
const KEYS = { km: 'bench-km-key', ko: 'bench-ko-key', sv: 'bench-sv-key', ap: 'bench-ap-key', am: 'bench-am-key' };
const TICK_US = 1e6 / 100; // USER_HZ: /proc reports CPU time in 1/100 s

/** utime + stime (µs) of one thread or, for `/proc/<pid>/stat`, of the whole process. */
function cpuOf(statFile: string): number {
  try {
    const text = readFileSync(statFile, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * TICK_US;
  } catch {
    return 0;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

interface Sample {
  primary: number;
  /** Event-loop (main) threads of the workers. */
  loop: number;
  /** Every other thread of the workers. */
  other: number;
}

function sample(primary: number): Sample {
  let loop = 0;
  let total = 0;
  for (const w of childrenOf(primary)) {
    total += cpuOf(`/proc/${w}/stat`);
    loop += cpuOf(`/proc/${w}/task/${w}/stat`);
  }
  return { primary: cpuOf(`/proc/${primary}/stat`), loop, other: total - loop };
}

interface Case {
  name: string;
  server: 'apikey' | 'open';
  request: LoadRequest;
}

async function call(base: string, url: string, body: unknown): Promise<void> {
  const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEYS.km }, body: JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${url}: ${r.status} ${await r.text()}`);
}

const pkcs8 = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'der' }).toString('base64');
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');

interface Pair {
  tree: string;
  dataDir: string;
  apikey: Server;
  open: Server;
}

/** A data directory and the two servers of one checkout, with the bench keys imported. */
async function startPair(tree: string, m: { rsa: KeyPairs; ec: KeyPairs; ed: KeyPairs; pem: string }, servers: Server[]): Promise<Pair> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'warden-cpu-'));
  const cfg = loadConfig({ env: { WARDEN_DATA_DIR: dataDir, WARDEN_API_AUTHENTICATION_ENABLED: 'false', WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' }, cwd: dataDir });
  await (await openRuntime(cfg, createLogger({ ...cfg, logging: { level: 'silent' } }))).close();
  const roles = { keyManagementToken: KEYS.km, keyOperationToken: KEYS.ko, serviceToken: KEYS.sv, approverToken: KEYS.ap, approverKeyManagementToken: KEYS.am };
  const execArgv = PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(PROFILE)}`] : [];
  const bin = tree ? path.join(tree, 'bin', 'warden.mjs') : WARDEN_BIN;
  const jwt = { enabled: true, required: false, publicKeys: [m.pem], issuer: 'https://idp.bench', audience: 'warden', algorithms: ['ES256'] };
  const [apikey, open] = await Promise.all([
    startServer({ dataDir, name: 'apikey', workers: WORKERS, config: { apiAuthentication: { enabled: true, ...roles } }, execArgv, bin }),
    startServer({ dataDir, name: 'open', workers: WORKERS, config: { apiAuthentication: { enabled: false }, jwt }, execArgv, bin }),
  ]);
  servers.push(apikey, open);
  const on = { sign: true, verify: true, decrypt: false, unwrap: false };
  const url = apikey.url;
  await call(url, '/v1/key/import/plain', { label: 'rsa', algorithm: 'RSA', privateKey: pkcs8(m.rsa.privateKey), publicKey: spki(m.rsa.publicKey), attributes: on });
  await call(url, '/v1/key/import/plain', { label: 'ec', algorithm: 'EC', privateKey: pkcs8(m.ec.privateKey), publicKey: spki(m.ec.publicKey), attributes: on });
  await call(url, '/v1/key/import/plain', { label: 'ed', algorithm: 'ED', privateKey: pkcs8(m.ed.privateKey), publicKey: spki(m.ed.publicKey), attributes: on });
  await call(url, '/v1/key/import/plain', { label: 'aes', algorithm: 'AES', secretKey: randomBytes(32).toString('base64'), attributes: { encrypt: true, decrypt: true, sign: false, unwrap: false } });
  await call(url, '/v1/key/import/plain', { label: 'hmac', algorithm: 'HMACSHA256', secretKey: randomBytes(32).toString('base64'), attributes: on });
  await call(url, '/v1/key', { label: 'ska', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true, decrypt: false, unwrap: false }, policy: { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null, keyStatus: { blocked: false } } });
  return { tree: tree || '.', dataDir, apikey, open };
}

type KeyPairs = { privateKey: KeyObject; publicKey: KeyObject };

interface Measured {
  rps: number;
  loop: number;
  other: number;
  primary: number;
  p50: number;
  bad: number;
}

async function measure(server: Server, request: LoadRequest): Promise<Measured> {
  await load({ base: server.url, request, connections: CONNECTIONS, seconds: 1 });
  const before = sample(server.pid);
  const r = await load({ base: server.url, request, connections: CONNECTIONS, seconds: SECONDS });
  const after = sample(server.pid);
  const per = (k: keyof Sample) => (after[k] - before[k]) / Math.max(1, r.total);
  return { rps: r.rps, loop: per('loop'), other: per('other'), primary: per('primary'), p50: r.p50, bad: r.bad };
}

/** The lower median: with two rounds the quieter one (a neighbour inflates CPU per call, never deflates it). */
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)] as number;

async function main(): Promise<void> {
  const servers: Server[] = [];
  const pairs: Pair[] = [];
  try {
    const payload = randomBytes(1024);
    const p64 = payload.toString('base64');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const ed = generateKeyPairSync('ed25519');
    const ecSig = sign('sha256', payload, ec.privateKey);
    const { privateKey: jwtKey, publicKey: jwtPub } = await joseKeyPair('ES256');
    const pemDir = mkdtempSync(path.join(tmpdir(), 'warden-cpu-jwt-'));
    const pem = path.join(pemDir, 'jwt.pem');
    writeFileSync(pem, await exportSPKI(jwtPub));
    const token = await new SignJWT({ sub: 'bench' }).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://idp.bench').setAudience('warden').setExpirationTime('1h').sign(jwtKey);
    for (const tree of TREES.length > 0 ? TREES : ['']) pairs.push(await startPair(tree, { rsa, ec, ed, pem }, servers));
    rmSync(pemDir, { recursive: true, force: true });

    const ko = { 'x-api-key': KEYS.ko };
    const signBody = (label: string, alg: string) => JSON.stringify({ signRequest: { payload: p64, payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: alg, signatureType: 'DER' } });
    const post = (p: string, body: string, headers: Record<string, string> = ko): LoadRequest => ({ method: 'POST', path: p, bodies: [body], headers });
    const all: Case[] = [
      { name: 'get', server: 'apikey', request: { method: 'GET', path: '/v1/versionInfo', headers: { 'x-api-key': KEYS.sv } } },
      { name: 'get-none', server: 'open', request: { method: 'GET', path: '/v1/versionInfo', headers: {} } },
      { name: 'get-jwt', server: 'open', request: { method: 'GET', path: '/v1/versionInfo', headers: { authorization: `Bearer ${token}` } } },
      { name: 'ec', server: 'apikey', request: post('/v1/synchronousSign', signBody('ec', 'SHA256_WITH_ECDSA')) },
      { name: 'ec-none', server: 'open', request: post('/v1/synchronousSign', signBody('ec', 'SHA256_WITH_ECDSA'), {}) },
      { name: 'rsa', server: 'apikey', request: post('/v1/synchronousSign', signBody('rsa', 'SHA256_WITH_RSA')) },
      { name: 'ed', server: 'apikey', request: post('/v1/synchronousSign', signBody('ed', 'EDDSA')) },
      { name: 'aes', server: 'apikey', request: post('/v1/encrypt', JSON.stringify({ encryptRequest: { payload: p64, encryptKeyName: 'aes', cipherAlgorithm: 'AES_GCM', tagLength: 128 } })) },
      { name: 'hmac', server: 'apikey', request: post('/v1/synchronousHmac', JSON.stringify({ hmacRequest: { keyName: 'hmac', payload: p64 } })) },
      { name: 'verify', server: 'apikey', request: post('/v1/verify', JSON.stringify({ verifySignatureRequest: { signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', payload: p64, signature: ecSig.toString('base64') } })) },
      { name: 'async', server: 'apikey', request: post('/v1/sign', signBody('ska', 'SHA256_WITH_ECDSA')) },
    ];
    const wanted = (argText('cases') ?? 'get,get-none,get-jwt,ec,rsa').split(',');
    const cases = all.filter((c) => wanted.includes(c.name));
    const runs = new Map<string, Measured[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of cases) {
        for (const p of pairs) {
          const m = await measure(c.server === 'apikey' ? p.apikey : p.open, c.request);
          const k = `${c.name}\t${p.tree}`;
          runs.set(k, [...(runs.get(k) ?? []), m]);
          process.stderr.write(`  round ${round + 1} ${c.name} ${p.tree}: ${m.rps.toFixed(0)}/s, ${(m.loop + m.other + m.primary).toFixed(0)} µs (load ${loadavg()[0].toFixed(1)})${m.bad ? ` FAILED ${m.bad}` : ''}\n`);
        }
      }
    }
    process.stdout.write(`serve --workers ${WORKERS}, wrk -c ${CONNECTIONS}, ${SECONDS} s per run, median of ${ROUNDS}; CPU µs per call (workers: event loop, other threads; primary)\n`);
    process.stdout.write(`${'case'.padEnd(10)} ${'tree'.padEnd(16)} ${'calls/s'.padStart(8)} ${'loop'.padStart(6)} ${'other'.padStart(6)} ${'primary'.padStart(8)} ${'total'.padStart(6)}  p50 ms\n`);
    for (const [k, ms] of runs) {
      const [name, tree] = k.split('\t') as [string, string];
      const f = (x: keyof Measured, w: number) => median(ms.map((m) => m[x])).toFixed(x === 'p50' ? 2 : 0).padStart(w);
      const total = median(ms.map((m) => m.loop + m.other + m.primary)).toFixed(0).padStart(6);
      process.stdout.write(`${name.padEnd(10)} ${path.basename(tree).slice(0, 16).padEnd(16)} ${f('rps', 8)} ${f('loop', 6)} ${f('other', 6)} ${f('primary', 8)} ${total}  ${f('p50', 6)}\n`);
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop().catch((e: Error) => process.stderr.write(`${e.message}\n`))));
    for (const p of pairs) rmSync(p.dataDir, { recursive: true, force: true });
  }
}

await main();
