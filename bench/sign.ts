// Sign/verify/HMAC endpoint throughput next to the raw node:crypto rate measured in the same run.
// Starts Warden in-process on a free port, creates the keys through the API, drives each endpoint with
// autocannon (a separate process, so the load generator does not share Warden's event loop) and prints a
// table with the ratio endpoint / raw. Usage: npm run bench:sign [-- --duration 3 --connections 16]
import { execFile } from 'node:child_process';
import { createHmac, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import pino from 'pino';
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

const KM = 'bench-km-key';
const KO = 'bench-ko-key';

interface RawRate {
  sync: number;
  async: number;
}

/** ops/s of `fn` run back to back for `seconds`. */
function rateSync(fn: () => void, seconds = RAW_SECONDS): number {
  for (let i = 0; i < 50; i++) fn();
  let n = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 10; i++) fn();
    n += 10;
  }
  return n / ((performance.now() - start) / 1000);
}

/** ops/s of a callback-style operation with `inFlight` outstanding calls (threadpool). */
function rateAsync(fn: (done: () => void) => void, seconds = RAW_SECONDS, inFlight = 64): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    let stop = false;
    let running = 0;
    const start = performance.now();
    const launch = () => {
      running++;
      fn(() => {
        running--;
        n++;
        if (!stop) launch();
        else if (running === 0) resolve(n / ((performance.now() - start) / 1000));
      });
    };
    for (let i = 0; i < inFlight; i++) launch();
    setTimeout(() => {
      stop = true;
    }, seconds * 1000);
  });
}

interface Op {
  name: string;
  url: string;
  body: unknown;
  raw: () => Promise<RawRate>;
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

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'warden-bench-'));
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

  try {
    const call = async (url: string, body: unknown, key: string) => {
      const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
      const json = (await r.json()) as Record<string, unknown>;
      if (r.status >= 300) throw new Error(`${url}: ${r.status} ${JSON.stringify(json)}`);
      return json;
    };
    const attrs = { sign: true, verify: true, decrypt: false, unwrap: false };
    await call('/v1/key', { label: 'rsa', algorithm: 'RSA', keySize: 2048, attributes: attrs }, KM);
    await call('/v1/key', { label: 'ec', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: attrs }, KM);
    await call('/v1/key', { label: 'ed', algorithm: 'ED', attributes: attrs }, KM);
    await call('/v1/key', { label: 'hmac', algorithm: 'HMACSHA256', attributes: attrs }, KM);

    const payload = randomBytes(1024);
    const p64 = payload.toString('base64');
    const signBody = (key: string, alg: string) => ({ signRequest: { payload: p64, payloadType: 'UNSPECIFIED', signKeyName: key, signatureAlgorithm: alg, signatureType: 'DER' } });
    const ecSig = (await call('/v1/synchronousSign', signBody('ec', 'SHA256_WITH_ECDSA'), KO)).signature as string;

    // Raw node:crypto on keys of the same kind, same payload.
    const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const edKey = generateKeyPairSync('ed25519');
    const ecRawSig = sign('sha256', payload, ecKey.privateKey);
    const hmacKey = randomBytes(32);
    const signRate = (alg: string | null, key: KeyObject) => async (): Promise<RawRate> => ({
      sync: rateSync(() => sign(alg, payload, key)),
      async: await rateAsync((done) => sign(alg, payload, key, () => done())),
    });
    const ops: Op[] = [
      { name: 'sign RSA-2048 PKCS#1 SHA-256', url: '/v1/synchronousSign', body: signBody('rsa', 'SHA256_WITH_RSA'), raw: signRate('sha256', rsaKey.privateKey) },
      { name: 'sign ECDSA P-256 SHA-256', url: '/v1/synchronousSign', body: signBody('ec', 'SHA256_WITH_ECDSA'), raw: signRate('sha256', ecKey.privateKey) },
      { name: 'sign Ed25519', url: '/v1/synchronousSign', body: signBody('ed', 'EDDSA'), raw: signRate(null, edKey.privateKey) },
      {
        name: 'verify ECDSA P-256 SHA-256', url: '/v1/verify',
        body: { verifySignatureRequest: { signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA', payload: p64, signature: ecSig } },
        raw: async () => ({
          sync: rateSync(() => verify('sha256', payload, ecKey.publicKey, ecRawSig)),
          async: await rateAsync((done) => verify('sha256', payload, ecKey.publicKey, ecRawSig, () => done())),
        }),
      },
      {
        name: 'HMAC-SHA256 1 KiB', url: '/v1/synchronousHmac', body: { hmacRequest: { keyName: 'hmac', payload: p64 } },
        // HMAC has no callback form in node:crypto: the "async" column repeats the synchronous rate.
        raw: async () => {
          const r = rateSync(() => createHmac('sha256', hmacKey).update(payload).digest());
          return { sync: r, async: r };
        },
      },
    ];

    const rows: string[][] = [];
    for (const op of ops) {
      const raw = await op.raw();
      const res = await cannon(base + op.url, op.body);
      if (res.non2xx || res.errors) throw new Error(`${op.name}: ${res.non2xx} non-2xx responses, ${res.errors} errors`);
      const best = Math.max(raw.sync, raw.async);
      rows.push([
        op.name, res.requests.average.toFixed(0), `${res.latency.p50} / ${res.latency.p99}`,
        raw.sync.toFixed(0), raw.async.toFixed(0), `${((res.requests.average / best) * 100).toFixed(1)} %`,
      ]);
    }

    const header = ['operation', 'endpoint req/s', 'p50 / p99 ms', 'node sync ops/s', 'node async ops/s', 'endpoint / best raw'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ') + ' |';
    console.log(`\nWarden ${runtime.services.version}, node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), ` +
      `autocannon -c ${CONNECTIONS} -d ${DURATION}, database ${config.database.url.split(':')[0]}, payload 1 KiB\n`);
    console.log(line(header));
    console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
    for (const r of rows) console.log(line(r));
    // The fixed cost every key operation pays besides the crypto, measured in the same process.
    const { keystore, audit } = runtime.services;
    const perCall = async (fn: () => Promise<unknown>) => {
      for (let i = 0; i < 20; i++) await fn();
      let n = 0;
      const start = performance.now();
      while (performance.now() - start < RAW_SECONDS * 1000) {
        await fn();
        n++;
      }
      return (performance.now() - start) / n;
    };
    const useMs = await perCall(() => keystore.use('ec', null, 'sign', () => null));
    const auditMs = await perCall(() => audit.append({ requestId: 'bench', principal: null, method: 'POST', route: '/bench', action: 'bench', keyLabel: null, outcome: 'success' }));
    console.log(`\nFixed cost per key operation, sequential, in-process: keystore.use (read, unseal cache, use counter) ${useMs.toFixed(2)} ms, audit append ${auditMs.toFixed(2)} ms.`);
    console.log('Every endpoint call pays both (two database commits) on top of the crypto shown in the raw columns.');
  } finally {
    await app.close();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
