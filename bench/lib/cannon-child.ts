// autocannon as its own process (bench/lib/load.ts): takes a LoadSpec JSON file in argv[2], prints one
// JSON line {rps, p50, p99, bad, total}. Bodies are sent in turn, one per request.
import { readFileSync } from 'node:fs';
import { readTls, type LoadSpec } from './load.ts';

interface CannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}

const spec = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as LoadSpec;
// autocannon ships no type declarations: the one call used here, typed by hand.
const moduleName = 'autocannon';
const { default: autocannon } = (await import(moduleName)) as { default: (o: Record<string, unknown>) => Promise<CannonResult> };
const r = spec.request;
const headers = { ...(r.bodies ? { 'content-type': 'application/json' } : {}), ...r.headers };
const requests = (r.bodies ?? [undefined]).map((body) => ({ method: r.method, path: r.path, headers, ...(body !== undefined ? { body } : {}) }));
const tls = spec.tls ? readTls(spec.tls) : null;
const result = await autocannon({
  url: spec.base,
  connections: spec.connections,
  duration: spec.seconds,
  requests,
  ...(tls ? { tlsOptions: { ...tls, servername: 'localhost' } } : {}),
});
process.stdout.write(JSON.stringify({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, bad: result.non2xx + result.errors + result.timeouts, total: result.requests.total }));
process.exit(0);
