// The workflow engine (spec multi-authorization §3, §4): creates requests with their challenge and one
// task per approver, records approvals and rejections, evaluates the quorum, moves requests through the
// state machine of §3.3, and executes approved requests exactly once. The scheduler (scheduler.ts)
// drives time-locks, time-outs and crash recovery from the database, so restarts lose nothing.
import { createHash, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { KeyInfo, KeyStore, PendingUse, PolicyAuthorization } from '../keystore/interface.ts';
import { canonical } from '../keystore/software/seal.ts';
import { WardenError } from '../server/errors.ts';
import type { Database } from '../store/schema.ts';
import type { AuditEntry } from '../audit/log.ts';
import { verifyApproverSignature } from './approver-signature.ts';
import { OPERATION, buildChallenge, parseChallenge, type PayloadPart, type RequestType } from './challenge.ts';
import { asPolicy, ruleApprovers, type Policy, type Rule, type RuleName } from './policy.ts';
import { evaluate, lastTimeout, mayApprove, type Decisions } from './quorum.ts';
import {
  ApprovalsRepository,
  RequestsRepository,
  TasksRepository,
  consumeChallenge,
  type RequestRow,
  type RequestStatus,
  type TaskQuery,
  type TaskRow,
  type WireStatus,
} from './repositories.ts';
import { TlvError } from './tlv.ts';

/** The rule of the key's policy that authorises each request type (spec §2.1). */
export const RULE_OF: Record<RequestType, RuleName> = {
  sign: 'ruleUse',
  decrypt: 'ruleUse',
  unwrap: 'ruleUse',
  csrsign: 'ruleUse',
  crtsign: 'ruleUse',
  selfsign: 'ruleUse',
  block: 'ruleBlock',
  unblock: 'ruleUnblock',
  modify: 'ruleModify',
};

export interface NewRequest {
  type: RequestType;
  label: string;
  password: string | null;
  /** What the challenge binds: the payload (sign data, ciphertext, wrapped key …) or the binary policy. */
  part: PayloadPart;
  /** Execution parameters (JSON values); the engine adds `requestId` and binds them into the challenge. */
  params: Record<string, unknown>;
  payloadType: string | null;
  metaData: string | null;
  metaDataSignature: string | null;
  /** The original request body as shown to approvers (passwords removed). */
  requestJson: string;
}

export interface ExecutionContext {
  requestId: string;
  label: string;
  password: string | null;
  payload: Buffer;
  params: Record<string, unknown>;
  keystore: KeyStore;
  /** Hand this to the keystore: it re-checks the approvals against the sealed policy. */
  authorization: PolicyAuthorization;
}

export interface Executor {
  /** Early checks when the request is created (the operation fits the key), so bad requests fail fast. */
  check?(info: KeyInfo, params: Record<string, unknown>, payload: Buffer): void | Promise<void>;
  /** Runs the operation; returns the `result` string of GET /v1/request/{id}. */
  execute(ctx: ExecutionContext): Promise<string>;
}

export interface RequestView {
  id: string;
  type: RequestType;
  keyName: string;
  status: WireStatus;
  executionTime: string | null;
  approvedBy: string[];
  notYetApprovedBy: string[];
  rejectedBy: string[];
  result: string | null;
}

/** An approver's proven identity (approver-proof.ts): one approver, or a whitelisted timestamp signer. */
export type ApproverIdentity = { kind: 'approver'; approver: string } | { kind: 'timestampSigner'; approver: string | null };

export interface SubmittedApproval {
  taskId: string;
  challenge: Buffer;
  signature: Buffer;
  digestAlgorithm: string | null;
  /** Canonical Base64 SPKI of the signer (from approverPublicKey or approverCertificate). */
  approver: string;
}

export interface WorkflowDeps {
  db: Kysely<Database>;
  keystore: KeyStore;
  logger: Logger;
  executors: Record<RequestType, Executor>;
  /** How long an EXECUTING claim may last before the scheduler treats its executor as dead. */
  claimTimeoutMs?: number;
  /**
   * The audit log: every execution outcome gets an entry (action `executeRequest`). A successful
   * keystore use is recorded before the request becomes EXECUTED, so an EXECUTED request always has
   * its entry (scheduler executions happen outside any audited API call).
   */
  audit?: { append(entry: AuditEntry): Promise<number>; appendWithin(trx: Transaction<Database>, entries: AuditEntry[]): Promise<number[]> };
}

const isoMs = (ms: number) => new Date(ms).toISOString();
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

/** Thrown inside the release transaction when the claim is no longer this executor's (rolls it back). */
class ClaimLost extends Error {}

/**
 * Marker of "this challenge's execution was recorded" (docs/workflow.md §9): inserted with the result.
 * (Versions before 2026-11-28 inserted it before calling the keystore; recovery still reads it that way.)
 */
function executionMarker(challenge: Buffer): Buffer {
  return createHash('sha256').update('warden/workflow/execution\0').update(challenge).digest();
}

export class Workflow {
  readonly requests: RequestsRepository;
  readonly tasks: TasksRepository;
  readonly approvals: ApprovalsRepository;
  private now: () => number = Date.now;
  private readonly claimTimeoutMs: number;
  /** Set by openWorkflow (index.ts); stopped before the store closes. */
  scheduler: { start(): void; stop(): Promise<void> } | null = null;

  constructor(private readonly deps: WorkflowDeps) {
    this.requests = new RequestsRepository(deps.db);
    this.tasks = new TasksRepository(deps.db);
    this.approvals = new ApprovalsRepository(deps.db);
    this.claimTimeoutMs = deps.claimTimeoutMs ?? 300_000;
  }

  /** One clock for the engine and the keystore's timestamps and time-lock checks (tests inject it). */
  useClock(now: () => number): void {
    this.now = now;
    this.deps.keystore.setClock(now);
  }

  clock(): number {
    return this.now();
  }

  async stop(): Promise<void> {
    await this.scheduler?.stop();
  }

  /**
   * Lets another module take over some requests of a type: approver management (src/approvers/)
   * runs its forgot-password restores as unwrap requests on the backup key (spec §3.1, §5).
   */
  decorateExecutor(type: RequestType, decorate: (inner: Executor) => Executor): void {
    this.deps.executors[type] = decorate(this.deps.executors[type]);
  }

  // --- Creation ------------------------------------------------------------------------------------

  async create(n: NewRequest): Promise<string> {
    const { keystore } = this.deps;
    const info = await keystore.describe(n.label, n.password);
    if (info.system) throw new WardenError(614, `Key '${n.label}' is a system key of this Warden`);
    const policy = asPolicy(info.policy);
    const ruleName = RULE_OF[n.type];
    if (!policy && ruleName !== 'ruleUse') {
      throw new WardenError(614, `Key '${n.label}' has no policy: block, unblock and modify apply to keys with a policy (SKA keys) only`);
    }
    if (policy?.keyStatus?.blocked && ruleName === 'ruleUse') throw new WardenError(614, `Key '${n.label}' is blocked`);
    await this.deps.executors[n.type].check?.(info, n.params, n.part.value);

    const id = randomUUID();
    const parameters = Buffer.from(canonical({ ...n.params, requestId: id }), 'utf8');
    let challenge: Buffer;
    let t0: number;
    try {
      const ts = await keystore.issueTimestamp(n.part);
      t0 = ts.time;
      challenge = buildChallenge({
        operation: OPERATION[n.type],
        label: n.label,
        timestamp: { struct: ts.struct, signatureWithAlgorithm: ts.signatureWithAlgorithm },
        part: n.part,
        parameters,
      });
    } catch (e) {
      if (e instanceof TlvError) {
        throw new WardenError(612, `The request is too large for an approval challenge (${e.message}); hash large payloads and sign with a NONE* algorithm`);
      }
      throw e;
    }
    const rule = policy ? policy[ruleName] : null;
    const nowMs = this.now();
    const last = lastTimeout(rule);
    // A rule satisfied without approvals executes at once (TSB 2.0.1). Such a request is inserted
    // already claimed for execution, in the transaction that creates it: one commit instead of three
    // (insert, APPROVED, the claim), each an fsync with the write lock held. What a crash leaves is the
    // same as after a claim: recovery puts it back to APPROVED unless the keystore was reached.
    const now = evaluate(rule, { approved: new Map(), rejected: new Set() }, t0, Math.floor(nowMs / 1000));
    const claimedAt = now.state === 'approved' && now.executeAt * 1000 <= nowMs ? isoMs(nowMs) : null;
    const row: RequestRow = {
      id,
      type: n.type,
      key_label: n.label,
      status: claimedAt ? 'EXECUTING' : 'PENDING',
      created_at: isoMs(nowMs),
      updated_at: isoMs(nowMs),
      t0: isoMs(t0 * 1000),
      expires_at: rule && last !== null ? isoMs((t0 + last) * 1000) : null,
      execute_after: claimedAt && now.state === 'approved' ? isoMs(now.executeAt * 1000) : null,
      claimed_at: claimedAt,
      execution_time: claimedAt,
      challenge,
      request_json: n.requestJson,
      params: parameters.toString('utf8'),
      secret: n.password ? keystore.sealSecret(`request:${id}`, Buffer.from(n.password, 'utf8')) : null,
      payload_type: n.payloadType,
      meta_data: n.metaData,
      meta_data_signature: n.metaDataSignature,
      result: null,
      result_fetched: 0,
      error: null,
    };
    const tasks: TaskRow[] = ruleApprovers(rule).map((a) => ({
      id: randomUUID(), request_id: id, approver: a.id, state: 'open', created_at: isoMs(nowMs), last_fetched_at: isoMs(nowMs),
    }));
    await this.deps.db.transaction().execute(async (trx) => {
      await new RequestsRepository(trx).insert(row);
      await new TasksRepository(trx).insertMany(tasks);
    });
    // Empty or always-satisfiable rules execute at once (TSB 2.0.1), still answering 201 + id.
    if (claimedAt) await this.executeClaimed(id, claimedAt);
    else await this.reevaluate(id);
    return id;
  }

  // --- Evaluation ----------------------------------------------------------------------------------

  private async ruleFor(row: RequestRow): Promise<{ rule: Rule | null; policy: Policy | null } | null> {
    const info = await this.deps.keystore.peek(row.key_label);
    if (!info) return null;
    const policy = asPolicy(info.policy);
    return { rule: policy ? policy[RULE_OF[row.type as RequestType]] : null, policy };
  }

  private async decisions(row: RequestRow): Promise<Decisions> {
    const approved = new Map<string, number>();
    for (const a of await this.approvals.ofRequest(row.id)) approved.set(a.approver, seconds(a.approved_at));
    const rejected = new Set((await this.tasks.ofRequest(row.id)).filter((t) => t.state === 'rejected').map((t) => t.approver));
    return { approved, rejected };
  }

  /** Re-evaluates a PENDING request and applies the resulting transition; executes it when due. */
  async reevaluate(id: string): Promise<void> {
    const row = await this.requests.get(id);
    if (!row || row.status !== 'PENDING') {
      if (row?.status === 'APPROVED') await this.execute(id);
      return;
    }
    const r = await this.ruleFor(row);
    if (!r) {
      await this.cancel(id);
      return;
    }
    const ev = evaluate(r.rule, await this.decisions(row), seconds(row.t0), Math.floor(this.now() / 1000));
    const at = isoMs(this.now());
    if (ev.state === 'approved') {
      if (await this.requests.transition(id, ['PENDING'], 'APPROVED', { execute_after: isoMs(ev.executeAt * 1000), updated_at: at })) {
        await this.execute(id);
      }
    } else if (ev.state === 'rejected') {
      await this.requests.transition(id, ['PENDING'], 'REJECTED', { updated_at: at, secret: null });
    } else if (ev.state === 'expired') {
      await this.requests.transition(id, ['PENDING'], 'EXPIRED', { updated_at: at, secret: null });
    }
  }

  // --- Execution -----------------------------------------------------------------------------------

  /**
   * Executes an APPROVED request whose time-lock has elapsed, exactly once: the conditional claim
   * APPROVED → EXECUTING lets one caller through; the keystore checks the approvals and runs the
   * operation but leaves the consumption of the challenge to the transaction that records the result
   * (with the execution marker and the audit entry), so an output is released at most once per
   * challenge, and an executor that dies before that commit leaves nothing behind but its claim.
   * Returns true when this call executed (or failed) the request.
   */
  async execute(id: string): Promise<boolean> {
    const nowMs = this.now();
    const claimedAt = isoMs(nowMs);
    const claimed = await this.deps.db
      .updateTable('requests')
      .set({ status: 'EXECUTING', claimed_at: claimedAt, execution_time: isoMs(nowMs), updated_at: claimedAt })
      .where('id', '=', id)
      .where('status', '=', 'APPROVED')
      .where('execute_after', '<=', claimedAt)
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return false;
    return this.executeClaimed(id, claimedAt);
  }

  /** Runs a request this caller holds the EXECUTING claim of (claimed_at = claimedAt). */
  private async executeClaimed(id: string, claimedAt: string): Promise<boolean> {
    const row = await this.requests.get(id);
    if (!row) return false;
    // Only the owner of this claim may finish it: if it was taken for dead (claim timeout) and claimed
    // again meanwhile, this executor's outcome must not overwrite the new claim's.
    const done = async (patch: Partial<RequestRow>, status: RequestStatus) => {
      const r = await this.deps.db
        .updateTable('requests')
        .set({ ...patch, status, secret: null, updated_at: isoMs(this.now()) })
        .where('id', '=', id)
        .where('status', '=', 'EXECUTING')
        .where('claimed_at', '=', claimedAt)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) this.deps.logger.warn({ requestId: id, status }, 'request execution finished after its claim was recovered; outcome not recorded');
    };
    try {
      const challenge = parseChallenge(Buffer.from(row.challenge));
      const params = JSON.parse((challenge.parameters ?? Buffer.from('{}')).toString('utf8')) as Record<string, unknown>;
      if (params.requestId !== id) throw new WardenError(701, 'The stored challenge belongs to another request');
      const approvals = await this.approvals.ofRequest(id);
      const password = row.secret ? this.deps.keystore.openSecret(`request:${id}`, Buffer.from(row.secret)).toString('utf8') : null;
      // Checked now so a finished request does no work; inserted, atomically with the result, below.
      const marker = executionMarker(Buffer.from(row.challenge));
      if (await this.deps.db.selectFrom('consumed_challenges').select('hash').where('hash', '=', marker.toString('hex')).executeTakeFirst()) {
        throw new WardenError(701, 'This request was already sent to the keystore once; it is not executed again');
      }
      const pending: PendingUse[] = [];
      const result = await this.deps.executors[row.type as RequestType].execute({
        requestId: id,
        label: row.key_label,
        password,
        payload: challenge.part.value,
        params,
        keystore: this.deps.keystore,
        authorization: {
          operation: challenge.operation,
          payload: challenge.part.value,
          parameters: challenge.parameters,
          evidence: {
            challenge: Buffer.from(row.challenge),
            approvals: approvals.map((a) => ({ publicKey: Buffer.from(a.approver, 'base64'), signature: Buffer.from(a.signature), digestAlgorithm: a.digest })),
          },
          deferConsumption: (p) => pending.push(p),
        },
      });
      const sealed = this.deps.keystore.sealSecret(`result:${id}`, Buffer.from(result, 'utf8'));
      // One transaction releases the result: the audit entry, the keystore's consumption of the challenge
      // and the use count, the execution marker and EXECUTED. A crash before its commit leaves none of
      // them (the output never left this process): the claim is recovered and the request runs again.
      const at = isoMs(this.now());
      const released = await this.deps.db.transaction().execute(async (trx) => {
        // The audit chain's lock first: the audit batches take it before key rows (use counts), too.
        await this.deps.audit?.appendWithin(trx, [this.executionEntry(row, 'success')]);
        for (const p of pending) await this.deps.keystore.commitUse(trx, p);
        if (!(await consumeChallenge(trx, marker, row.key_label, at))) {
          throw new WardenError(701, 'This request was already sent to the keystore once; it is not executed again');
        }
        const r = await trx
          .updateTable('requests')
          .set({ status: 'EXECUTED', result: sealed, secret: null, updated_at: at })
          .where('id', '=', id)
          .where('status', '=', 'EXECUTING')
          .where('claimed_at', '=', claimedAt)
          .executeTakeFirst();
        // The claim was recovered and taken by another executor meanwhile: roll back, discard this output.
        if (Number(r.numUpdatedRows) !== 1) throw new ClaimLost();
        return true;
      }).catch((e: unknown) => {
        if (e instanceof ClaimLost) return false;
        throw e;
      });
      if (!released) this.deps.logger.warn({ requestId: id }, 'request execution finished after its claim was recovered; its output was discarded');
    } catch (e) {
      const we = e instanceof WardenError ? e : null;
      if (!we) this.deps.logger.error({ err: e, requestId: id }, 'request execution failed');
      else this.deps.logger.info({ requestId: id, errorCode: we.code }, `request execution failed: ${we.message}`);
      await this.auditQuietly(this.executionEntry(row, `error ${we?.status ?? 500}`, we ? { errorCode: we.code } : {}));
      await done({ error: we ? `${we.code} ${we.reason}: ${we.message}` : 'internal error (see the server log)' }, 'FAILED');
    }
    return true;
  }

  /** The audit entry of an execution outcome; requestId is the workflow request's id. */
  private executionEntry(row: RequestRow, outcome: string, details: Record<string, unknown> = {}): AuditEntry {
    return { requestId: row.id, principal: null, method: null, route: null, action: 'executeRequest', keyLabel: row.key_label, outcome, details: { type: row.type, ...details } };
  }

  /** Audit entries of failures: the failure is recorded in the request row regardless. */
  private async auditQuietly(entry: AuditEntry): Promise<void> {
    try {
      await this.deps.audit?.append(entry);
    } catch (err) {
      this.deps.logger.error({ err, requestId: entry.requestId }, 'audit log write failed');
    }
  }

  /**
   * Claims whose executor died (crash, restart): if the keystore was never reached the request goes
   * back to APPROVED and runs again; if it was, its outcome is unknown and it becomes FAILED — never
   * executed twice.
   */
  async recoverStaleClaims(): Promise<number> {
    const before = isoMs(this.now() - this.claimTimeoutMs);
    let n = 0;
    for (const row of await this.requests.staleClaims(before, 100)) {
      const marker = executionMarker(Buffer.from(row.challenge)).toString('hex');
      const reached = await this.deps.db.selectFrom('consumed_challenges').select('hash').where('hash', '=', marker).executeTakeFirst();
      const at = isoMs(this.now());
      // Conditional on the stale claim itself: a concurrent pass (another node) may have recovered this
      // row already and a fresh executor claimed it since; that live claim must be left alone.
      const recover = (to: RequestStatus, patch: Partial<RequestRow>) =>
        this.deps.db.updateTable('requests').set({ ...patch, status: to, updated_at: at })
          .where('id', '=', row.id).where('status', '=', 'EXECUTING').where('claimed_at', '=', row.claimed_at ?? '')
          .executeTakeFirst().then((r) => Number(r.numUpdatedRows) === 1);
      if (reached) {
        if (await recover('FAILED', { error: '701 res.error.in.hsm: execution was interrupted after the keystore was reached; the result is lost', secret: null })) {
          await this.auditQuietly(this.executionEntry(row, 'error 500', { errorCode: 701, interrupted: true }));
        }
      } else {
        await recover('APPROVED', { claimed_at: null, execution_time: null });
      }
      n++;
    }
    return n;
  }

  // --- Approvals and rejections -----------------------------------------------------------------------

  private async openTask(taskId: string): Promise<{ task: TaskRow; request: RequestRow }> {
    const task = await this.tasks.get(taskId);
    const request = task ? await this.requests.get(task.request_id) : undefined;
    if (!task || !request || task.state !== 'open' || request.status !== 'PENDING') {
      throw new WardenError(652, `Task '${taskId}' does not exist or is no longer open`);
    }
    return { task, request };
  }

  /** POST /v1/approval (spec §4.6): the signer must be the task's approver and sign this task's challenge. */
  async approve(a: SubmittedApproval): Promise<void> {
    const { task, request } = await this.openTask(a.taskId);
    if (a.approver !== task.approver) throw new WardenError(403, `The signer is not the approver of task '${a.taskId}'`);
    if (!a.challenge.equals(Buffer.from(request.challenge))) {
      throw new WardenError(403, `approvalToBeSigned is not the challenge of task '${a.taskId}'`);
    }
    if (!verifyApproverSignature(Buffer.from(a.approver, 'base64'), a.challenge, a.signature, a.digestAlgorithm)) {
      throw new WardenError(403, 'The approval signature does not verify with the approver key');
    }
    const r = await this.ruleFor(request);
    if (!r) throw new WardenError(652, `Task '${a.taskId}' does not exist or is no longer open`);
    const nowMs = this.now();
    if (!ruleApprovers(r.rule).some((x) => x.id === a.approver)) {
      throw new WardenError(403, 'The signer is not an approver of the key\'s current policy');
    }
    if (!mayApprove(r.rule, a.approver, seconds(request.t0), Math.floor(nowMs / 1000))) {
      throw new WardenError(404, 'The approval arrives after the time-out of every token this approver belongs to');
    }
    // Evaluate before closing the task: after a crash in between, the approver's retry (a duplicate
    // insert, ignored) evaluates again instead of finding the task closed and the request stuck.
    await this.approvals.insert({ request_id: request.id, approver: a.approver, signature: a.signature, digest: a.digestAlgorithm, approved_at: isoMs(nowMs) });
    await this.reevaluate(request.id);
    await this.tasks.close(task.id, 'approved');
  }

  /** DELETE /v1/task (README decision 6): the approver (or a whitelisted timestamp signer) rejects. */
  async reject(taskId: string, who: ApproverIdentity): Promise<void> {
    const { task, request } = await this.openTask(taskId);
    if (who.kind === 'approver' || who.approver !== null) {
      if (who.approver !== task.approver) throw new WardenError(652, `Task '${taskId}' does not exist or is no longer open`);
    }
    if (!(await this.tasks.close(task.id, 'rejected'))) throw new WardenError(652, `Task '${taskId}' does not exist or is no longer open`);
    await this.reevaluate(request.id);
  }

  // --- Cancel, read, list --------------------------------------------------------------------------------

  /** DELETE /v1/request/{id}: PENDING or APPROVED → CANCELLED, tasks removed. Finished requests stay. */
  async cancel(id: string): Promise<void> {
    const row = await this.requests.get(id);
    if (!row) throw new WardenError(651, `Request '${id}' does not exist`);
    await this.requests.transition(id, ['PENDING', 'APPROVED'], 'CANCELLED', { secret: null, updated_at: isoMs(this.now()) });
    await this.tasks.deleteOfRequest(id);
  }

  /** Deleting a key cancels its open requests (spec §3.5). */
  async cancelForKey(label: string): Promise<number> {
    const ids = await this.requests.idsOfKey(label, ['PENDING', 'APPROVED']);
    for (const id of ids) await this.cancel(id);
    return ids.length;
  }

  async view(row: RequestRow, opts: { fetchResultOnce?: boolean } = {}): Promise<RequestView> {
    const approvals = await this.approvals.ofRequest(row.id);
    const tasks = await this.tasks.ofRequest(row.id);
    let notYetApprovedBy: string[] = [];
    if (row.status === 'PENDING') {
      const r = await this.ruleFor(row);
      const ev = r ? evaluate(r.rule, await this.decisions(row), seconds(row.t0), Math.floor(this.now() / 1000)) : null;
      if (ev?.state === 'pending') notYetApprovedBy = ev.notYetApprovedBy;
    }
    let result: string | null = null;
    if (row.status === 'EXECUTED' && row.result && row.result_fetched === 0) {
      const value = this.deps.keystore.openSecret(`result:${row.id}`, Buffer.from(row.result)).toString('utf8');
      if (!opts.fetchResultOnce) result = value;
      else {
        // Only the caller whose update flips result_fetched gets the value (2.1.0 fetch-once results).
        const u = await this.deps.db
          .updateTable('requests')
          .set({ result: null, result_fetched: 1, updated_at: isoMs(this.now()) })
          .where('id', '=', row.id)
          .where('result_fetched', '=', 0)
          .executeTakeFirst();
        if (Number(u.numUpdatedRows) === 1) result = value;
      }
    }
    return {
      id: row.id,
      type: row.type as RequestType,
      keyName: row.key_label,
      status: (row.status === 'EXECUTING' ? 'APPROVED' : row.status) as WireStatus,
      executionTime: row.execution_time ? isoSeconds(Date.parse(row.execution_time)) : null,
      approvedBy: approvals.map((a) => a.approver),
      notYetApprovedBy,
      rejectedBy: tasks.filter((t) => t.state === 'rejected').map((t) => t.approver),
      result,
    };
  }

  async status(id: string, opts: { fetchResultOnce?: boolean } = {}): Promise<RequestView> {
    const row = await this.requests.get(id);
    if (!row) throw new WardenError(651, `Request '${id}' does not exist`);
    return this.view(row, opts);
  }

  async list(q: { statuses: WireStatus[] | null; pageNumber: number; pageSize: number; order: 'asc' | 'desc' }): Promise<RequestView[]> {
    const statuses: RequestStatus[] | undefined = q.statuses?.flatMap((s): RequestStatus[] => (s === 'APPROVED' ? ['APPROVED', 'EXECUTING'] : [s]));
    const rows = await this.requests.query({ statuses, offset: q.pageNumber * q.pageSize, limit: q.pageSize, order: q.order });
    const out: RequestView[] = [];
    for (const row of rows) out.push(await this.view(row));
    return out;
  }

  /** Open tasks visible to `who`, with their requests; updates their last-fetched date (spec §4.4). */
  async listTasks(who: ApproverIdentity, q: Omit<TaskQuery, 'approvers'>): Promise<{ task: TaskRow; request: RequestRow }[]> {
    const approvers = who.approver === null ? null : [who.approver];
    const tasks = await this.tasks.query({ ...q, approvers });
    const requests = new Map((await this.requests.many([...new Set(tasks.map((t) => t.request_id))])).map((r) => [r.id, r]));
    const at = isoMs(this.now());
    await this.tasks.touch(tasks.map((t) => t.id), at);
    return tasks.flatMap((t) => {
      const request = requests.get(t.request_id);
      return request ? [{ task: { ...t, last_fetched_at: at }, request }] : [];
    });
  }

  // --- Scheduler pass ----------------------------------------------------------------------------------

  /** One pass: expire overdue requests, execute due ones, recover dead claims. Safe to run concurrently. */
  async tick(): Promise<{ expired: number; executed: number; recovered: number }> {
    const nowIso = isoMs(this.now());
    let expired = 0;
    for (const id of await this.requests.overdue(nowIso, 500)) {
      await this.reevaluate(id);
      expired++;
    }
    // PENDING requests nobody can act on any more (no open task: always-satisfiable rules, decisions
    // recorded just before a crash) are decided here.
    for (const id of await this.requests.undecided(500)) await this.reevaluate(id);
    let executed = 0;
    for (const id of await this.requests.due(nowIso, 500)) if (await this.execute(id)) executed++;
    const recovered = await this.recoverStaleClaims();
    return { expired, executed, recovered };
  }
}
