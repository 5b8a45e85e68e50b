// What a slow post-quantum signer does to everyone else (issue 5 §6): p50/p99 latency of ECDSA P-256
// signing alone, then while ML-DSA-65 signing runs concurrently — with the PQC worker pool (the
// default) and with ML-DSA run inline on the event loop (pool size 0) for comparison — plus the
// ML-DSA-65 rate and the event-loop delay. Warden runs in-process on a free port; each autocannon is a
// separate process. Usage: npm run bench:pqc [-- --duration 5 --connections 8 --pqc-connections 4]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify } from 'node:util';
import pino from 'pino';
import { loadConfig } from '../src/config/load.ts';
import { configurePqcPool, pqcPoolSize, warmPqcPool } from '../src/crypto/pqc/pool.ts';
import { buildApp } from '../src/server/app.ts';
import { openRuntime } from '../src/server/boot.ts';

const run = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const DURATION = arg('duration', 5);
const CONNECTIONS = arg('connections', 8);
const PQC_CONNECTIONS = arg('pqc-connections', 4);
const KM = 'bench-km-key';
const KO = 'bench-ko-key';

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; max: number };
  non2xx: number;
  errors: number;
}

function cannon(url: string, body: unknown, connections: number): Promise<CannonResult> {
  const bin = path.join(path.dirname(createRequire(import.meta.url).resolve('autocannon')), 'autocannon.js');
  return run(process.execPath, [
    bin, '-c', String(connections), '-d', String(DURATION), '-m', 'POST', '-H', 'content-type=application/json', '-H', `x-api-key=${KO}`,
    '-b', JSON.stringify(body), '-j', url,
  ], { maxBuffer: 64 * 1024 * 1024 }).then(({ stdout }) => JSON.parse(stdout) as CannonResult);
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(process.platform === 'linux' ? '/dev/shm' : tmpdir(), 'warden-bench-'));
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
  const poolSize = pqcPoolSize();
  try {
    const call = async (url: string, body: unknown, key: string) => {
      const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
      if (r.status >= 300) throw new Error(`${url}: ${r.status} ${await r.text()}`);
      return r.json();
    };
    const attrs = { sign: true, decrypt: false, unwrap: false };
    await call('/v1/key', { label: 'ec', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: attrs }, KM);
    await call('/v1/key', { label: 'mldsa', algorithm: 'ML-DSA-65', attributes: attrs }, KM);
    const payload = Buffer.alloc(256, 7).toString('base64');
    const ecBody = { signRequest: { payload, signKeyName: 'ec', signatureAlgorithm: 'SHA256_WITH_ECDSA' } };
    const pqBody = { signRequest: { payload, signKeyName: 'mldsa', signatureAlgorithm: 'ML_DSA' } };
    warmPqcPool();
    await call('/v1/synchronousSign', pqBody, KO);
    await call('/v1/synchronousSign', ecBody, KO);

    const delay = monitorEventLoopDelay({ resolution: 5 });
    const phase = async (name: string, withPqc: boolean) => {
      delay.reset();
      delay.enable();
      const [ec, pq] = await Promise.all([cannon(`${base}/v1/synchronousSign`, ecBody, CONNECTIONS), withPqc ? cannon(`${base}/v1/synchronousSign`, pqBody, PQC_CONNECTIONS) : null]);
      delay.disable();
      return { name, ec, pq, loopP99: delay.percentile(99) / 1e6 };
    };
    const rows = [];
    rows.push(await phase('ECDSA alone', false));
    rows.push(await phase(`ECDSA + ML-DSA-65, worker pool (${poolSize})`, true));
    configurePqcPool({ size: 0 });
    rows.push(await phase('ECDSA + ML-DSA-65, inline (pool 0)', true));
    configurePqcPool({ size: poolSize });

    console.log(`# bench/pqc — ${cpus().length} CPUs, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}, ${DURATION} s per phase, ECDSA ${CONNECTIONS} connections, ML-DSA ${PQC_CONNECTIONS} connections\n`);
    console.log('| phase | ECDSA req/s | ECDSA p50 ms | ECDSA p99 ms | ML-DSA-65 req/s | event-loop delay p99 ms |');
    console.log('|---|---|---|---|---|---|');
    for (const r of rows) {
      const bad = r.ec.non2xx + r.ec.errors + (r.pq ? r.pq.non2xx + r.pq.errors : 0);
      console.log(`| ${r.name} | ${r.ec.requests.average.toFixed(0)} | ${r.ec.latency.p50} | ${r.ec.latency.p99} | ${r.pq ? r.pq.requests.average.toFixed(1) : '–'} | ${r.loopP99.toFixed(1)} |${bad ? ` (${bad} errors)` : ''}`);
    }
  } finally {
    await app.close();
    await runtime.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
