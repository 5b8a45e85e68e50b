// Repositories of the workflow tables (requests, approval tasks, approvals, consumed challenges). They
// move rows; the state machine lives in engine.ts. Status transitions are conditional updates
// (`… WHERE status = <expected>`) so that concurrent callers never both win one transition.
import type { Kysely, Transaction } from 'kysely';
import type { ApprovalTasksTable, ApprovalsTable, Database, RequestsTable } from '../store/schema.ts';

export type Db = Kysely<Database> | Transaction<Database>;
export type RequestRow = RequestsTable;
export type TaskRow = ApprovalTasksTable;
export type ApprovalRow = ApprovalsTable;

/** Wire statuses (spec §3.3) plus EXECUTING: claimed by one executor, shown as APPROVED. */
export type RequestStatus = 'PENDING' | 'APPROVED' | 'EXECUTING' | 'EXECUTED' | 'FAILED' | 'EXPIRED' | 'REJECTED' | 'CANCELLED';
export const WIRE_STATUSES = ['PENDING', 'APPROVED', 'EXECUTED', 'FAILED', 'EXPIRED', 'REJECTED', 'CANCELLED'] as const;
export type WireStatus = (typeof WIRE_STATUSES)[number];

export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string };
  return err?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || err?.code === 'SQLITE_CONSTRAINT_UNIQUE' || err?.code === '23505';
}

/** Records a challenge as used; false when it was used before (the keystore's replay guard). */
export async function consumeChallenge(db: Db, hash: Buffer, label: string, at: string): Promise<boolean> {
  // ON CONFLICT DO NOTHING rather than catching the violation: on PostgreSQL a failed statement would
  // abort the caller's transaction.
  const r = await db
    .insertInto('consumed_challenges')
    .values({ hash: hash.toString('hex'), key_label: label, used_at: at })
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
}

export interface RequestQuery {
  statuses?: RequestStatus[];
  offset: number;
  limit: number;
  order: 'asc' | 'desc';
}

export class RequestsRepository {
  constructor(private readonly db: Db) {}

  async insert(row: RequestRow): Promise<void> {
    await this.db.insertInto('requests').values(row).execute();
  }

  async get(id: string): Promise<RequestRow | undefined> {
    return this.db.selectFrom('requests').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async many(ids: string[]): Promise<RequestRow[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom('requests').selectAll().where('id', 'in', ids).execute();
  }

  /** Requests per status (read at scrape time by the Prometheus gauge of src/server/metrics.ts). */
  async countByStatus(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('requests').select((eb) => ['status', eb.fn.countAll().as('n')]).groupBy('status').execute();
    return new Map(rows.map((r) => [r.status, Number(r.n)]));
  }

  /** Moves a request from one of `from` to `to` with `patch`; true when this caller made the transition. */
  async transition(id: string, from: RequestStatus[], to: RequestStatus, patch: Partial<RequestRow> = {}): Promise<boolean> {
    const r = await this.db
      .updateTable('requests')
      .set({ ...patch, status: to })
      .where('id', '=', id)
      .where('status', 'in', from)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async update(id: string, patch: Partial<RequestRow>): Promise<void> {
    await this.db.updateTable('requests').set(patch).where('id', '=', id).execute();
  }

  async query(q: RequestQuery): Promise<RequestRow[]> {
    let sel = this.db.selectFrom('requests').selectAll();
    if (q.statuses && q.statuses.length > 0) sel = sel.where('status', 'in', q.statuses);
    return sel.orderBy('created_at', q.order).orderBy('id', q.order).limit(q.limit).offset(q.offset).execute();
  }

  async idsOfKey(label: string, statuses: RequestStatus[]): Promise<string[]> {
    const rows = await this.db.selectFrom('requests').select('id').where('key_label', '=', label).where('status', 'in', statuses).execute();
    return rows.map((r) => r.id);
  }

  /** APPROVED requests whose time-lock has elapsed. */
  async due(nowIso: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('requests')
      .select('id')
      .where('status', '=', 'APPROVED')
      .where('execute_after', '<=', nowIso)
      .orderBy('execute_after')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** PENDING requests past the last time-out of their tokens. */
  async overdue(nowIso: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('requests')
      .select('id')
      .where('status', '=', 'PENDING')
      .where('expires_at', 'is not', null)
      .where('expires_at', '<', nowIso)
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** PENDING requests without an open task: no approver can change them any more, so they await a decision. */
  async undecided(limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('requests')
      .select('id')
      .where('status', '=', 'PENDING')
      .where((eb) => eb.not(eb.exists(eb.selectFrom('approval_tasks').select('approval_tasks.id').whereRef('approval_tasks.request_id', '=', 'requests.id').where('approval_tasks.state', '=', 'open'))))
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  /** EXECUTING claims older than `beforeIso`: their executor died (crash, restart). */
  async staleClaims(beforeIso: string, limit: number): Promise<RequestRow[]> {
    return this.db.selectFrom('requests').selectAll().where('status', '=', 'EXECUTING').where('claimed_at', '<', beforeIso).limit(limit).execute();
  }
}

export interface TaskQuery {
  /** Approver identities (Base64 SPKI); null = every approver (whitelisted timestamp signer). */
  approvers: string[] | null;
  types: string[] | null;
  id?: string | null;
  requestId?: string | null;
  offset: number;
  limit: number | null;
  sort: 'created_at' | 'last_fetched_at';
  order: 'asc' | 'desc';
}

export class TasksRepository {
  constructor(private readonly db: Db) {}

  async insertMany(rows: TaskRow[]): Promise<void> {
    if (rows.length > 0) await this.db.insertInto('approval_tasks').values(rows).execute();
  }

  async get(id: string): Promise<TaskRow | undefined> {
    return this.db.selectFrom('approval_tasks').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async ofRequest(requestId: string): Promise<TaskRow[]> {
    return this.db.selectFrom('approval_tasks').selectAll().where('request_id', '=', requestId).execute();
  }

  /** Open tasks of PENDING requests, joined with their request type. */
  async query(q: TaskQuery): Promise<TaskRow[]> {
    let sel = this.db
      .selectFrom('approval_tasks')
      .innerJoin('requests', 'requests.id', 'approval_tasks.request_id')
      .selectAll('approval_tasks')
      .where('approval_tasks.state', '=', 'open')
      .where('requests.status', '=', 'PENDING');
    if (q.approvers) sel = sel.where('approval_tasks.approver', 'in', q.approvers.length ? q.approvers : ['-']);
    if (q.types) sel = sel.where('requests.type', 'in', q.types);
    if (q.id) sel = sel.where('approval_tasks.id', '=', q.id);
    else if (q.requestId) sel = sel.where('approval_tasks.request_id', '=', q.requestId);
    sel = sel.orderBy(`approval_tasks.${q.sort}`, q.order).orderBy('approval_tasks.id', q.order);
    // SQLite accepts OFFSET only after a LIMIT.
    if (q.limit !== null || q.offset > 0) sel = sel.limit(q.limit ?? Number.MAX_SAFE_INTEGER).offset(q.offset);
    return sel.execute();
  }

  /** Tasks per state (read at scrape time by the Prometheus gauge of src/server/metrics.ts). */
  async countByState(): Promise<Map<string, number>> {
    const rows = await this.db.selectFrom('approval_tasks').select((eb) => ['state', eb.fn.countAll().as('n')]).groupBy('state').execute();
    return new Map(rows.map((r) => [r.state, Number(r.n)]));
  }

  async touch(ids: string[], at: string): Promise<void> {
    if (ids.length > 0) await this.db.updateTable('approval_tasks').set({ last_fetched_at: at }).where('id', 'in', ids).execute();
  }

  /** Moves one task out of `open`; true when this caller did it. */
  async close(id: string, state: 'approved' | 'rejected'): Promise<boolean> {
    const r = await this.db.updateTable('approval_tasks').set({ state }).where('id', '=', id).where('state', '=', 'open').executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Removes the tasks of a request; rejections stay, they are its `rejectedBy`. */
  async deleteOfRequest(requestId: string): Promise<void> {
    await this.db.deleteFrom('approval_tasks').where('request_id', '=', requestId).where('state', '!=', 'rejected').execute();
  }

  /** Tasks of requests that are no longer PENDING (cleanup); rejections stay, they are the request's `rejectedBy`. */
  async deleteClosed(): Promise<number> {
    const r = await this.db
      .deleteFrom('approval_tasks')
      .where('state', '!=', 'rejected')
      .where('request_id', 'in', (eb) => eb.selectFrom('requests').select('id').where('status', '!=', 'PENDING'))
      .executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

export class ApprovalsRepository {
  constructor(private readonly db: Db) {}

  /** Records an approval; false when this approver already approved the request. */
  async insert(row: ApprovalRow): Promise<boolean> {
    const r = await this.db.insertInto('approvals').values(row).onConflict((oc) => oc.doNothing()).executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async ofRequest(requestId: string): Promise<ApprovalRow[]> {
    return this.db.selectFrom('approvals').selectAll().where('request_id', '=', requestId).orderBy('approved_at').execute();
  }

  async ofRequests(ids: string[]): Promise<ApprovalRow[]> {
    if (ids.length === 0) return [];
    return this.db.selectFrom('approvals').selectAll().where('request_id', 'in', ids).execute();
  }
}
