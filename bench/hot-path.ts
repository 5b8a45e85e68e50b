// Event-loop CPU per call of the request path, in one process without HTTP or a load generator:
// app.inject() (routing, hooks, auth, body parse + schema, handler, keystore, audit queue, response),
// with the audit batches handed to a sink that answers at once (as the cluster primary would, minus the
// IPC). Robust on a shared machine: it counts this thread's CPU time, not throughput.
//   node --import tsx bench/hot-path.ts [--cases get,ec,hmac] [--calls 20000] [--concurrency 64]
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { InjectOptions } from 'fastify';
import { loadConfig } from '../src/config/load.ts';
import { buildApp } from '../src/server/app.ts';
import { createLogger, openRuntime } from '../src/server/boot.ts';

const argText = (name: string): string | null => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
};
const CALLS = Number(argText('calls') ?? 20000);
const CONCURRENCY = Number(argText('concurrency') ?? 64);
const KEYS = { keyManagementToken: 'hp-km', keyOperationToken: 'hp-ko', serviceToken: 'hp-sv', approverToken: 'hp-ap', approverKeyManagementToken: 'hp-am' };

/** CPU µs of this process's main thread (utime + stime, 1/100 s ticks) and of the whole process. */
function cpu(): { loop: number; all: number } {
  const read = (f: string) => {
    const t = readFileSync(f, 'utf8');
    const x = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return (Number(x[11]) + Number(x[12])) * 10_000;
  };
  return { loop: read(`/proc/self/task/${process.pid}/stat`), all: read('/proc/self/stat') };
}

const dir = mkdtempSync(path.join(tmpdir(), 'warden-hot-'));
try {
  const cfg = loadConfig({ env: { WARDEN_DATA_DIR: dir, WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' }, cwd: dir });
  Object.assign(cfg.apiAuthentication, { enabled: true, ...KEYS });
  const logger = createLogger({ ...cfg, logging: { level: 'warn' } });
  const rt = await openRuntime(cfg, logger);
  // The primary's side of a cluster: every batch committed at once.
  let seq = 0;
  rt.services.audit.useSink({ write: async (entries) => entries.map(() => ++seq) });
  const app = await buildApp(rt.services, { loggerInstance: logger });
  const km = { 'x-api-key': KEYS.keyManagementToken, 'content-type': 'application/json' };
  const ko = { 'x-api-key': KEYS.keyOperationToken, 'content-type': 'application/json' };
  const der = (k: KeyObject, type: 'pkcs8' | 'spki') => k.export({ type, format: 'der' }).toString('base64');
  const imp = async (body: unknown) => {
    const r = await app.inject({ method: 'POST', url: '/v1/key/import/plain', headers: km, payload: JSON.stringify(body) });
    if (r.statusCode >= 300) throw new Error(r.body);
  };
  const on = { sign: true, verify: true, decrypt: false, unwrap: false };
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ed = generateKeyPairSync('ed25519');
  await imp({ label: 'ec', algorithm: 'EC', privateKey: der(ec.privateKey, 'pkcs8'), publicKey: der(ec.publicKey, 'spki'), attributes: on });
  await imp({ label: 'ed', algorithm: 'ED', privateKey: der(ed.privateKey, 'pkcs8'), publicKey: der(ed.publicKey, 'spki'), attributes: on });
  await imp({ label: 'hmac', algorithm: 'HMACSHA256', secretKey: randomBytes(32).toString('base64'), attributes: on });
  await imp({ label: 'aes', algorithm: 'AES', secretKey: randomBytes(32).toString('base64'), attributes: { encrypt: true, decrypt: true, sign: false, unwrap: false } });
  const p64 = randomBytes(1024).toString('base64');
  const sign = (label: string, alg: string) => JSON.stringify({ signRequest: { payload: p64, payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: alg, signatureType: 'DER' } });
  const cases: Record<string, InjectOptions> = {
    get: { method: 'GET', url: '/v1/versionInfo', headers: { 'x-api-key': KEYS.serviceToken } },
    ec: { method: 'POST', url: '/v1/synchronousSign', headers: ko, payload: sign('ec', 'SHA256_WITH_ECDSA') },
    ed: { method: 'POST', url: '/v1/synchronousSign', headers: ko, payload: sign('ed', 'EDDSA') },
    hmac: { method: 'POST', url: '/v1/synchronousHmac', headers: ko, payload: JSON.stringify({ hmacRequest: { keyName: 'hmac', payload: p64 } }) },
    aes: { method: 'POST', url: '/v1/encrypt', headers: ko, payload: JSON.stringify({ encryptRequest: { payload: p64, encryptKeyName: 'aes', cipherAlgorithm: 'AES_GCM', tagLength: 128 } }) },
  };
  const run = async (req: InjectOptions, n: number) => {
    let left = n;
    const lane = async () => {
      while (left-- > 0) {
        const r = await app.inject(req);
        if (r.statusCode >= 300) throw new Error(`${r.statusCode} ${r.body}`);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
  };
  for (const name of (argText('cases') ?? 'get,hmac,ec').split(',')) {
    const req = cases[name];
    if (!req) throw new Error(`unknown case ${name}`);
    await run(req, Math.min(CALLS, 5000));
    const results: number[][] = [];
    for (let round = 0; round < 3; round++) {
      const before = cpu();
      await run(req, CALLS);
      const after = cpu();
      results.push([(after.loop - before.loop) / CALLS, (after.all - before.all) / CALLS]);
    }
    results.sort((a, b) => (a[0] as number) - (b[0] as number));
    const [loop, all] = results[1] as number[];
    process.stdout.write(`${name.padEnd(6)} loop ${(loop as number).toFixed(1).padStart(6)} µs/call  process ${(all as number).toFixed(1).padStart(6)} µs/call  (median of 3 × ${CALLS})\n`);
  }
  await app.close();
  await rt.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
