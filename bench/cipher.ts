// Encrypt/decrypt endpoint throughput next to the raw node:crypto rate measured in the same run:
// AES-256-GCM encryption of 1 KiB and RSA-2048 decryption (OAEP-SHA-256 and PKCS#1 v1.5 with implicit
// rejection), the RSA ones with the worker pool and inline, plus the event-loop delay under that load.
// Warden runs in-process on a free port; autocannon is a separate process. Usage:
//   npm run bench:cipher [-- --duration 3 --connections 16 --data-dir /dev/shm]
import { execFile } from 'node:child_process';
import { constants, createCipheriv, generateKeyPairSync, privateDecrypt, publicEncrypt, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pino from 'pino';
import { implicitRejectionKey, privateExponentHash, unpadPkcs1Type2 } from '../src/crypto/ciphers/implicit-rejection.ts';
import { configureRsaPool, rsaPoolSize } from '../src/crypto/ciphers/rsa-pool.ts';
import { rsaDecrypt } from '../src/crypto/ciphers/rsa.ts';
import { loadConfig } from '../src/config/load.ts';
import { buildApp } from '../src/server/app.ts';
import { openRuntime } from '../src/server/boot.ts';

const run = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DURATION = arg('duration', 3);
const CONNECTIONS = arg('connections', 16);
const RAW_SECONDS = arg('raw-seconds', 1.5);
/** Where the database lives: a RAM disk (`--data-dir /dev/shm`) takes the fsync of every commit out of the numbers. */
const DATA_PARENT = (() => {
  const i = process.argv.indexOf('--data-dir');
  return i >= 0 ? process.argv[i + 1] : tmpdir();
})();
const KM = 'bench-km-key';
const KO = 'bench-ko-key';

/** ops/s of `fn` run back to back for RAW_SECONDS. */
function rateSync(fn: () => void): number {
  for (let i = 0; i < 20; i++) fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < RAW_SECONDS * 1000) {
    fn();
    n++;
  }
  return n / ((performance.now() - start) / 1000);
}

/** ops/s of a promise-returning operation with `inFlight` outstanding calls. */
async function rateAsync(fn: () => Promise<unknown>, inFlight = CONNECTIONS): Promise<number> {
  let n = 0;
  const start = performance.now();
  const end = start + RAW_SECONDS * 1000;
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (performance.now() < end) {
      await fn();
      n++;
      // Each call is its own macrotask, as separate requests are: timers (and the delay monitor) get their turn.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }));
  return n / ((performance.now() - start) / 1000);
}

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
}

async function cannon(url: string, body: unknown): Promise<CannonResult> {
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('autocannon')), 'autocannon.js');
  const { stdout } = await run(process.execPath, [
    bin, '-c', String(CONNECTIONS), '-d', String(DURATION), '-m', 'POST', '-H', 'content-type=application/json', '-H', `x-api-key=${KO}`,
    '-b', JSON.stringify(body), '-j', url,
  ], { maxBuffer: 64 * 1024 * 1024 });
  return JSON.parse(stdout) as CannonResult;
}

interface Op {
  name: string;
  url: string;
  body: unknown;
  /** Worker-pool size while the endpoint is driven (undefined: leave as is). */
  pool?: number;
  raw: () => Promise<{ rate: number; label: string }>;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(DATA_PARENT, 'warden-bench-cipher-'));
  const config = loadConfig({
    env: {
      WARDEN_DATA_DIR: dataDir,
      WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: KM,
      WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: KO,
      WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: 'bench-sv-key',
      WARDEN_API_AUTHENTICATION_APPROVER_TOKEN: 'bench-ap-key',
      WARDEN_API_AUTHENTICATION_APPROVER_KEY_MANAGEMENT_TOKEN: 'bench-am-key',
    },
    cwd: dataDir,
  });
  const runtime = await openRuntime(config, pino({ level: 'silent' }));
  const app = await buildApp(runtime.services);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const defaultPool = rsaPoolSize();

  try {
    const call = async (url: string, body: unknown, key: string) => {
      const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
      const json = (await r.json()) as Record<string, unknown>;
      if (r.status >= 300) throw new Error(`${url}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    // The same key material on both sides: the raw rates use exactly the keys Warden holds.
    const aesKey = randomBytes(32);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const attrs = { decrypt: true, sign: false, unwrap: false };
    await call('/v1/key/import/plain', { label: 'aes', algorithm: 'AES', secretKey: aesKey.toString('base64'), attributes: attrs }, KM);
    await call('/v1/key/import/plain', { label: 'rsa', algorithm: 'RSA', privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'), attributes: attrs }, KM);

    const payload = randomBytes(1024);
    const secret = randomBytes(32);
    const oaepCt = publicEncrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, secret);
    const pkcs1Ct = publicEncrypt({ key: rsa.publicKey, padding: constants.RSA_PKCS1_PADDING }, secret);
    const dHash = privateExponentHash(rsa.privateKey);
    const decryptBody = (cipherAlgorithm: string, ct: Buffer) => ({ decryptRequest: { encryptedPayload: ct.toString('base64'), decryptKeyName: 'rsa', cipherAlgorithm, initializationVector: null } });

    const rawOaep = () => privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, oaepCt);
    const rawPkcs1 = () => unpadPkcs1Type2(privateDecrypt({ key: rsa.privateKey, padding: constants.RSA_NO_PADDING }, pkcs1Ct), implicitRejectionKey(dHash, pkcs1Ct, 256));
    const oaepSync = async () => ({ rate: rateSync(rawOaep), label: 'privateDecrypt, inline' });
    // Warden's RSA decryption without HTTP, database or audit: what the pool does to the event loop.
    const material = { privateKey: rsa.privateKey.export({ type: 'pkcs8', format: 'der' }), publicKey: rsa.publicKey.export({ type: 'spki', format: 'der' }) };
    const oaep256 = { name: 'RSA_PADDING_OAEP_WITH_SHA256', padding: 'oaep', oaepHash: 'sha256' } as const;
    const layer = async () => ({ rate: await rateAsync(() => rsaDecrypt(oaep256, material, oaepCt)), label: `rsaDecrypt, ${CONNECTIONS} in flight` });
    const ops: Op[] = [
      {
        name: 'encrypt AES-256-GCM 1 KiB', url: '/v1/encrypt',
        body: { encryptRequest: { payload: payload.toString('base64'), encryptKeyName: 'aes', cipherAlgorithm: 'AES_GCM', tagLength: 128 } },
        raw: async () => ({
          rate: rateSync(() => {
            const c = createCipheriv('aes-256-gcm', aesKey, randomBytes(12));
            Buffer.concat([c.update(payload), c.final(), c.getAuthTag()]);
          }),
          label: 'createCipheriv, inline',
        }),
      },
      { name: 'decrypt RSA-2048 OAEP-SHA-256, pool', url: '/v1/synchronousDecrypt', body: decryptBody('RSA_PADDING_OAEP_WITH_SHA256', oaepCt), pool: defaultPool, raw: oaepSync },
      { name: 'decrypt RSA-2048 OAEP-SHA-256, inline', url: '/v1/synchronousDecrypt', body: decryptBody('RSA_PADDING_OAEP_WITH_SHA256', oaepCt), pool: 0, raw: oaepSync },
      {
        name: 'decrypt RSA-2048 PKCS#1 v1.5 (implicit rejection), pool', url: '/v1/synchronousDecrypt', body: decryptBody('RSA_PADDING_PKCS', pkcs1Ct), pool: defaultPool,
        raw: async () => ({ rate: rateSync(rawPkcs1), label: 'raw RSA + unpadding, inline' }),
      },
      { name: 'crypto layer only: rsaDecrypt OAEP, pool', url: '', body: null, pool: defaultPool, raw: layer },
      { name: 'crypto layer only: rsaDecrypt OAEP, inline', url: '', body: null, pool: 0, raw: layer },
    ];

    const rows: string[][] = [];
    for (const op of ops) {
      if (op.pool !== undefined) configureRsaPool({ size: op.pool });
      if (!op.url) {
        const delay = monitorEventLoopDelay({ resolution: 5 });
        delay.enable();
        const raw = await op.raw();
        delay.disable();
        rows.push([op.name, '—', '—', `${raw.rate.toFixed(0)} (${raw.label})`, '—', (delay.percentile(99) / 1e6).toFixed(1)]);
        continue;
      }
      const raw = await op.raw();
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      const res = await cannon(base + op.url, op.body);
      delay.disable();
      if (res.non2xx || res.errors) throw new Error(`${op.name}: ${res.non2xx} non-2xx responses, ${res.errors} errors`);
      rows.push([
        op.name, res.requests.average.toFixed(0), `${res.latency.p50} / ${res.latency.p99}`, `${raw.rate.toFixed(0)} (${raw.label})`,
        `${((res.requests.average / raw.rate) * 100).toFixed(1)} %`, (delay.percentile(99) / 1e6).toFixed(1),
      ]);
    }
    configureRsaPool({ size: defaultPool });

    const header = ['operation', 'endpoint req/s', 'p50 / p99 ms', 'raw node:crypto ops/s', 'endpoint / raw', 'event-loop delay p99 ms'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
    console.log(`\nWarden ${runtime.services.version}, node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), ` +
      `autocannon -c ${CONNECTIONS} -d ${DURATION}, RSA worker pool: ${defaultPool} thread(s), database ${config.database.url.split(':')[0]} in ${DATA_PARENT}\n`);
    console.log(line(header));
    console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
    for (const r of rows) console.log(line(r));
    console.log('\n"inline" rows run the RSA private-key operation on the event loop (configureRsaPool({ size: 0 })); the event-loop');
    console.log('delay column is what every other request waits for meanwhile. Each endpoint call also pays two database commits.');
  } finally {
    await app.close();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
