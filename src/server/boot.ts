// Start-up: data directory, database, master key, keystore, audit log, attestation key, API keys,
// then the HTTP listener; and the graceful shutdown that finishes in-flight calls and closes the DB.
import cluster from 'node:cluster';
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import type { FastifyInstance } from 'fastify';
import { AuditLog, loadAuditKey } from '../audit/log.ts';
import { primaryAuditSink } from '../audit/remote.ts';
import { loadOrCreateApiKeys } from '../auth/api-key-file.ts';
import { ROLE_NAMES, type Config } from '../config/schema.ts';
import { openKeyStore } from '../keystore/open.ts';
import type { MasterKey } from '../keystore/software/master-key.ts';
import { unlockMasterKey } from '../keystore/software/unlock.ts';
import { Attestation } from '../pki/attestation.ts';
import { ensureRfcTimestampKey } from '../pki/tsp.ts';
import { openWorkflow } from '../workflow/index.ts';
import { openApproverManagement } from '../approvers/index.ts';
import { openStore, type Store } from '../store/db.ts';
import { buildApp } from './app.ts';
import { httpsServerFactory, trustListWarnings } from './tls.ts';
import type { Services } from './services.ts';

export const VERSION: string = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;

export function createLogger(config: Config): Logger {
  return pino({
    level: config.logging.level,
    // Workers of `serve --workers N` (cluster.ts) say which one logged.
    base: cluster.isWorker ? { service: 'warden', worker: cluster.worker?.id, pid: process.pid } : { service: 'warden' },
    redact: { paths: ['req.headers["x-api-key"]', 'req.headers.authorization', '*.password', '*.privateKey', '*.secretKey'], censor: '[redacted]' },
  });
}

export interface Runtime {
  services: Services;
  store: Store;
  master: MasterKey;
  /** Set when this start created the API key file: the keys to print once. */
  newApiKeys: { file: string; keys: Record<string, string[]> } | null;
  close(): Promise<void>;
}

/** Opens everything the server needs (no listener). Tests use this with app.inject(). */
export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  chmodSync(config.dataDir, 0o700);
  const store = await openStore(config.database.url, { ...config.database, onBackgroundError: (err) => logger.warn({ err }, 'database connection lost; the pool reconnects on demand') });
  let closeKeystoreOnFailure = (): void => undefined;
  try {
    // Nodes starting together on one database initialise it one at a time (master key check, audit key,
    // system keys); a failed start frees the lock in store.close() below.
    const startupDone = await store.lock('startup');
    const { key: master, created } = await unlockMasterKey(store, { file: config.keystore.masterKeyFile, fromEnv: config.keystore.masterKeyFromEnv });
    if (created) logger.info({ file: config.keystore.masterKeyFile }, 'created a new 256-bit master key');
    const { keystore, close: closeKeystore } = await openKeyStore(store, config, master, logger, { serving: true });
    closeKeystoreOnFailure = closeKeystore;
    const audit = new AuditLog(store, await loadAuditKey(store, master));
    // Key use counts ride on the audit log's group commit (one transaction per batch for both).
    audit.attachUseCounter(keystore.uses);
    // A cluster worker on SQLite hands its batches to the primary, the one writer (src/audit/remote.ts).
    const sink = primaryAuditSink();
    if (sink) audit.useSink(sink);
    const attestation = new Attestation(keystore, config.hsm.attestationKeyName);
    await attestation.ensureKey();
    await ensureRfcTimestampKey(keystore, config.hsm.rfcTimestampKeyName);
    const workflow = await openWorkflow({ store, keystore, config, logger, audit });
    const approvers = await openApproverManagement({ db: store.db, keystore, workflow, config, logger });
    await startupDone();

    let newApiKeys: Runtime['newApiKeys'] = null;
    const auth = config.apiAuthentication;
    const configured = ROLE_NAMES.some((r) => {
      const v = auth[r];
      return Array.isArray(v) ? v.length > 0 : typeof v === 'string' && v !== '';
    });
    if (auth.enabled && !configured) {
      const { keys, created: fresh, file } = loadOrCreateApiKeys(config.dataDir);
      Object.assign(auth, keys);
      if (fresh) newApiKeys = { file, keys };
    }

    const services: Services = { config, keystore, audit, attestation, logger, version: VERSION, workflow, approvers };
    return { services, store, master, newApiKeys, close: async () => {
      await workflow.stop();
      // A clean shutdown writes every queued audit entry and pending use count before the store closes.
      try {
        await audit.close();
      } finally {
        closeKeystore();
        await store.close();
      }
    } };
  } catch (e) {
    closeKeystoreOnFailure();
    await store.close();
    throw e;
  }
}

export async function startServer(config: Config): Promise<{ app: FastifyInstance; runtime: Runtime }> {
  const logger = createLogger(config);
  const runtime = await openRuntime(config, logger);
  let app: FastifyInstance;
  try {
    // HTTPS (with client certificates per tls.clientAuthentication) when tls.enabled, on the same port.
    const serverFactory = config.tls.enabled ? httpsServerFactory(config.tls) : undefined;
    for (const w of trustListWarnings(config.tls)) logger.warn(w);
    app = await buildApp(runtime.services, { loggerInstance: logger, serverFactory });
  } catch (e) {
    await runtime.close();
    throw e;
  }
  app.addHook('onClose', async () => runtime.close());
  await app.listen({ host: config.server.host, port: config.server.port });
  return { app, runtime };
}
