// Test keys made by the openssl CLI (independent of node:crypto) and imported into a test Warden, plus
// small wrappers to run openssl sign/verify on temp files.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import type { TestWarden } from './runtime.ts';

const run = promisify(execFile);

export interface OpenSslResult {
  ok: boolean;
  stdout: string;
  stderr: string;
}

export async function openssl(args: string[]): Promise<OpenSslResult> {
  try {
    const { stdout, stderr } = await run('openssl', args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
    return { ok: true, stdout, stderr };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

export class TempFiles {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'warden-sig-'));
  private n = 0;
  write(data: Buffer | string, ext = 'bin'): string {
    const p = path.join(this.dir, `f${this.n++}.${ext}`);
    writeFileSync(p, data);
    return p;
  }
  name(ext = 'bin'): string {
    return path.join(this.dir, `f${this.n++}.${ext}`);
  }
  read(p: string): Buffer {
    return readFileSync(p);
  }
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TestKey {
  label: string;
  algorithm: 'RSA' | 'EC' | 'ED' | 'DSA';
  curveOid: string | null;
  /** openssl / node curve name for EC keys. */
  curveName: string | null;
  privatePem: string;
  publicPem: string;
  pkcs8: Buffer;
  spki: Buffer;
}

let dsaParams: string | null = null;

/** Generates a key with `openssl genpkey` (DSA from shared 2048/256 parameters). */
export async function opensslKey(files: TempFiles, algorithm: TestKey['algorithm'], opts: { bits?: number; curve?: string } = {}): Promise<Omit<TestKey, 'label' | 'curveOid'>> {
  const out = files.name('pem');
  let args: string[];
  if (algorithm === 'RSA') args = ['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${opts.bits ?? 2048}`, '-out', out];
  else if (algorithm === 'EC') args = ['genpkey', '-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${opts.curve}`, '-pkeyopt', 'ec_param_enc:named_curve', '-out', out];
  else if (algorithm === 'ED') args = ['genpkey', '-algorithm', 'ED25519', '-out', out];
  else {
    if (!dsaParams) {
      dsaParams = files.name('pem');
      const r = await openssl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:2048', '-pkeyopt', 'dsa_paramgen_q_bits:256', '-out', dsaParams]);
      assert.ok(r.ok, r.stderr);
    }
    args = ['genpkey', '-paramfile', dsaParams, '-out', out];
  }
  const r = await openssl(args);
  assert.ok(r.ok, r.stderr);
  const der = files.name('der');
  // `pkey -outform DER` writes DSA keys in the traditional format; PKCS#8 is what the API takes.
  assert.ok((await openssl(['pkcs8', '-topk8', '-nocrypt', '-in', out, '-outform', 'DER', '-out', der])).ok);
  const pub = files.name('pem');
  assert.ok((await openssl(['pkey', '-in', out, '-pubout', '-out', pub])).ok);
  const pubDer = files.name('der');
  assert.ok((await openssl(['pkey', '-in', out, '-pubout', '-outform', 'DER', '-out', pubDer])).ok);
  return {
    algorithm, curveName: opts.curve ?? null,
    privatePem: out, publicPem: pub, pkcs8: files.read(der), spki: files.read(pubDer),
  };
}

export const SIGN_ATTRIBUTES = { sign: true, verify: true, decrypt: false, unwrap: false, destroyable: true };

/** Imports a private key into Warden (PKCS#8 DER) and returns the full test key. */
export async function importTestKey(w: TestWarden, label: string, key: Omit<TestKey, 'label' | 'curveOid'>, attributes: Record<string, boolean> = SIGN_ATTRIBUTES): Promise<TestKey> {
  const r = await w.call('POST', '/v1/key/import/plain', { label, algorithm: key.algorithm, privateKey: key.pkcs8.toString('base64'), attributes });
  assert.equal(r.statusCode, 201, r.body);
  return { ...key, label, curveOid: r.json().json.curveOid ?? null };
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  });
  await Promise.all(workers);
  return out;
}

/**
 * A data directory on tmpfs when there is one: the vector and matrix tests make thousands of key
 * operations, each with two fsync'ed commits (use counter, audit) that test durability, not crypto.
 */
export function fastDataDir(): string | undefined {
  try {
    if (existsSync('/dev/shm')) return mkdtempSync(path.join('/dev/shm', 'warden-test-'));
  } catch {
    // fall back to the default temporary directory
  }
  return undefined;
}
