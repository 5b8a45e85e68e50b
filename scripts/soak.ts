// Bounded soak test (issue 11, docs/operations.md): `npm run soak -- --minutes 10 [--rate 80] [--url URL]`.
// Starts `warden serve` on a temporary data directory on loopback (or uses --url with the test API keys),
// then sends a steady mix of operations (key create/attributes/delete, ECDSA/RSA/Ed25519 sign + verify,
// AES-GCM encrypt + decrypt, HMAC, AES key wrap + unwrap, random, data objects, key list, async sign
// requests of a key with a policy + their status, service info, metrics) at a fixed rate. Every minute
// it prints the requests, errors, p50/p99/max latency and the server's RSS and heap (read from /metrics);
// at the end the RSS growth and the latency drift. Exits 1 on any error.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '80' },
    'max-in-flight': { type: 'string', default: '64' },
    url: { type: 'string' },
    'sample-seconds': { type: 'string', default: '60' },
  },
});
const MINUTES = Number(values.minutes);
const RATE = Number(values.rate);
const MAX_IN_FLIGHT = Number(values['max-in-flight']);
const SAMPLE_MS = Number(values['sample-seconds']) * 1000;

const KEYS = { km: 'soak-km-key', ko: 'soak-ko-key', sv: 'soak-sv-key' } as const;
const P256 = '1.2.840.10045.3.1.7';

// --- the server --------------------------------------------------------------------------------

let child: ChildProcess | null = null;
let dataDir: string | null = null;

async function startServer(): Promise<string> {
  dataDir = mkdtempSync(path.join(tmpdir(), 'warden-soak-'));
  const env = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('WARDEN_'))),
    WARDEN_DATA_DIR: dataDir,
    WARDEN_SERVER_HOST: '127.0.0.1',
    WARDEN_SERVER_PORT: '0',
    WARDEN_LOGGING_LEVEL: 'warn',
    WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: KEYS.km,
    WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: KEYS.ko,
    WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: KEYS.sv,
  };
  // `info` only for the start line with the URL; warn afterwards would need a restart, so keep info.
  // One process: /metrics then reports the memory of the process that serves every request.
  child = spawn(process.execPath, [path.join(root, 'bin', 'warden.mjs'), 'serve', '--workers', '1'], { cwd: root, env: { ...env, WARDEN_LOGGING_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    if (out.length < 1_000_000) out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => process.stderr.write(d));
  const end = Date.now() + 120_000;
  for (;;) {
    const m = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*Warden [0-9.]+ started/.exec(out);
    if (m) {
      // Stop collecting request logs: the soak measures the server, not this buffer.
      child.stdout?.removeAllListeners('data');
      child.stdout?.resume();
      return m[1] as string;
    }
    if (child.exitCode !== null || Date.now() > end) throw new Error(`warden serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// --- HTTP --------------------------------------------------------------------------------------

let BASE = '';

async function call(method: string, url: string, key: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | null; text: string }> {
  const r = await fetch(`${BASE}${url}`, {
    method,
    headers: { 'x-api-key': key, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json: Record<string, unknown> | null = null;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: r.status, json, text };
}

async function expect(p: Promise<{ status: number; json: Record<string, unknown> | null; text: string }>, status: number, what: string): Promise<Record<string, unknown>> {
  const r = await p;
  if (r.status !== status) throw new Error(`${what}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json ?? {};
}

const b64 = (b: Buffer) => b.toString('base64');
const attrs = (a: Record<string, boolean>) => ({ sign: false, decrypt: false, unwrap: false, destroyable: true, ...a });

async function setup(): Promise<void> {
  const mk = (body: Record<string, unknown>) => expect(call('POST', '/v1/key', KEYS.km, body), 201, `create ${String(body.label)}`);
  await mk({ label: 'soak-ec', algorithm: 'EC', curveOid: P256, attributes: attrs({ sign: true, verify: true }) });
  await mk({ label: 'soak-rsa', algorithm: 'RSA', keySize: 2048, attributes: attrs({ sign: true, verify: true }) });
  await mk({ label: 'soak-ed', algorithm: 'ED', curveOid: '1.3.101.112', attributes: attrs({ sign: true, verify: true }) });
  await mk({ label: 'soak-aes', algorithm: 'AES', keySize: 256, attributes: attrs({ encrypt: true, decrypt: true, wrap: true, unwrap: true }) });
  await mk({ label: 'soak-target', algorithm: 'AES', keySize: 128, attributes: attrs({ extractable: true, sensitive: false, encrypt: true, decrypt: true }) });
  await mk({ label: 'soak-hmac', algorithm: 'HMACSHA256', keySize: 256, attributes: attrs({ sign: true, verify: true }) });
  const approver = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' });
  const rule = { tokens: [{ name: 't', timelock: 0, timeout: 0, groups: [{ name: 'g', quorum: 1, approvals: [{ type: 'public_key', name: 'soak-approver', value: b64(approver) }] }] }] };
  await mk({ label: 'soak-ska', algorithm: 'EC', curveOid: P256, attributes: attrs({ sign: true, verify: true }), policy: { ruleUse: rule, ruleBlock: null, ruleUnblock: null, ruleModify: null, keyStatus: { blocked: false } } });
}

// --- the operation mix -------------------------------------------------------------------------

let seq = 0;
const pendingRequests: string[] = [];

type Op = { name: string; weight: number; run: () => Promise<void> };

const OPS: Op[] = [
  { name: 'sign-ec', weight: 14, run: async () => {
    const payload = b64(randomBytes(32));
    const s = await expect(call('POST', '/v1/synchronousSign', KEYS.ko, { signRequest: { payload, signKeyName: 'soak-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA' } }), 200, 'sign-ec');
    const v = await expect(call('POST', '/v1/verify', KEYS.ko, { verifySignatureRequest: { payload, signKeyName: 'soak-ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', signature: s.signature } }), 200, 'verify-ec');
    if (v.signatureValid !== true) throw new Error('verify-ec: signature not valid');
  } },
  { name: 'sign-rsa', weight: 6, run: async () => {
    await expect(call('POST', '/v1/synchronousSign', KEYS.ko, { signRequest: { payload: b64(randomBytes(64)), signKeyName: 'soak-rsa', signatureAlgorithm: 'SHA256_WITH_RSA_PSS' } }), 200, 'sign-rsa');
  } },
  { name: 'sign-ed', weight: 6, run: async () => {
    await expect(call('POST', '/v1/synchronousSign', KEYS.ko, { signRequest: { payload: b64(randomBytes(64)), signKeyName: 'soak-ed', signatureAlgorithm: 'EDDSA' } }), 200, 'sign-ed');
  } },
  { name: 'aes-gcm', weight: 10, run: async () => {
    const plain = randomBytes(200);
    const e = await expect(call('POST', '/v1/encrypt', KEYS.ko, { encryptRequest: { payload: b64(plain), encryptKeyName: 'soak-aes', cipherAlgorithm: 'AES_GCM' } }), 200, 'encrypt');
    const d = await expect(call('POST', '/v1/synchronousDecrypt', KEYS.ko, { decryptRequest: { encryptedPayload: e.encryptedPayload, decryptKeyName: 'soak-aes', cipherAlgorithm: 'AES_GCM', initializationVector: e.initializationVector } }), 200, 'decrypt');
    if (d.payload !== b64(plain)) throw new Error('decrypt: plaintext differs');
  } },
  { name: 'hmac', weight: 8, run: async () => {
    await expect(call('POST', '/v1/synchronousHmac', KEYS.ko, { hmacRequest: { keyName: 'soak-hmac', payload: b64(randomBytes(100)) } }), 200, 'hmac');
  } },
  { name: 'wrap-unwrap', weight: 4, run: async () => {
    const wr = await expect(call('POST', '/v1/wrap', KEYS.ko, { wrapKeyRequest: { keyToBeWrapped: 'soak-target', wrapKeyName: 'soak-aes', wrapMethod: 'AES_WRAP' } }), 200, 'wrap');
    const label = `soak-unwrapped-${++seq}`;
    await expect(call('POST', '/v1/synchronousUnwrap', KEYS.ko, { unwrapKeyRequest: { wrappedKey: wr.wrappedKey, label, unwrapKeyName: 'soak-aes', wrapMethod: 'AES_WRAP', attributes: attrs({ encrypt: true, decrypt: true }) } }), 201, 'unwrap');
    await expect(call('POST', '/v1/key/deleteKey', KEYS.km, { label }), 200, 'delete unwrapped');
  } },
  { name: 'key-lifecycle', weight: 6, run: async () => {
    const label = `soak-tmp-${++seq}`;
    await expect(call('POST', '/v1/key', KEYS.km, { label, algorithm: 'EC', curveOid: P256, attributes: attrs({ sign: true }) }), 201, 'create');
    await expect(call('POST', '/v1/key/attributes', KEYS.km, { label }), 200, 'attributes');
    await expect(call('POST', '/v1/key/deleteKey', KEYS.km, { label }), 200, 'delete');
  } },
  { name: 'attributes', weight: 8, run: async () => {
    await expect(call('POST', '/v1/key/attributes', KEYS.km, { label: 'soak-rsa' }), 200, 'attributes');
  } },
  { name: 'list', weight: 3, run: async () => {
    await expect(call('GET', '/v1/key', KEYS.km), 200, 'list');
  } },
  { name: 'random', weight: 5, run: async () => {
    await expect(call('GET', '/v1/generateRandom/64', KEYS.ko), 200, 'random');
  } },
  { name: 'data-object', weight: 4, run: async () => {
    const name = `soak-obj-${++seq}`;
    await expect(call('POST', '/v1/dataObject', KEYS.km, { name, value: b64(randomBytes(64)), attributes: { private: false, modifiable: true, destroyable: true } }), 201, 'data object');
    await expect(call('GET', `/v1/dataObject/${name}`, KEYS.km), 200, 'get data object');
    const del = await call('DELETE', `/v1/dataObject/${name}`, KEYS.km);
    if (del.status >= 300) throw new Error(`delete data object: ${del.status} ${del.text.slice(0, 200)}`);
  } },
  { name: 'async-request', weight: 4, run: async () => {
    const r = await expect(call('POST', '/v1/sign', KEYS.ko, { signRequest: { payload: b64(randomBytes(32)), signKeyName: 'soak-ska', signatureAlgorithm: 'SHA256_WITH_ECDSA' } }), 201, 'async sign');
    const id = String(r.signRequestId);
    await expect(call('GET', `/v1/request/${id}`, KEYS.ko), 200, 'request status');
    pendingRequests.push(id);
    // Cancel the oldest so the table does not only grow (cancelled requests stay queryable).
    if (pendingRequests.length > 20) {
      const old = pendingRequests.shift() as string;
      const d = await call('DELETE', `/v1/request/${old}`, KEYS.ko);
      if (d.status >= 300) throw new Error(`cancel request: ${d.status} ${d.text.slice(0, 200)}`);
    }
  } },
  { name: 'service', weight: 3, run: async () => {
    await expect(call('GET', '/v1/versionInfo', KEYS.sv), 200, 'versionInfo');
    await expect(call('GET', '/v1/keystore/statistics', KEYS.sv), 200, 'statistics');
  } },
];

const TOTAL_WEIGHT = OPS.reduce((n, o) => n + o.weight, 0);
function pickOp(): Op {
  let x = Math.random() * TOTAL_WEIGHT;
  for (const o of OPS) {
    x -= o.weight;
    if (x < 0) return o;
  }
  return OPS[0] as Op;
}

// --- measurement -------------------------------------------------------------------------------

interface Window {
  latencies: number[];
  errors: number;
  skipped: number;
  byOp: Record<string, number>;
  errorSamples: string[];
}
const newWindow = (): Window => ({ latencies: [], errors: 0, skipped: 0, byOp: {}, errorSamples: [] });

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function serverMemory(): Promise<{ rss: number; heap: number; lag: number }> {
  const r = await fetch(`${BASE}/metrics`);
  const text = await r.text();
  const num = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: num('process_resident_memory_bytes') / 2 ** 20, heap: num('nodejs_heap_size_used_bytes') / 2 ** 20, lag: num('nodejs_eventloop_lag_p99_seconds') * 1000 };
}

// --- main --------------------------------------------------------------------------------------

async function main(): Promise<number> {
  BASE = values.url ?? (await startServer());
  process.stdout.write(`soak: ${MINUTES} min at ${RATE} op/s against ${BASE} (max ${MAX_IN_FLIGHT} in flight)\n`);
  await setup();
  const mem0 = await serverMemory();
  process.stdout.write(`server after setup: rss ${mem0.rss.toFixed(1)} MiB, heap ${mem0.heap.toFixed(1)} MiB\n\n`);
  process.stdout.write('window   ops  errors  skipped  p50 ms  p99 ms  max ms  rss MiB  heap MiB  lag p99 ms\n');

  const rows: { ops: number; errors: number; p50: number; p99: number; max: number; rss: number; heap: number }[] = [];
  let win = newWindow();
  let inFlight = 0;
  let allErrors = 0;
  const end = Date.now() + MINUTES * 60_000;
  const interval = 1000 / RATE;
  let next = Date.now();
  let windowEnd = Date.now() + SAMPLE_MS;

  const launch = () => {
    if (inFlight >= MAX_IN_FLIGHT) {
      win.skipped++;
      return;
    }
    const op = pickOp();
    const w = win;
    inFlight++;
    const t0 = performance.now();
    op.run().then(
      () => {
        w.latencies.push(performance.now() - t0);
        w.byOp[op.name] = (w.byOp[op.name] ?? 0) + 1;
      },
      (e: unknown) => {
        w.errors++;
        allErrors++;
        if (w.errorSamples.length < 5) w.errorSamples.push(`${op.name}: ${(e as Error).message}`);
      },
    ).finally(() => inFlight--);
  };

  while (Date.now() < end) {
    const now = Date.now();
    while (next <= now) {
      launch();
      next += interval;
    }
    if (now >= windowEnd) {
      const done = win;
      win = newWindow();
      windowEnd += SAMPLE_MS;
      const mem = await serverMemory();
      const sorted = [...done.latencies].sort((a, b) => a - b);
      const row = { ops: sorted.length, errors: done.errors, p50: pct(sorted, 50), p99: pct(sorted, 99), max: sorted[sorted.length - 1] ?? 0, rss: mem.rss, heap: mem.heap };
      rows.push(row);
      process.stdout.write(
        `${String(rows.length).padStart(6)} ${String(row.ops).padStart(5)} ${String(row.errors).padStart(7)} ${String(done.skipped).padStart(8)} ${row.p50.toFixed(1).padStart(7)} ${row.p99.toFixed(1).padStart(7)} ${row.max.toFixed(0).padStart(7)} ${row.rss.toFixed(1).padStart(8)} ${row.heap.toFixed(1).padStart(9)} ${mem.lag.toFixed(1).padStart(11)}\n`,
      );
      for (const s of done.errorSamples) process.stdout.write(`         error: ${s}\n`);
    }
    await new Promise((r) => setTimeout(r, Math.max(1, Math.min(next, windowEnd) - Date.now())));
  }
  while (inFlight > 0) await new Promise((r) => setTimeout(r, 20));

  if (rows.length >= 2) {
    const first = rows[0] as (typeof rows)[number];
    const last = rows[rows.length - 1] as (typeof rows)[number];
    const mid = rows[Math.floor(rows.length / 2)] as (typeof rows)[number];
    const total = rows.reduce((n, r) => n + r.ops, 0);
    process.stdout.write(`\n${total} operations (${(total / (rows.length * SAMPLE_MS / 1000)).toFixed(1)}/s), ${allErrors} error(s)\n`);
    process.stdout.write(`RSS: ${first.rss.toFixed(1)} → ${mid.rss.toFixed(1)} → ${last.rss.toFixed(1)} MiB (first → middle → last window; ${(last.rss - first.rss >= 0 ? '+' : '')}${(last.rss - first.rss).toFixed(1)} MiB); heap ${first.heap.toFixed(1)} → ${last.heap.toFixed(1)} MiB\n`);
    process.stdout.write(`latency drift: p50 ${first.p50.toFixed(1)} → ${last.p50.toFixed(1)} ms, p99 ${first.p99.toFixed(1)} → ${last.p99.toFixed(1)} ms\n`);
  }
  return allErrors > 0 ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (e) {
  process.stderr.write(`soak failed: ${(e as Error).stack ?? String(e)}\n`);
} finally {
  const c = child as ChildProcess | null;
  if (c && c.exitCode === null) {
    c.kill('SIGTERM');
    await new Promise((r) => c.once('exit', r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}
process.exit(code);
