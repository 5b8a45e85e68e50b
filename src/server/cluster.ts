// `warden serve --workers N` (docs/performance.md): the node:cluster primary does the first-start work
// once (data directory, master key, migrations, audit key, system keys, API key file), then forks N
// workers that each run the whole server on the one shared port; SIGTERM/SIGINT stop them gracefully.
// The primary serves no request: a worker that dies is replaced, a worker that cannot start stops all.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { AuditLog, loadAuditKey } from '../audit/log.ts';
import { serveAuditWrites, writeAuditViaPrimary } from '../audit/remote.ts';
import { unlockMasterKey } from '../keystore/software/unlock.ts';
import { UseCounter } from '../keystore/software/use-counter.ts';
import { openStore, type Store } from '../store/db.ts';
import { createLogger, openRuntime, VERSION, type Runtime } from './boot.ts';

/**
 * Default for `serve`: one worker per core (the primary itself is idle after the start). Under the
 * node test runner (NODE_TEST_CONTEXT, inherited by the servers a test spawns) one process: a cluster
 * start loads the code once per worker, and test suites start many servers on a busy machine.
 */
export function defaultWorkers(): number {
  return process.env.NODE_TEST_CONTEXT ? 1 : availableParallelism();
}

/** The --workers value: a whole number from 1 to 256 (1 = no cluster, the server runs in this process). */
export function parseWorkers(text: string | undefined): number | null {
  if (text === undefined) return defaultWorkers();
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= 256 ? n : null;
}

export interface PrimaryIo {
  /** Prints the API keys of a first start (main.ts, the same text as a single-process start). */
  announce(newApiKeys: Runtime['newApiKeys']): void;
  fail(message: string): never;
}

/** Replaced workers allowed per minute before the primary gives up (a worker crashing in a loop). */
const MAX_RESTARTS_PER_MINUTE = 10;

export async function runPrimary(cfg: Config, workers: number, io: PrimaryIo): Promise<void> {
  // Every worker would open its own empty in-memory database.
  if (/^sqlite::memory:?$/.test(cfg.database.url)) io.fail('an in-memory database cannot be shared by several workers: use --workers 1');
  const logger = createLogger(cfg);
  const live = new Set<Worker>();
  const loaded = new Set<Worker>();
  const listening = new Set<number>();
  const restarts: number[] = [];
  let prepared = false;
  let started = false;
  let stopping = false;
  let failed = false;

  let writer: { store: Store; audit: AuditLog } | null = null;

  const fork = () => live.add(cluster.fork());
  const start = (worker: Worker) => worker.send({ warden: START, auditViaPrimary: writer !== null });
  // Workers load their code while the primary prepares the data directory (loading is most of a
  // start), and open the runtime only when told: the first-start work is done once, by the primary.
  cluster.on('message', (worker, message: unknown) => {
    if ((message as { warden?: string } | null)?.warden !== LOADED) return;
    loaded.add(worker);
    if (prepared) start(worker);
  });
  const finish = async (code: number) => {
    try {
      if (writer) {
        await writer.audit.close();
        await writer.store.close();
      }
    } catch (e) {
      logger.error({ err: e }, 'the audit writer could not write everything at shutdown');
      code = 1;
    }
    process.exit(code);
  };
  const stopAll = (signal: NodeJS.Signals) => {
    for (const w of live) w.process.kill(signal);
  };
  const shutdown = (reason: string, exitCode: number) => {
    if (stopping) return;
    stopping = true;
    if (exitCode !== 0) failed = true;
    logger.info({ reason, workers: live.size }, 'shutting down: workers finish their in-flight requests');
    stopAll('SIGTERM');
    // Each worker has its own shutdownTimeoutMs; this one only catches a worker that hangs past it.
    const timer = setTimeout(() => {
      logger.error('shutdown timed out; killing the workers');
      stopAll('SIGKILL');
      process.exit(1);
    }, cfg.server.shutdownTimeoutMs + 5000);
    timer.unref();
    if (live.size === 0) void finish(failed ? 1 : 0);
  };

  cluster.on('listening', (worker, address) => {
    listening.add(worker.id);
    if (started || listening.size < workers) return;
    started = true;
    const scheme = cfg.tls.enabled ? 'https' : 'http';
    logger.info({ url: `${scheme}://${cfg.server.host}:${address.port}`, workers, config: cfg.source, dataDir: cfg.dataDir }, `Warden ${VERSION} started`);
  });

  cluster.on('exit', (worker, code, signal) => {
    live.delete(worker);
    if (stopping) {
      if (code !== 0) failed = true;
      if (live.size === 0) void finish(failed ? 1 : 0);
      return;
    }
    if (!listening.has(worker.id)) {
      // It printed why (`warden: cannot start: …`); the others would fail the same way.
      logger.error({ pid: worker.process.pid, code, signal }, 'a worker could not start');
      shutdown('a worker could not start', 1);
      return;
    }
    const now = Date.now();
    restarts.push(now);
    while (restarts.length > 0 && (restarts[0] as number) < now - 60_000) restarts.shift();
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      logger.error({ restarts: restarts.length }, 'workers keep dying; stopping');
      shutdown('workers keep dying', 1);
      return;
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'a worker exited; starting a new one');
    fork();
  });

  process.on('SIGTERM', () => shutdown('SIGTERM', 0));
  process.on('SIGINT', () => shutdown('SIGINT', 0));
  // Workers run the same command line; in a worker cluster.isPrimary is false and `serve` starts the server.
  for (let i = 0; i < workers; i++) fork();

  let newApiKeys: Runtime['newApiKeys'];
  try {
    const runtime = await openRuntime(cfg, logger);
    newApiKeys = runtime.newApiKeys;
    await runtime.close();
    // SQLite: the primary is the one audit writer (src/audit/remote.ts). PostgreSQL: every worker
    // writes itself, like any node (an advisory lock orders the chain, the driver never blocks).
    if (runtime.store.dialect === 'sqlite') {
      writer = await openAuditWriter(cfg, logger);
      cluster.on('message', serveAuditWrites(writer.audit));
    }
  } catch (e) {
    stopping = true;
    for (const w of live) w.process.kill('SIGKILL');
    return io.fail(`cannot start: ${(e as Error).message}`);
  }
  io.announce(newApiKeys);
  prepared = true;
  for (const w of loaded) if (live.has(w)) start(w);
}

/** The primary's audit writer: the store, the audit key and a use counter for the workers' counts. */
async function openAuditWriter(cfg: Config, logger: Logger): Promise<{ store: Store; audit: AuditLog }> {
  const store = await openStore(cfg.database.url, { ...cfg.database, onBackgroundError: (err) => logger.warn({ err }, 'database connection lost') });
  try {
    const { key: master } = await unlockMasterKey(store, { file: cfg.keystore.masterKeyFile, fromEnv: cfg.keystore.masterKeyFromEnv });
    const audit = new AuditLog(store, await loadAuditKey(store, master));
    audit.attachUseCounter(new UseCounter());
    return { store, audit };
  } catch (e) {
    await store.close();
    throw e;
  }
}

const LOADED = 'worker-loaded';
const START = 'start';

/** In a worker: tells the primary the code is loaded and resolves once the data directory is prepared. */
export function primaryReady(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown) => {
      const m = message as { warden?: string; auditViaPrimary?: boolean } | null;
      if (m?.warden !== START) return;
      process.off('message', onMessage);
      if (m.auditViaPrimary) writeAuditViaPrimary();
      resolve();
    };
    process.on('message', onMessage);
    process.send?.({ warden: LOADED });
  });
}
