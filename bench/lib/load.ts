// The load generator of bench/run.ts: wrk when it is installed (`command -v wrk`; C, one thread, the
// cheapest client for the CPU the server shares with it), else autocannon in a child process so it never
// shares an event loop with the bench itself. TLS runs always use autocannon (wrk sends no client
// certificate). Every run is keep-alive on loopback with a fixed number of connections and duration.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  /** JSON bodies, sent in turn (one per request, cycling); none for GET. */
  bodies?: string[];
}

export interface LoadSpec {
  base: string;
  request: LoadRequest;
  seconds: number;
  connections: number;
  tls?: { ca: string; cert?: string; key?: string };
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  /** Responses other than 2xx plus socket errors (timeouts after 10 s). */
  bad: number;
  /** Requests completed (for the share of bad ones). */
  total: number;
  tool: 'wrk' | 'autocannon';
}

let wrkPath: string | null | undefined;

export function wrkAvailable(): string | null {
  if (wrkPath === undefined) {
    try {
      wrkPath = execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || null;
    } catch {
      wrkPath = null;
    }
  }
  return wrkPath;
}

export async function load(spec: LoadSpec): Promise<LoadResult> {
  return wrkAvailable() && !spec.tls ? wrk(spec) : autocannon(spec);
}

// ---- wrk -----------------------------------------------------------------------------------------

function luaString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

function wrkScript(r: LoadRequest): string {
  const lines = [`wrk.method = ${luaString(r.method)}`];
  for (const [k, v] of Object.entries({ ...(r.bodies ? { 'content-type': 'application/json' } : {}), ...r.headers })) lines.push(`wrk.headers[${luaString(k)}] = ${luaString(v)}`);
  const bodies = r.bodies ?? [];
  if (bodies.length === 1) lines.push(`wrk.body = ${luaString(bodies[0] as string)}`);
  if (bodies.length > 1) {
    lines.push(`local bodies = { ${bodies.map(luaString).join(', ')} }`, 'local i = 0');
    lines.push('request = function()', '  i = i % #bodies + 1', `  return wrk.format(nil, ${luaString(r.path)}, nil, bodies[i])`, 'end');
  }
  return lines.join('\n') + '\n';
}

/** wrk prints durations as 812.00us, 1.23ms or 1.05s. */
function millis(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text);
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60000;
}

async function wrk(spec: LoadSpec): Promise<LoadResult> {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-wrk-'));
  try {
    const script = path.join(dir, 'req.lua');
    writeFileSync(script, wrkScript(spec.request));
    const { stdout } = await run(wrkAvailable() as string, ['-t1', `-c${spec.connections}`, `-d${spec.seconds}s`, '--timeout', '10s', '--latency', '-s', script, spec.base + spec.request.path], { maxBuffer: 16 * 1024 * 1024 });
    const pct = (p: string) => millis(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(stdout)?.[1] ?? '');
    const non2xx = Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout)?.[1] ?? 0);
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
    const errors = socket ? socket.slice(1).reduce((n, v) => n + Number(v), 0) : 0;
    const total = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? 0);
    return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? 0), p50: pct('50'), p99: pct('99'), bad: non2xx + errors, total, tool: 'wrk' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- autocannon (child process) ------------------------------------------------------------------

const CHILD = fileURLToPath(new URL('./cannon-child.ts', import.meta.url));

async function autocannon(spec: LoadSpec): Promise<LoadResult> {
  // The spec travels in a file: a thousand request bodies do not fit in argv (E2BIG).
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-cannon-'));
  try {
    const file = path.join(dir, 'spec.json');
    writeFileSync(file, JSON.stringify(spec));
    const { stdout } = await run(process.execPath, ['--import', 'tsx', CHILD, file], { maxBuffer: 64 * 1024 * 1024 });
    const r = JSON.parse(stdout) as { rps: number; p50: number; p99: number; bad: number; total: number };
    return { ...r, tool: 'autocannon' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** TLS material for the child: file names travel, contents are read there. */
export function readTls(tls: NonNullable<LoadSpec['tls']>): { ca: Buffer; cert?: Buffer; key?: Buffer } {
  return { ca: readFileSync(tls.ca), ...(tls.cert ? { cert: readFileSync(tls.cert) } : {}), ...(tls.key ? { key: readFileSync(tls.key) } : {}) };
}
