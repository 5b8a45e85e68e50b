// A real Warden HTTPS listener on a loopback port for the mTLS/OCSP/JWT tests (startServer with a YAML
// config), and small node https / curl clients that present client certificates.
import { execFile } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { stringify } from 'yaml';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config/load.ts';
import { startServer, type Runtime } from '../../src/server/boot.ts';
import { ROLE_KEYS, tempDataDir } from './runtime.ts';

export interface RunningWarden {
  app: FastifyInstance;
  runtime: Runtime;
  port: number;
  url: string;
  dataDir: string;
  close(): Promise<void>;
}

/**
 * Starts Warden with the given config (YAML semantics) on 127.0.0.1:0; API keys are the test keys unless
 * overridden. Pass a `dataDir` to reuse one (its attestation key is made once); it is then kept on close.
 */
export async function startWarden(config: Record<string, unknown>, opts: { dataDir?: string } = {}): Promise<RunningWarden> {
  const dataDir = opts.dataDir ?? tempDataDir();
  const file = path.join(dataDir, 'warden.yml');
  const doc = {
    server: { host: '127.0.0.1', port: 0 },
    logging: { level: 'silent' },
    ...config,
    apiAuthentication: { enabled: true, ...ROLE_KEYS, ...(config.apiAuthentication as object | undefined) },
  };
  writeFileSync(file, stringify(doc));
  const cfg = loadConfig({ file, env: { WARDEN_DATA_DIR: dataDir }, cwd: dataDir });
  const { app, runtime } = await startServer(cfg);
  const port = (app.server.address() as AddressInfo).port;
  const scheme = cfg.tls.enabled ? 'https' : 'http';
  return {
    app, runtime, port, dataDir,
    url: `${scheme}://127.0.0.1:${port}`,
    async close() {
      await app.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ClientCert {
  /** PEM file with the certificate (and its chain). */
  cert: string;
  key: string;
}

export interface HttpResult {
  status: number;
  body: string;
  json(): Record<string, unknown>;
}

/** One request on a fresh TLS connection (no agent: every call does a full handshake). */
export function httpsRequest(
  url: string,
  opts: { ca: string; client?: ClientCert | null; method?: string; headers?: Record<string, string>; body?: string },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      {
        method: opts.method ?? 'GET',
        agent: false,
        ca: readFileSync(opts.ca),
        servername: 'localhost',
        ...(opts.client ? { cert: readFileSync(opts.client.cert), key: readFileSync(opts.client.key) } : {}),
        headers: { ...(opts.body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** The same through the curl binary: resolves with the exit code, status and body. */
export function curl(
  url: string,
  opts: { ca: string; client?: ClientCert | null; headers?: Record<string, string>; extra?: string[] },
): Promise<{ code: number; status: number; body: string; stderr: string }> {
  const args = ['-sS', '--max-time', '10', '--cacert', opts.ca, '-o', '-', '-w', '\n%{http_code}'];
  if (opts.client) args.push('--cert', opts.client.cert, '--key', opts.client.key);
  for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(...(opts.extra ?? []), url);
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? Number((err as NodeJS.ErrnoException & { code?: number }).code ?? 1) : 0;
      const nl = stdout.lastIndexOf('\n');
      resolve({ code, status: Number(stdout.slice(nl + 1)) || 0, body: stdout.slice(0, Math.max(nl, 0)), stderr });
    });
  });
}
