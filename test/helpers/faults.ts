// Fault-injection scenarios (issue 11), shared by test/fault*.test.ts (a few repetitions each) and
// scripts/fault-injection.ts (`--repeat 20`): SIGKILL of a serving Warden during key creation and of
// `warden keystore rotate-master-key` at random moments, followed by a restart that must find every key
// whole. Each scenario returns what it observed; it throws when an invariant is broken.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, verify as cryptoVerify } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import pino from 'pino';
import { loadConfig } from '../../src/config/load.ts';
import { buildApp } from '../../src/server/app.ts';
import { openRuntime } from '../../src/server/boot.ts';
import { REPO_ROOT, WARDEN_BIN, wardenEnv } from './core-tools.ts';
import { ROLE_KEYS, type TestWarden } from './runtime.ts';
import { approvalBody, proof, type Approver, type Task } from './workflow.ts';

/** The environment that makes a child `warden` use the test runtime's database, master key and API keys. */
export function childEnv(w: TestWarden, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WARDEN_DATA_DIR: w.dataDir,
    WARDEN_DATABASE_URL: w.config.database.url,
    WARDEN_KEYSTORE_MASTER_KEY_FILE: w.config.keystore.masterKeyFile,
    WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
    WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: ROLE_KEYS.keyOperationToken,
    WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: ROLE_KEYS.serviceToken,
    WARDEN_API_AUTHENTICATION_APPROVER_TOKEN: ROLE_KEYS.approverToken,
    WARDEN_SERVER_HOST: '127.0.0.1',
    WARDEN_SERVER_PORT: '0',
    WARDEN_LOGGING_LEVEL: 'info',
    WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0',
    ...extra,
  };
}

interface Child {
  child: ChildProcess;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function start(args: string[], env: Record<string, string>): Child {
  const child = spawn(process.execPath, [WARDEN_BIN, ...args], { cwd: REPO_ROOT, env: wardenEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  return { child, output: () => text, exited };
}

async function until<T>(probe: () => T | null | undefined, timeoutMs: number, what: string, c?: Child): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== null && v !== undefined) return v;
    if (c && c.child.exitCode !== null) throw new Error(`${what}: the child exited (${c.child.exitCode}): ${c.output().slice(-2000)}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${c ? `: ${c.output().slice(-2000)}` : ''}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `body`; whatever happens, the child is gone afterwards (a failed scenario must not leak a server). */
async function withChild<T>(c: Child, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } finally {
    if (c.child.exitCode === null && c.child.signalCode === null) {
      c.child.kill('SIGKILL');
      await c.exited;
    }
  }
}

/** A serving child: resolves with its base URL once it logged "Warden … started". */
export async function startServeChild(env: Record<string, string>, timeoutMs = 120_000): Promise<Child & { url: string }> {
  const c = start(['serve'], env);
  const url = await until(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*Warden [0-9.]+ started/.exec(c.output())?.[1], timeoutMs, 'the serve child to start', c);
  return { ...c, url };
}

/**
 * After a crash: opens the data directory in-process (a fresh runtime, as a restart would) and checks
 * that every key opens (POST /v1/key/attributes: unseal + integrity), the `expected` labels exist and the
 * audit chain verifies. Returns the number of keys checked.
 */
export async function verifyAfterCrash(w: TestWarden, expected: Iterable<string>): Promise<{ keys: number; auditEntries: number }> {
  const config = loadConfig({ env: { ...childEnv(w), WARDEN_LOGGING_LEVEL: 'silent' }, cwd: w.dataDir });
  const rt = await openRuntime(config, pino({ level: 'silent' }));
  const app = await buildApp(rt.services);
  try {
    const list = await app.inject({ method: 'GET', url: '/v1/key', headers: { 'x-api-key': ROLE_KEYS.keyManagementToken } });
    if (list.statusCode !== 200) throw new Error(`key list after restart: ${list.statusCode} ${list.body}`);
    const all = list.json() as string[];
    const have = new Set(all);
    for (const l of expected) if (!have.has(l)) throw new Error(`key '${l}' was acknowledged (201) before the crash but is missing after the restart`);
    for (const label of all) {
      const r = await app.inject({ method: 'POST', url: '/v1/key/attributes', headers: { 'x-api-key': ROLE_KEYS.keyManagementToken, 'content-type': 'application/json' }, payload: JSON.stringify({ label }) });
      // System keys are not served by the API (614); the keystore opens them directly.
      const system = r.statusCode === 400 && (r.json() as { errorCode: number }).errorCode === 614;
      if (system) await rt.services.keystore.describe(label, null);
      else if (r.statusCode !== 200) throw new Error(`key '${label}' does not open after the restart: ${r.statusCode} ${r.body}`);
    }
    const audit = await rt.services.audit.verify();
    if (!audit.ok) throw new Error(`audit chain broken after the crash at ${audit.firstBad}: ${audit.problem}`);
    return { keys: all.length, auditEntries: audit.entries };
  } finally {
    await app.close();
    await rt.close();
  }
}

export interface KillDuringCreateResult {
  acknowledged: number;
  /** Creations in flight when the process died. */
  inFlight: number;
  keysAfterRestart: number;
  killedAfterMs: number;
}

/**
 * Starts `warden serve` on the runtime's data, has `writers` clients create keys (EC and RSA, so the
 * kill lands in key generation, sealing, the insert or the audit write), SIGKILLs it after a random
 * delay, and checks the restart: acknowledged keys present, every key opens, audit chain intact.
 * The caller closes `w`'s own runtime first (one SQLite writer process at a time is not required, but
 * the test should not race its own runtime).
 */
export async function killDuringKeyCreation(w: TestWarden, opts: { writers?: number; maxDelayMs?: number; rng?: () => number } = {}): Promise<KillDuringCreateResult> {
  const rng = opts.rng ?? Math.random;
  const server = await startServeChild(childEnv(w));
  return withChild(server, async () => {
    const acknowledged = new Set<string>();
    let inFlight = 0;
    let stop = false;
    const tag = `${process.pid}-${Date.now().toString(36)}`;
    const writer = async (id: number) => {
      for (let i = 0; !stop; i++) {
        const label = `crash-${tag}-${id}-${i}`;
        const rsa = i % 4 === 3;
        const body = rsa
          ? { label, algorithm: 'RSA', keySize: 2048, attributes: { sign: true, decrypt: false, unwrap: false, destroyable: true } }
          : { label, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true, decrypt: false, unwrap: false, destroyable: true } };
        inFlight++;
        try {
          const r = await fetch(`${server.url}/v1/key`, { method: 'POST', headers: { 'x-api-key': ROLE_KEYS.keyManagementToken, 'content-type': 'application/json' }, body: JSON.stringify(body) });
          await r.arrayBuffer();
          if (r.status === 201) acknowledged.add(label);
          else if (!stop) throw new Error(`create ${label}: ${r.status}`);
        } catch (e) {
          if (!stop && !(e instanceof TypeError)) throw e;
          return;
        } finally {
          inFlight--;
        }
      }
    };
    const writers = Array.from({ length: opts.writers ?? 6 }, (_, i) => writer(i));
    // Let some creations complete first, then kill at a random moment.
    await until(() => (acknowledged.size >= 3 ? true : null), 60_000, 'the first keys', server);
    const delay = Math.floor(rng() * (opts.maxDelayMs ?? 400));
    await sleep(delay);
    const flying = inFlight;
    stop = true;
    server.child.kill('SIGKILL');
    const exit = await server.exited;
    if (exit.signal !== 'SIGKILL') throw new Error(`the server exited on its own before the kill: ${JSON.stringify(exit)} ${server.output().slice(-2000)}`);
    await Promise.allSettled(writers);
    const after = await verifyAfterCrash(w, acknowledged);
    return { acknowledged: acknowledged.size, inFlight: flying, keysAfterRestart: after.keys, killedAfterMs: delay };
  });
}

export interface KillDuringRotationResult {
  /** Where the kill landed: before the pending key file appeared, while it existed, or after the rename. */
  phase: 'startup' | 'transaction' | 'after-commit' | 'finished';
  keys: number;
  /** Whether the master key changed (the rotation had committed). */
  rotated: boolean;
}

/**
 * Runs `warden keystore rotate-master-key` on the runtime's data and SIGKILLs it at a random moment
 * (during start-up, during the re-seal transaction, after the commit), then restarts: every key opens
 * with whichever master key is current, and the audit chain verifies. The runtime `w` must be closed.
 */
export async function killDuringRotation(w: TestWarden, opts: { rng?: () => number; windowMs?: number } = {}): Promise<KillDuringRotationResult> {
  const rng = opts.rng ?? Math.random;
  const file = w.config.keystore.masterKeyFile;
  const pending = `${file}.new`;
  const before = readFileSync(file, 'utf8');
  // A rotation killed before its commit leaves its pending key behind (it seals nothing; the next
  // rotation overwrites it): only a pending file with new content belongs to this run.
  const stale = existsSync(pending) ? readFileSync(pending, 'utf8') : null;
  const pendingNow = () => existsSync(pending) && readFileSync(pending, 'utf8') !== stale;
  const child = start(['keystore', 'rotate-master-key'], childEnv(w));
  return withChild(child, async () => {
    // Half of the kills aim at the transaction (the pending file exists), the rest anywhere in the run.
    const aimAtTransaction = rng() < 0.6;
    let phase: KillDuringRotationResult['phase'] = 'startup';
    if (aimAtTransaction) {
      const seen = await until(() => (pendingNow() ? 'pending' : child.child.exitCode !== null ? 'exited' : null), 120_000, 'the pending master key');
      if (seen === 'pending') await sleep(Math.floor(rng() * (opts.windowMs ?? 60)));
    } else {
      await sleep(Math.floor(rng() * 4000));
    }
    if (child.child.exitCode === null) {
      phase = readFileSync(file, 'utf8') !== before ? 'after-commit' : pendingNow() ? 'transaction' : 'startup';
      child.child.kill('SIGKILL');
    } else phase = 'finished';
    const exit = await child.exited;
    if (phase === 'finished' && exit.code !== 0) throw new Error(`rotation failed on its own: ${child.output()}`);
    const after = await verifyAfterCrash(w, []);
    return { phase, keys: after.keys, rotated: readFileSync(file, 'utf8') !== before };
  });
}

/** Creates `n` EC keys through the API (the population a rotation re-seals). */
export async function createKeys(w: TestWarden, n: number, prefix: string): Promise<string[]> {
  const labels: string[] = [];
  for (let i = 0; i < n; i++) {
    const label = `${prefix}-${i}`;
    const r = await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true, decrypt: false, unwrap: false, destroyable: true } });
    if (r.statusCode !== 201) throw new Error(`create ${label}: ${r.statusCode} ${r.body}`);
    labels.push(label);
  }
  return labels;
}

export interface KillDuringApprovalResult {
  requests: number;
  /** Approvals answered 200 before the kill. */
  approved: number;
  killedAfterMs: number;
  /** After the restart and one scheduler pass. */
  statuses: Record<string, number>;
  /** Requests that reached the keystore (execution markers). */
  executions: number;
}

/** The workflow's "reached the keystore" marker of a request (src/workflow/engine.ts executionMarker). */
const executionMarker = (challenge: Buffer) => createHash('sha256').update('warden/workflow/execution\0').update(challenge).digest('hex');

/**
 * `requestIds` are PENDING sign requests on `label` (a key whose ruleUse needs one approval of
 * `approver`), made before `w`'s runtime was closed. Starts `warden serve`, approves them from four
 * clients (each approval executes its request at once), SIGKILLs the server at a random moment, restarts
 * with the clock past the claim timeout and runs one scheduler pass (dead claims recovered, approved
 * requests executed). Then: no request is left EXECUTING or APPROVED, every request that reached the
 * keystore did so once (one marker) and ended EXECUTED with a valid signature or FAILED as interrupted,
 * and no request without a marker claims to have executed.
 */
export async function killDuringApprovalExecution(
  w: TestWarden,
  setup: { label: string; approver: Approver; requestIds: string[]; spki: Buffer; payload: Buffer },
  opts: { maxDelayMs?: number; rng?: () => number } = {},
): Promise<KillDuringApprovalResult> {
  const rng = opts.rng ?? Math.random;
  const server = await startServeChild(childEnv(w));
  let approved = 0;
  let delay = 0;
  await withChild(server, async () => {
    const queue = [...setup.requestIds];
    let stop = false;
    const post = async (url: string, body: unknown) => {
      const r = await fetch(`${server.url}${url}`, { method: 'POST', headers: { 'x-api-key': ROLE_KEYS.approverToken, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await r.text();
      return { status: r.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
    };
    const approver = async () => {
      for (let id = queue.shift(); id !== undefined && !stop; id = queue.shift()) {
        try {
          const list = await post('/v1/filteredAllApprovalTask', { ...proof(setup.approver, Date.now()), detailLevel: 'level1', requestId: id, paging: null });
          if (list.status !== 200) throw new Error(`task list: ${list.status} ${JSON.stringify(list.json)}`);
          for (const t of list.json.tasks as Task[]) {
            const r = await post('/v1/approval', approvalBody(setup.approver, t));
            if (r.status === 200) approved++;
            else if (!stop) throw new Error(`approval: ${r.status} ${JSON.stringify(r.json)}`);
          }
        } catch (e) {
          if (!stop && !(e instanceof TypeError)) throw e;
          return;
        }
      }
    };
    const approvers = Array.from({ length: 4 }, () => approver());
    await until(() => (approved >= 2 ? true : null), 60_000, 'the first approvals', server);
    delay = Math.floor(rng() * (opts.maxDelayMs ?? 300));
    await new Promise((r) => setTimeout(r, delay));
    stop = true;
    server.child.kill('SIGKILL');
    await server.exited;
    await Promise.allSettled(approvers);
  });

  const config = loadConfig({ env: { ...childEnv(w), WARDEN_LOGGING_LEVEL: 'silent' }, cwd: w.dataDir });
  const rt = await openRuntime(config, pino({ level: 'silent' }));
  try {
    const wf = rt.services.workflow;
    // Past the claim timeout (300 s): a claim the dead process held is recovered now.
    wf.useClock(() => Date.now() + 3_600_000);
    await wf.tick();
    await wf.tick();
    const rows = await rt.store.db.selectFrom('requests').select(['id', 'status', 'challenge', 'result', 'error']).where('id', 'in', setup.requestIds).execute();
    const markers = new Set((await rt.store.db.selectFrom('consumed_challenges').select('hash').where('key_label', '=', setup.label).execute()).map((r) => r.hash));
    const statuses: Record<string, number> = {};
    let executions = 0;
    for (const row of rows) {
      statuses[row.status] = (statuses[row.status] ?? 0) + 1;
      const reached = markers.has(executionMarker(Buffer.from(row.challenge)));
      if (reached) executions++;
      if (row.status === 'EXECUTING' || row.status === 'APPROVED') throw new Error(`request ${row.id} is still ${row.status} after recovery`);
      if (row.status === 'EXECUTED') {
        if (!reached) throw new Error(`request ${row.id} is EXECUTED without having reached the keystore`);
        // The result is sealed in the row (engine.ts): the Base64 signature.
        const sig = row.result ? Buffer.from(rt.services.keystore.openSecret(`result:${row.id}`, Buffer.from(row.result)).toString('utf8'), 'base64') : null;
        const key = { key: setup.spki, format: 'der' as const, type: 'spki' as const };
        const valid = sig !== null && (cryptoVerify('sha256', setup.payload, key, sig) || cryptoVerify('sha256', setup.payload, { ...key, dsaEncoding: 'ieee-p1363' }, sig));
        if (!valid) throw new Error(`request ${row.id}: the stored signature does not verify`);
      }
      if (row.status === 'FAILED' && !(reached && /interrupted/.test(row.error ?? ''))) throw new Error(`request ${row.id} FAILED: ${row.error}`);
      if (row.status === 'PENDING' && reached) throw new Error(`request ${row.id} reached the keystore but is PENDING`);
    }
    if (rows.length !== setup.requestIds.length) throw new Error(`${setup.requestIds.length - rows.length} request(s) vanished`);
    return { requests: rows.length, approved, killedAfterMs: delay, statuses, executions };
  } finally {
    await rt.close();
  }
}
