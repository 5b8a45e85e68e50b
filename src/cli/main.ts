// The `warden` command: serve, keystore rotate-master-key, audit verify, apikey create, apikey-hash.
// Output for people goes to stdout/stderr here (the one place besides pino that may print).
import cluster from 'node:cluster';
import { createHash } from 'node:crypto';
import { Command } from 'commander';
import { ConfigError, loadConfig } from '../config/load.ts';
import { ROLE_NAMES, type Config } from '../config/schema.ts';
import { apiKeyHash, newApiKey } from '../auth/api-key-file.ts';
import { createLogger, openRuntime, startServer, VERSION, type Runtime } from '../server/boot.ts';
import { rotateMasterKey } from '../keystore/software/rotate.ts';
import { migrateKeys, openKeystores } from './keystore-migrate.ts';
import { registerApproverCommands } from './approver.ts';
import { parseWorkers, primaryReady, runPrimary } from '../server/cluster.ts';

const out = (s: string) => process.stdout.write(s + '\n');
const fail = (s: string): never => {
  process.stderr.write(`warden: ${s}\n`);
  process.exit(1);
};

function config(opts: { config?: string }): Config {
  try {
    return loadConfig({ file: opts.config ?? null });
  } catch (e) {
    if (e instanceof ConfigError) return fail(e.message);
    throw e;
  }
}

async function quietRuntime(cfg: Config) {
  return openRuntime(cfg, createLogger({ ...cfg, logging: { level: 'warn' } }));
}

const program = new Command().name('warden').description('Warden Transaction Security Broker').version(VERSION);

program
  .command('serve', { isDefault: true })
  .description('start the REST API')
  .option('-c, --config <file>', 'YAML config file')
  .option('-w, --workers <n>', 'processes sharing the port (node:cluster); 1 = this process only (default: the number of cores)')
  .action(async (opts: { config?: string; workers?: string }) => {
    const cfg = config(opts);
    const workers = parseWorkers(opts.workers) ?? fail('--workers must be a whole number from 1 to 256');
    const announce = (keys: Runtime['newApiKeys']) => {
      if (!keys) return;
      out(`\nFirst start: API keys written to ${keys.file} (shown once):`);
      for (const [role, list] of Object.entries(keys.keys)) out(`  ${role.padEnd(28)} ${list[0]}`);
      out('');
    };
    // The primary prepares the data directory once and forks; each worker runs the code below.
    if (workers > 1 && cluster.isPrimary) return runPrimary(cfg, workers, { announce, fail });
    if (cluster.isWorker) await primaryReady();
    let started;
    try {
      started = await startServer(cfg);
    } catch (e) {
      return fail(`cannot start: ${(e as Error).message}`);
    }
    const { app, runtime } = started;
    announce(runtime.newApiKeys);
    const port = (app.server.address() as { port?: number } | null)?.port ?? cfg.server.port;
    const url = `${cfg.tls.enabled ? 'https' : 'http'}://${cfg.server.host}:${port}`;
    if (cluster.isWorker) app.log.info({ url }, 'worker ready');
    else app.log.info({ url, config: cfg.source, dataDir: cfg.dataDir }, `Warden ${VERSION} started`);
    let closing = false;
    const shutdown = (signal: string) => {
      if (closing) return;
      closing = true;
      app.log.info({ signal }, 'shutting down: finishing in-flight requests');
      const timer = setTimeout(() => {
        app.log.error('shutdown timed out');
        process.exit(1);
      }, cfg.server.shutdownTimeoutMs);
      timer.unref();
      // server.close() drops only the connections idle at that moment; a keep-alive connection whose
      // request finishes later would hold the close open for keepAliveTimeout (72 s). Close each one
      // as soon as its in-flight response is done.
      const drain = setInterval(() => (app.server as { closeIdleConnections?: () => void }).closeIdleConnections?.(), 50);
      drain.unref();
      app.close().then(
        () => process.exit(0),
        (e) => {
          app.log.error({ err: e }, 'error during shutdown');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
    // A worker whose primary is gone (killed) stops too, instead of serving on unsupervised.
    if (cluster.isWorker) process.on('disconnect', () => shutdown('primary exited'));
  });

const keystore = program.command('keystore').description('keystore maintenance');
keystore
  .command('rotate-master-key')
  .description('re-seal every key under a new master key (atomically)')
  .option('-c, --config <file>', 'YAML config file')
  .action(async (opts: { config?: string }) => {
    const cfg = config(opts);
    const rt = await quietRuntime(cfg).catch((e: Error) => fail(e.message));
    try {
      const fromEnv = cfg.keystore.masterKeyFromEnv !== null;
      const r = await rotateMasterKey(rt.store, rt.master, { file: fromEnv ? null : cfg.keystore.masterKeyFile }).catch(async (e: Error) => {
        await rt.close();
        return fail(`rotation failed: ${e.message}`);
      });
      out(`re-sealed ${r.keys} keys and ${r.dataObjects} data objects under a new master key`);
      if (fromEnv) out(`new WARDEN_MASTER_KEY (set it before the next start):\n${r.key.toFileText().trim()}`);
      else out(`new master key written to ${cfg.keystore.masterKeyFile}`);
    } finally {
      await rt.close();
    }
  });

keystore
  .command('migrate')
  .description('move the keys whose attributes allow it from the software keystore onto the PKCS#11 token (the config names the token)')
  .requiredOption('--from <type>', 'source keystore: software')
  .requiredOption('--to <type>', 'target keystore: pkcs11')
  .option('-n, --dry-run', 'report what would move and what is refused; change nothing')
  .option('--json', 'print the report as JSON')
  .option('-c, --config <file>', 'YAML config file (keystore.type pkcs11 and keystore.pkcs11)')
  .action(async (opts: { from: string; to: string; dryRun?: boolean; json?: boolean; config?: string }) => {
    if (opts.from !== 'software' || opts.to !== 'pkcs11') fail('only --from software --to pkcs11 is supported');
    const cfg = config(opts);
    if (String(cfg.keystore.type) !== 'pkcs11') fail('the configuration must name the target token: keystore.type pkcs11 with keystore.pkcs11 (library, tokenLabel or slot, pin or pinFile)');
    // Only the database, the master key and the two keystores: not the whole runtime, whose start-up
    // (system keys, workflow) belongs to the keystore the data directory is switched to afterwards.
    const opened = await openKeystores(cfg).catch((e: Error) => fail(e.message));
    try {
      const report = await migrateKeys({ ...opened, dataDir: cfg.dataDir, dryRun: opts.dryRun ?? false }).catch(async (e: Error) => {
        await opened.close();
        return fail(`migration stopped: ${e.message} (run it again to resume)`);
      });
      if (opts.json) out(JSON.stringify(report, null, 2));
      else {
        for (const o of report.outcomes) out(`${o.result.padEnd(16)} ${o.label}${o.result === 'refused' ? `: ${o.reason}` : ''}`);
        out(`${report.dryRun ? 'would migrate' : 'migrated'} ${report.migrated}, refused ${report.refused}, already on the token ${report.alreadyOnToken}`);
      }
    } finally {
      await opened.close();
    }
  });

const audit = program.command('audit').description('audit trail');
audit
  .command('verify')
  .description('check the HMAC chain of the whole audit log')
  .option('-c, --config <file>', 'YAML config file')
  .action(async (opts: { config?: string }) => {
    const cfg = config(opts);
    const rt = await quietRuntime(cfg).catch((e: Error) => fail(e.message));
    try {
      const r = await rt.services.audit.verify();
      if (r.ok) out(`audit log OK: ${r.entries} entries, chain intact`);
      else {
        out(`audit log BROKEN at entry ${r.firstBad}: ${r.problem} (${r.entries} entries verified before it)`);
        process.exitCode = 2;
      }
    } finally {
      await rt.close();
    }
  });

program
  .command('apikey-hash')
  .description('print the sha256:<hex> form of an API key, for the config file')
  .argument('<key>')
  .action((key: string) => {
    out(`sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`);
  });

const apikey = program.command('apikey').description('API keys (X-API-KEY, one list per role)');
apikey
  .command('create')
  .description('print a new random key for a role and the sha256:<hex> line for the config file')
  .requiredOption('-r, --role <role>', `one of ${ROLE_NAMES.join(', ')}`)
  .action((opts: { role: string }) => {
    const role = ROLE_NAMES.find((r) => r === opts.role);
    if (!role) return fail(`--role must be one of ${ROLE_NAMES.join(', ')}`);
    const key = newApiKey(role);
    out(`New ${role} key (shown once; give it to the client as X-API-KEY):`);
    out(`  ${key}`);
    out('Add its hash to the config, keeping the old key listed until every client has switched (docs/authentication.md):');
    out('  apiAuthentication:');
    out(`    ${role}:`);
    out(`      - ${apiKeyHash(key)}`);
  });

registerApproverCommands(program, { out, fail });

await program.parseAsync(process.argv);
