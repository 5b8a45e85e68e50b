// The server under test: `warden serve --workers N --config <yaml>` as a separate process tree on a
// free loopback port, stopped with SIGTERM (the exit code must be 0: a clean shutdown).
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WARDEN_BIN = path.join(ROOT, 'bin', 'warden.mjs');

export interface Server {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function startServer(opts: {
  dataDir: string;
  name: string;
  workers: number;
  config: Record<string, unknown>;
  scheme?: 'http' | 'https';
  /** Node flags of the primary, inherited by the workers (e.g. --cpu-prof). */
  execArgv?: string[];
  /** The warden command to run (default: this checkout's bin/warden.mjs; bench/cpu.ts --trees). */
  bin?: string;
}): Promise<Server> {
  const file = path.join(opts.dataDir, `bench-${opts.name}.yml`);
  const port = await freePort();
  // Request logging is not part of what is measured: workers log warnings only.
  const doc = { ...opts.config, server: { host: '127.0.0.1', port, ...(opts.config.server as object | undefined) }, logging: { level: 'warn' } };
  writeFileSync(file, stringify(doc));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WARDEN_')) env[k] = v;
  env.WARDEN_DATA_DIR = opts.dataDir;
  const child = spawn(process.execPath, [...(opts.execArgv ?? []), opts.bin ?? WARDEN_BIN, 'serve', '--workers', String(opts.workers), '--config', file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const url = `${opts.scheme ?? 'http'}://127.0.0.1:${port}`;
  // Up once a TCP connection is accepted; the primary hands connections only to workers that listen,
  // and the workers start together, so a short settle lets the last one join before measuring.
  const deadline = Date.now() + 120_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`warden exited with ${child.exitCode} during start:\n${out}`);
    if (Date.now() > deadline) throw new Error(`warden did not start within 120 s:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 3000));
  return {
    url,
    pid: child.pid as number,
    stop: () => stop(child, () => out),
  };
}

function stop(child: ChildProcess, output: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`warden did not stop within 30 s:\n${output().slice(-2000)}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`warden exited with ${code} on SIGTERM:\n${output().slice(-2000)}`));
    });
    child.kill('SIGTERM');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
