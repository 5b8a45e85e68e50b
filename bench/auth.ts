// What authentication costs: throughput of a cheap endpoint (GET /v1/versionInfo) with no auth, an API
// key, a JWT (verified-token cache on and off), HTTPS without client certificates, mTLS and mTLS + OCSP
// (cached, against a real `openssl ocsp` responder), as ratios to no auth. Each mode is a fresh Warden
// on a free loopback port; autocannon runs in a child process so it does not share Warden's event loop.
// Usage: npm run bench:auth [-- --duration 3 --connections 16 --rounds 2 --warmup 1 --only mtls,jwt] (best of `rounds` per mode:
// the modes run interleaved, so a noisy neighbour on a shared machine hurts every mode alike).
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { generateKeyPair, exportSPKI, SignJWT } from 'jose';
import { createPki } from '../test/helpers/pki.ts';
import { startWarden, type RunningWarden } from '../test/helpers/tls-warden.ts';
import { ROLE_KEYS, tempDataDir } from '../test/helpers/runtime.ts';

const run = promisify(execFile);
const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};

interface CannonRequest {
  url: string;
  duration: number;
  connections: number;
  headers: Record<string, string>;
  tls?: { ca: string; cert?: string; key?: string };
}

interface CannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  '2xx': number;
}

// ---- child: the load generator ----------------------------------------------------------------
if (process.argv[2] === '--cannon') {
  const req = JSON.parse(process.argv[3]) as CannonRequest;
  // autocannon ships no type declarations: the one call used here, typed by hand.
  const moduleName = 'autocannon';
  const { default: autocannon } = (await import(moduleName)) as {
    default: (o: Record<string, unknown>) => Promise<CannonResult & { requests: { average: number } }>;
  };
  const tlsOptions = req.tls
    ? { ca: readFileSync(req.tls.ca), servername: 'localhost', ...(req.tls.cert ? { cert: readFileSync(req.tls.cert), key: readFileSync(req.tls.key as string) } : {}) }
    : undefined;
  const result = await autocannon({ url: req.url, duration: req.duration, connections: req.connections, headers: req.headers, ...(tlsOptions ? { tlsOptions } : {}) });
  process.stdout.write(JSON.stringify({ requests: result.requests, latency: result.latency, non2xx: result.non2xx, errors: result.errors, '2xx': result['2xx'] }));
  process.exit(0);
}

// ---- parent ------------------------------------------------------------------------------------
const DURATION = arg('duration', 3);
const CONNECTIONS = arg('connections', 16);
const ROUNDS = arg('rounds', 2);
const WARMUP = arg('warmup', 1);
const SELF = fileURLToPath(import.meta.url);

async function cannon(req: Omit<CannonRequest, 'duration' | 'connections'>, duration = DURATION): Promise<CannonResult> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', SELF, '--cannon', JSON.stringify({ ...req, duration, connections: CONNECTIONS })], {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as CannonResult;
}

interface Mode {
  name: string;
  config: Record<string, unknown>;
  headers?: Record<string, string>;
  clientCert?: boolean;
  after?: (w: RunningWarden) => string;
}

async function main(): Promise<void> {
  const pki = await createPki();
  const dataDir = tempDataDir();
  const responder = await pki.startOcsp();
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const pem = path.join(pki.dir, 'jwt.pem');
  writeFileSync(pem, await exportSPKI(publicKey));
  const jwt = await new SignJWT({ sub: 'bench' })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer('https://idp.bench')
    .setAudience('warden')
    .setExpirationTime('1h')
    .sign(privateKey);
  const jwtConfig = (tokenCacheSize: number) => ({
    apiAuthentication: { enabled: false },
    jwt: { enabled: true, publicKeys: [pem], issuer: 'https://idp.bench', audience: 'warden', algorithms: ['ES256'], tokenCacheSize },
  });
  const tls = (clientAuthentication: string, ocsp = false) => ({
    apiAuthentication: { enabled: false },
    tls: {
      enabled: true, certificate: pki.server.chain, privateKey: pki.server.key, clientAuthentication, trustedCertificates: [pki.root.crt],
      ocsp: { enabled: ocsp, cacheSeconds: 300 },
    },
  });

  const modes: Mode[] = [
    { name: 'no auth', config: { apiAuthentication: { enabled: false } } },
    { name: 'API key', config: {}, headers: { 'x-api-key': ROLE_KEYS.serviceToken } },
    { name: 'JWT (ES256, token cache)', config: jwtConfig(10000), headers: { authorization: `Bearer ${jwt}` } },
    { name: 'JWT (ES256, no token cache)', config: jwtConfig(0), headers: { authorization: `Bearer ${jwt}` } },
    { name: 'HTTPS, no client certificate', config: tls('none') },
    { name: 'mTLS', config: tls('need'), clientCert: true },
    {
      name: 'mTLS + OCSP (cached)', config: tls('need', true), clientCert: true,
      after: (w) => `OCSP requests sent during the last run: ${w.app.authChain.mtls?.ocsp?.requests ?? 0}`,
    },
  ];

  // --only a,b: run the modes whose names contain one of the words (the first mode stays as the baseline).
  const onlyAt = process.argv.indexOf('--only');
  if (onlyAt >= 0) {
    const words = process.argv[onlyAt + 1].toLowerCase().split(',');
    const keep = modes.filter((m, i) => i === 0 || words.some((w) => m.name.toLowerCase().includes(w)));
    modes.splice(0, modes.length, ...keep);
  }
  const rows = modes.map((m) => ({ name: m.name, rps: 0, p50: 0, p99: 0, bad: 0 }));
  const notes = new Map<string, string>();
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, m] of modes.entries()) {
        const w = await startWarden(m.config, { dataDir });
        try {
          const tlsReq = w.url.startsWith('https') ? { ca: pki.root.crt, ...(m.clientCert ? { cert: pki.client.chain, key: pki.client.key } : {}) } : undefined;
          const req = { url: `${w.url}/v1/versionInfo`, headers: m.headers ?? {}, ...(tlsReq ? { tls: tlsReq } : {}) };
          // A short unmeasured run first: JIT, TLS session and caches warm, as on a long-running server.
          if (WARMUP > 0) await cannon(req, WARMUP);
          const r = await cannon(req);
          const row = rows[i];
          row.bad += r.non2xx + r.errors;
          if (r.requests.average > row.rps) Object.assign(row, { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99 });
          if (m.after) notes.set(m.name, m.after(w));
        } finally {
          await w.close();
        }
      }
    }
  } finally {
    await responder.stop();
    pki.cleanup();
    rmSync(dataDir, { recursive: true, force: true });
  }

  const base = rows[0].rps;
  console.log(`\nGET /v1/versionInfo, autocannon -c ${CONNECTIONS} -d ${DURATION} (keep-alive), best of ${ROUNDS}, Node ${process.versions.node}, load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs\n`);
  console.log('| mode | req/s | p50 ms | p99 ms | vs no auth | non-2xx/errors |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.name} | ${Math.round(r.rps)} | ${r.p50} | ${r.p99} | ${(r.rps / base).toFixed(2)} | ${r.bad} |`);
  }
  for (const [name, n] of notes) console.log(`\n${name}: ${n}`);
  if (rows.some((r) => r.bad > 0)) process.exitCode = 1;
}

await main();
