// Test harness: a Warden runtime on a fresh temporary data directory, driven with app.inject().
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { buildApp } from '../../src/server/app.ts';
import { openRuntime, type Runtime } from '../../src/server/boot.ts';
import { testPostgresFor } from './postgres.ts';
import { testTokenFor } from './softhsm.ts';

export const ROLE_KEYS = {
  keyManagementToken: 'test-km-key',
  keyOperationToken: 'test-ko-key',
  approverToken: 'test-ap-key',
  serviceToken: 'test-sv-key',
  approverKeyManagementToken: 'test-am-key',
} as const;

export interface TestWarden {
  app: FastifyInstance;
  runtime: Runtime;
  config: Config;
  dataDir: string;
  /** JSON call with the key of `role` (default keyManagementToken). */
  call(method: InjectOptions['method'], url: string, body?: unknown, role?: keyof typeof ROLE_KEYS | null): Promise<LightMyRequestResponse>;
  /** Closes the app and the store; keeps the data directory unless `remove`. */
  close(remove?: boolean): Promise<void>;
}

export function tempDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'warden-test-'));
}

export async function startTestWarden(opts: { dataDir?: string; env?: Record<string, string>; yaml?: Record<string, unknown> } = {}): Promise<TestWarden> {
  const dataDir = opts.dataDir ?? tempDataDir();
  // WARDEN_TEST_DB=postgres (npm run test:pg): the same tests on a throw-away PostgreSQL database.
  const pg = await testPostgresFor(dataDir, opts.env);
  // WARDEN_TEST_KEYSTORE=pkcs11 (the PKCS#11 pass): the same tests on a fresh SoftHSM token.
  const hsm = testTokenFor(dataDir, opts.env);
  const env: NodeJS.ProcessEnv = {
    ...pg?.env,
    ...hsm?.env,
    WARDEN_DATA_DIR: dataDir,
    WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
    WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: ROLE_KEYS.keyOperationToken,
    WARDEN_API_AUTHENTICATION_APPROVER_TOKEN: ROLE_KEYS.approverToken,
    WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: ROLE_KEYS.serviceToken,
    WARDEN_API_AUTHENTICATION_APPROVER_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.approverKeyManagementToken,
    ...opts.env,
  };
  // A start that fails must not leave its pool behind: open PostgreSQL sockets (and the workflow
  // scheduler using them) would keep the test process alive after its last test.
  let config: Config;
  let runtime: Runtime | undefined;
  let app: FastifyInstance;
  try {
    config = loadConfig({ env, cwd: dataDir });
    runtime = await openRuntime(config, pino({ level: 'silent' }));
    app = await buildApp(runtime.services);
    await app.ready();
  } catch (e) {
    await runtime?.close();
    if (!opts.dataDir) {
      await pg?.drop();
      hsm?.drop();
    }
    throw e;
  }
  return {
    app,
    runtime,
    config,
    dataDir,
    call(method, url, body, role = 'keyManagementToken') {
      const headers: Record<string, string> = {};
      if (role) headers['x-api-key'] = ROLE_KEYS[role];
      if (body !== undefined) headers['content-type'] = 'application/json';
      return app.inject({ method, url, headers, payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
    },
    async close(remove = true) {
      await app.close();
      await runtime.close();
      if (remove) rmSync(dataDir, { recursive: true, force: true });
      if (remove) await pg?.drop();
      if (remove) hsm?.drop();
    },
  };
}
