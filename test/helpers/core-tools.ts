// Helpers for the core tests (issue 2): openssl on temp files, the warden CLI as a child process,
// free loopback ports and direct edits of the SQLite file (tamper tests).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WARDEN_BIN = path.join(REPO_ROOT, 'bin', 'warden.mjs');

export function workDir(prefix = 'warden-core-'): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function openssl(args: string[], opts: { cwd?: string; input?: Buffer | string } = {}): RunResult {
  const r = spawnSync('openssl', args, { cwd: opts.cwd, input: opts.input, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `openssl pkey -pubin -inform DER -text -noout` on an SPKI; throws when openssl refuses it. */
export function opensslPublicKeyText(spki: Buffer): string {
  const dir = workDir('warden-pk-');
  const file = path.join(dir, 'pub.der');
  writeFileSync(file, spki);
  const r = openssl(['pkey', '-pubin', '-inform', 'DER', '-in', file, '-text', '-noout']);
  if (r.status !== 0) throw new Error(`openssl pkey refused the public key: ${r.stderr}`);
  return r.stdout;
}

/** The environment for a child warden: this process's env without any WARDEN_* variable, plus `env`. */
export function wardenEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WARDEN_')) base[k] = v;
  return { ...base, ...env };
}

/** Runs `node bin/warden.mjs …args` to completion. */
export function runWarden(args: string[], env: Record<string, string>, cwd = REPO_ROOT): RunResult {
  const r = spawnSync(process.execPath, [WARDEN_BIN, ...args], { cwd, env: wardenEnv(env), encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `node bin/warden.mjs …args` without blocking the event loop (several can run at once). */
export function runWardenAsync(args: string[], env: Record<string, string>, cwd = REPO_ROOT): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const { child, stdout, stderr } = collect(spawn(process.execPath, [WARDEN_BIN, ...args], { cwd, env: wardenEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: stdout(), stderr: stderr() });
    });
  });
}

function collect(child: ChildProcess): { child: ChildProcess; stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString('utf8')));
  return { child, stdout: () => out, stderr: () => err };
}

/** Starts `node bin/warden.mjs …args` in the background, collecting its output. */
export function spawnWarden(args: string[], env: Record<string, string>, cwd: string): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [WARDEN_BIN, ...args], { cwd, env: wardenEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString('utf8')));
  return { child, output: () => text };
}

/** A loopback port that was free a moment ago (bind to 0, read it, release it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
