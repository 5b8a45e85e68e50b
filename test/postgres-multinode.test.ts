// Issue 8 "Done when": three `warden serve` processes on one PostgreSQL database and one master key.
// A client creates policy keys (2-of-3 approvers), then submits 500 asynchronous sign requests and
// their approvals round-robin across the nodes while one node is SIGKILLed mid-run and restarted.
// A call that fails because its node died is retried at the next node, like a client behind a load
// balancer; only requests the client got a 201 for count as acknowledged (a retried submission may
// have created a request whose id nobody learned: it stays PENDING, unapproved). At the end every
// acknowledged request is EXECUTED exactly once — one `executeRequest` audit entry, one keystore use,
// a signature that verifies — none lost, none stuck, and the audit chain written by all nodes verifies.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, verify as cryptoVerify } from 'node:crypto';
import { rmSync } from 'node:fs';
import pg from 'pg';
import { REPO_ROOT, WARDEN_BIN, freePort, runWardenAsync, wardenEnv } from './helpers/core-tools.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from './helpers/postgres.ts';
import { ROLE_KEYS, tempDataDir } from './helpers/runtime.ts';
import { approvalBody, makeApprover, policy, proof, quorumRule, type Approver, type Task } from './helpers/workflow.ts';

const available = await pgAvailable();
const skip = !available && process.env.CI !== 'true' ? 'PostgreSQL is not reachable (run scripts/ensure-postgres.sh)' : false;

const REQUESTS = Number(process.env.WARDEN_MULTINODE_REQUESTS ?? 500);
const KEYS = 5;
/** Client calls in flight at once (each works through whole requests: submit, then two approvals). */
const CLIENTS = 16;
/** A claim older than this belongs to a dead executor (general.executionClaimTimeout, default 5 min). */
const CLAIM_TIMEOUT_MS = 8000;
const SCHEDULER_MS = 500;
const P256 = '1.2.840.10045.3.1.7';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface WardenNode {
  name: string;
  url: string;
  env: Record<string, string>;
  dataDir: string;
  child: ChildProcess | null;
  exited: Promise<void>;
  log: string;
  starts: number;
}

/** Every child ever started, killed on the way out whatever happens (a failed run must not leak servers). */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

function launch(n: WardenNode): void {
  const child = spawn(process.execPath, [WARDEN_BIN, 'serve'], { cwd: REPO_ROOT, env: wardenEnv(n.env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  n.child = child;
  n.starts++;
  const keep = (d: Buffer) => (n.log = (n.log + d.toString('utf8')).slice(-20_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  n.exited = new Promise((resolve) => child.once('exit', () => resolve()));
}

async function ready(n: WardenNode, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (!n.child || n.child.exitCode !== null) throw new Error(`${n.name} exited during start: ${n.log.slice(-3000)}`);
    try {
      const r = await fetch(`${n.url}/health/ready`, { signal: AbortSignal.timeout(5000) });
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > end) throw new Error(`${n.name} not ready after ${timeoutMs} ms: ${n.log.slice(-3000)}`);
    await sleep(100);
  }
}

async function kill(n: WardenNode): Promise<void> {
  const c = n.child;
  if (c && c.exitCode === null && c.signalCode === null) {
    c.kill('SIGKILL');
    await n.exited;
  }
}

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

/** What the client saw: calls that failed at the network level (their node was down or died) and were retried elsewhere. */
const stats = { calls: 0, failovers: 0, submitFailovers: 0, approvalsClosed: 0 };

/** A load-balancer-like client: the next node in turn; on a network error the call goes to the next one. */
function client(nodes: WardenNode[]) {
  let next = 0;
  return async function call(method: string, url: string, body: unknown, role: keyof typeof ROLE_KEYS, onFailover?: () => void): Promise<Reply> {
    for (let attempt = 1; ; attempt++) {
      const n = nodes[next++ % nodes.length] as WardenNode;
      stats.calls++;
      try {
        const r = await fetch(n.url + url, {
          method,
          headers: { 'x-api-key': ROLE_KEYS[role], ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await r.text();
        return { status: r.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
      } catch (e) {
        // Connection refused or reset: the node is down or died with the call in flight. Whether the call
        // took effect is unknown; the caller's retry must be safe (see onFailover for submissions).
        if (!(e instanceof TypeError) || attempt >= 30) throw new Error(`${method} ${url} at ${n.name}: ${String(e)}`, { cause: e });
        stats.failovers++;
        onFailover?.();
        await sleep(10);
      }
    }
  };
}

/** What a run leaves behind; cleaned in after() too, which runs even when the test timed out. */
const leftovers: { nodes: WardenNode[]; db: TestDatabase | null; pgc: pg.Client | null } = { nodes: [], db: null, pgc: null };

async function cleanUp(): Promise<void> {
  const { nodes, db, pgc } = leftovers;
  leftovers.pgc = null;
  leftovers.db = null;
  await pgc?.end().catch(() => undefined);
  await Promise.all(nodes.map((n) => kill(n)));
  for (const n of nodes) rmSync(n.dataDir, { recursive: true, force: true });
  await db?.drop();
}

describe('three Warden nodes on one PostgreSQL database', { skip }, () => {
  after(cleanUp);

  it(`${REQUESTS} approval requests round-robin over 3 nodes, one SIGKILLed and restarted: each acknowledged request executed exactly once`, { timeout: 240_000 }, async (t) => {
    const started = Date.now();
    const phases: Record<string, number> = {};
    const mark = (name: string) => (phases[name] = (Date.now() - started) / 1000);
    const nodes = leftovers.nodes;
    let pgc: pg.Client | null = null;
    try {
      const db = await createTestDatabase();
      leftovers.db = db;
      const masterKey = randomBytes(32).toString('hex');
      for (let i = 0; i < 3; i++) {
        const dataDir = tempDataDir();
        const port = await freePort();
        nodes.push({
          name: `node${i}`,
          url: `http://127.0.0.1:${port}`,
          dataDir,
          child: null,
          exited: Promise.resolve(),
          log: '',
          starts: 0,
          env: {
            WARDEN_DATA_DIR: dataDir,
            WARDEN_DATABASE_URL: db.url,
            WARDEN_DATABASE_POOL_SIZE: '5',
            WARDEN_MASTER_KEY: masterKey,
            WARDEN_SERVER_HOST: '127.0.0.1',
            WARDEN_SERVER_PORT: String(port),
            WARDEN_LOGGING_LEVEL: 'warn',
            WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
            WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: ROLE_KEYS.keyOperationToken,
            WARDEN_API_AUTHENTICATION_APPROVER_TOKEN: ROLE_KEYS.approverToken,
            WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: ROLE_KEYS.serviceToken,
            WARDEN_API_AUTHENTICATION_APPROVER_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.approverKeyManagementToken,
            // Every node runs the scheduler (executions, dead-claim recovery) against the same rows.
            WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: String(SCHEDULER_MS),
            WARDEN_GENERAL_EXECUTION_CLAIM_TIMEOUT: String(CLAIM_TIMEOUT_MS),
          },
        });
      }
      // Started together on the empty database: one migrates and sets it up, the others wait.
      for (const n of nodes) launch(n);
      await Promise.all(nodes.map((n) => ready(n)));
      mark('nodesReady');
      const call = client(nodes);

      // Policy keys: ruleUse needs 2 of the 3 approvers.
      const approvers = [makeApprover('ec', 'alice'), makeApprover('ec', 'bob'), makeApprover('ec', 'carol')];
      const keys: { label: string; spki: Buffer }[] = [];
      for (let k = 0; k < KEYS; k++) {
        const label = `multinode-${k}`;
        const r = await call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: { sign: true, decrypt: false, unwrap: false, destroyable: true }, policy: policy({ ruleUse: quorumRule(2, approvers) }) }, 'keyManagementToken');
        assert.equal(r.status, 201, JSON.stringify(r.json));
        const attrs = await call('POST', '/v1/key/attributes', { label }, 'keyManagementToken');
        assert.equal(attrs.status, 200, JSON.stringify(attrs.json));
        keys.push({ label, spki: Buffer.from((attrs.json.json as { publicKey: string }).publicKey, 'base64') });
      }

      /** Approves `id` as `a`; a retry after a failover finds the task approved (gone from the list) or closed (652). */
      const approveAs = async (a: Approver, id: string): Promise<void> => {
        for (let attempt = 1; attempt <= 5; attempt++) {
          const list = await call('POST', '/v1/filteredAllApprovalTask', { ...proof(a, Date.now()), detailLevel: 'level1', requestId: id, paging: null }, 'approverToken');
          assert.equal(list.status, 200, JSON.stringify(list.json));
          const tasks = list.json.tasks as Task[];
          // No open task: an earlier attempt (on a node that died before answering) approved it, or the
          // request has its quorum and left PENDING.
          if (tasks.length === 0) return;
          assert.equal(tasks.length, 1);
          const r = await call('POST', '/v1/approval', approvalBody(a, tasks[0] as Task), 'approverToken');
          if (r.status === 200) return;
          if (r.status === 404 && r.json.errorCode === 652) {
            stats.approvalsClosed++;
            return;
          }
          assert.fail(`approval of ${id} by ${a.name}: ${r.status} ${JSON.stringify(r.json)}`);
        }
      };

      // The run: CLIENTS workers take request numbers in turn; one node is killed once a random share
      // of the requests has been acknowledged, and started again at once.
      const acknowledged = new Map<string, { n: number; key: (typeof keys)[number]; payload: Buffer }>();
      const victim = nodes[1] as WardenNode;
      const killAt = Math.floor(REQUESTS * (0.3 + Math.random() * 0.3));
      let killed: { afterAcks: number; at: string; downMs: number; executingAtKill: number } | null = null;
      let restart: Promise<void> | null = null;
      let nextRequest = 0;
      const worker = async () => {
        for (let n = nextRequest++; n < REQUESTS; n = nextRequest++) {
          const key = keys[n % KEYS] as (typeof keys)[number];
          const payload = Buffer.from(`multinode request ${n} ${randomBytes(4).toString('hex')}`);
          const r = await call('POST', '/v1/sign', {
            signRequest: { payload: payload.toString('base64'), payloadType: 'UNSPECIFIED', signKeyName: key.label, signatureAlgorithm: 'SHA256_WITH_ECDSA' },
            requestSignature: null,
          }, 'keyOperationToken', () => stats.submitFailovers++);
          assert.equal(r.status, 201, JSON.stringify(r.json));
          const id = r.json.signRequestId as string;
          acknowledged.set(id, { n, key, payload });
          if (!killed && acknowledged.size >= killAt) {
            const t0 = Date.now();
            killed = { afterAcks: acknowledged.size, at: new Date(t0).toISOString(), downMs: 0, executingAtKill: 0 };
            victim.child?.kill('SIGKILL');
            restart = victim.exited.then(async () => {
              // Claims held at this moment include the dead node's (recovered after CLAIM_TIMEOUT_MS).
              const c = new pg.Client({ connectionString: db.url });
              await c.connect();
              const executing = await c.query(`select id from requests where status = 'EXECUTING'`).finally(() => c.end());
              if (killed) killed.executingAtKill = executing.rowCount ?? 0;
              launch(victim);
              await ready(victim);
              if (killed) killed.downMs = Date.now() - t0;
            });
          }
          // Two of the three approvers, a different pair for each request; the second completes the
          // quorum and executes the request on whichever node it lands.
          const pair = approvers.filter((_, j) => j !== n % 3);
          for (const a of pair) await approveAs(a, id);
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, () => worker()));
      mark('submittedAndApproved');
      assert.ok(killed, 'the node was killed during the run');
      await restart;
      mark('victimBackBy');

      // Every acknowledged request reaches a final state: a claim the dead node held is recovered after
      // CLAIM_TIMEOUT_MS by some node's scheduler pass.
      pgc = new pg.Client({ connectionString: db.url });
      leftovers.pgc = pgc;
      await pgc.connect();
      const ids = [...acknowledged.keys()];
      assert.equal(ids.length, REQUESTS, 'every submission was acknowledged (after retries)');
      const open = async () => Number((await pgc!.query<{ n: string }>(`select count(*) as n from requests where id = any($1) and status in ('PENDING', 'APPROVED', 'EXECUTING')`, [ids])).rows[0]?.n);
      const settleBy = Date.now() + CLAIM_TIMEOUT_MS + 20_000;
      while ((await open()) > 0 && Date.now() < settleBy) await sleep(200);
      mark('settled');

      const rows = (await pgc.query<{ id: string; status: string; error: string | null }>('select id, status, error from requests')).rows;
      const byStatus: Record<string, number> = {};
      for (const r of rows) if (acknowledged.has(r.id)) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1;
      // Not even an execution the kill caught between the keystore's signature and the commit of the
      // result: the release is one transaction (docs/workflow.md §9), so that request ran again.
      const notExecuted = rows.filter((r) => acknowledged.has(r.id) && r.status !== 'EXECUTED').map((r) => `${r.id} ${r.status} ${r.error ?? ''}`);
      assert.deepEqual(notExecuted, [], `statuses of the acknowledged requests: ${JSON.stringify(byStatus)}`);
      assert.deepEqual(byStatus, { EXECUTED: REQUESTS });
      // A submission whose node died before answering may have been stored: nobody learned its id, so
      // nobody approved it; it waits PENDING (its time-out, if any, expires it). Never executed.
      const orphans = rows.filter((r) => !acknowledged.has(r.id));
      assert.ok(orphans.every((r) => r.status === 'PENDING'), JSON.stringify(orphans));
      assert.ok(orphans.length <= stats.submitFailovers, `${orphans.length} unacknowledged requests, ${stats.submitFailovers} retried submissions`);

      // The audit: exactly one execution entry per request, a success, none for anything else.
      const audit = (await pgc.query<{ request_id: string; outcome: string; n: string }>(
        `select request_id, outcome, count(*) as n from audit_log where action = 'executeRequest' group by request_id, outcome`,
      )).rows;
      const successes = new Map<string, number>();
      for (const a of audit) {
        assert.equal(a.outcome, 'success', `execution entry ${JSON.stringify(a)}`);
        successes.set(a.request_id, Number(a.n));
      }
      assert.equal(successes.size, REQUESTS, 'execution entries of exactly the acknowledged requests');
      for (const id of ids) assert.equal(successes.get(id), 1, `request ${id}: ${successes.get(id) ?? 0} execution entries`);
      // The keystore's own count (committed with the result) and its consumed challenges: once per request.
      const uses = Number((await pgc.query<{ n: string }>(`select coalesce(sum(use_count), 0) as n from keys where label like 'multinode-%'`)).rows[0]?.n);
      assert.equal(uses, REQUESTS, 'the policy keys were used exactly once per request');
      const markers = Number((await pgc.query<{ n: string }>(`select count(*) as n from consumed_challenges where key_label like 'multinode-%'`)).rows[0]?.n);
      assert.equal(markers, 2 * REQUESTS, 'per request: the execution marker and the keystore\'s consumption of the challenge');

      // Diagnostics: requests executed long after their last approval had their claim recovered (the
      // dead node held it) or waited for a scheduler pass.
      const recovered = Number((await pgc.query<{ n: string }>(
        `select count(*) as n from requests r where r.id = any($1) and r.execution_time::timestamptz - (select max(a.approved_at::timestamptz) from approvals a where a.request_id = r.id) > $2::interval`,
        [ids, `${CLAIM_TIMEOUT_MS - 1000} milliseconds`],
      )).rows[0]?.n);

      // The results, read through the API of every node (three pages of the request list, one per node,
      // and some requests one by one), verify under the key's public key.
      const results = new Map<string, string>();
      const PAGE = Math.ceil(REQUESTS / 3) + 1;
      for (let page = 0; page * PAGE < REQUESTS + orphans.length; page++) {
        const r = await call('POST', '/v1/filteredRequests', { status: 'EXECUTED', pageNumber: page, pageSize: PAGE, sortOrder: 'CREATION_DATE_ASC' }, 'keyOperationToken');
        assert.equal(r.status, 200, JSON.stringify(r.json));
        for (const v of r.json.requests as { id: string; status: string; result: string }[]) results.set(v.id, v.result);
      }
      for (const id of ids.slice(0, 30)) {
        const r = await call('GET', `/v1/request/${id}`, undefined, 'keyOperationToken');
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.deepEqual([r.json.status, r.json.result], ['EXECUTED', results.get(id)]);
      }
      let verified = 0;
      for (const [id, req] of acknowledged) {
        const sig = Buffer.from(results.get(id) ?? '', 'base64');
        assert.ok(cryptoVerify('sha256', req.payload, { key: req.key.spki, format: 'der', type: 'spki' }, sig), `signature of request ${id} (${req.n})`);
        verified++;
      }
      assert.equal(verified, REQUESTS);
      mark('verified');

      // The chain all nodes appended to verifies end to end (the CLI, as an operator would run it).
      const v = await runWardenAsync(['audit', 'verify'], { ...(nodes[0] as WardenNode).env, WARDEN_LOGGING_LEVEL: 'silent' });
      assert.equal(v.status, 0, v.stdout + v.stderr);
      const entries = Number(/audit log OK: (\d+) entries/.exec(v.stdout)?.[1]);
      // At least the submissions, the approvals and the executions of the acknowledged requests.
      assert.ok(entries >= 4 * REQUESTS, `${entries} audit entries`);
      mark('auditVerified');
      t.diagnostic(JSON.stringify({ seconds: phases, killed, recovered, stats, orphans: orphans.length, auditEntries: entries, victimStarts: victim.starts }));
    } finally {
      await cleanUp();
    }
  });
});
