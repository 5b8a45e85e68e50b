// Warden's audit trail: every state change and every key use, HMAC-chained. Entry n carries
// HMAC(auditKey, mac(n-1) ‖ canonical(entry n)); the head (last seq and mac, itself MACed) is kept in meta in the
// same transaction, so an edited, deleted or truncated entry is detected by `warden audit verify`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { CompiledQuery, sql, type Kysely, type Transaction } from 'kysely';
import { lockId, type Store } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { AuditRepository, MetaRepository, type AuditQuery, type AuditRow } from '../store/repositories.ts';
import { canonical, seal, unseal } from '../keystore/software/seal.ts';
import type { MasterKey } from '../keystore/software/master-key.ts';
import { writeUses, type UseCounter } from '../keystore/software/use-counter.ts';

export interface AuditEntry {
  requestId?: string | null;
  principal?: string | null;
  method?: string | null;
  route?: string | null;
  action: string;
  keyLabel?: string | null;
  outcome: string;
  details?: Record<string, unknown> | null;
}

type VerifyResult = { ok: boolean; entries: number; firstBad: number | null; problem: string | null };

const GENESIS = '0'.repeat(64);
const AUDIT_KEY = 'sealed:audit_key';
const HEAD = 'audit_head';
/**
 * pg_advisory_xact_lock key for appends: on PostgreSQL several nodes append to one chain, so the
 * read-head / insert / write-head sequence is serialised in the database, not in-process.
 */
const APPEND_LOCK = sql.raw(lockId('audit-append'));
const INSERT_SQLITE = 'insert into audit_log (seq, time, request_id, principal, method, route, action, key_label, outcome, details, mac) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';

/** Entries per append transaction at most (11 bound parameters each; far below SQLite's limit). */
const MAX_BATCH = 500;
/** Use counts of keys used outside an audited call are written this long after the first such use. */
const USES_DELAY_MS = 20;

/**
 * The head is `seq:mac:tag` with tag = HMAC(auditKey, "head" ‖ seq ‖ mac). Without the tag anyone able
 * to write the database could cut the tail off and point the head at the new last entry (both values
 * are readable), and the next append would extend the shortened chain as if nothing happened.
 */
function headTag(key: Buffer, seq: number, mac: string): string {
  return createHmac('sha256', key).update(`warden/audit/head/v1:${seq}:${mac}`).digest('hex');
}

type Head = { seq: number; mac: string; valid: boolean };

function parseHead(key: Buffer, value: string | undefined): Head {
  if (value === undefined) return { seq: 0, mac: GENESIS, valid: true };
  const [seqText, mac, tag] = value.split(':');
  const seq = Number(seqText);
  if (!/^\d+$/.test(seqText ?? '') || !/^[0-9a-f]{64}$/.test(mac ?? '') || !/^[0-9a-f]{64}$/.test(tag ?? '')) return { seq, mac: mac ?? '', valid: false };
  const want = Buffer.from(headTag(key, seq, mac), 'hex');
  return { seq, mac, valid: timingSafeEqual(want, Buffer.from(tag, 'hex')) };
}

function entryMac(key: Buffer, prev: string, row: Omit<AuditRow, 'mac'>): string {
  const body = canonical({
    seq: row.seq,
    time: row.time,
    requestId: row.request_id,
    principal: row.principal,
    method: row.method,
    route: row.route,
    action: row.action,
    keyLabel: row.key_label,
    outcome: row.outcome,
    details: row.details,
  });
  return createHmac('sha256', key).update(prev).update(body).digest('hex');
}

/**
 * PostgreSQL text cannot hold U+0000 (SQLSTATE 22021), and a caller can put one in a path (a key
 * label of "%00" is refused, but still audited). Written as the 6 characters \u0000 on both databases,
 * so an entry reads and verifies the same whichever one stores it.
 */
function storable(v: string | null | undefined): string | null {
  return v === null || v === undefined ? null : v.replaceAll('\u0000', '\\u0000');
}

/** Loads (or on first use creates) the random audit MAC key, sealed under the master key in meta. */
export async function loadAuditKey(store: Store, master: MasterKey): Promise<Buffer> {
  const meta = new MetaRepository(store.db);
  const stored = await meta.get(AUDIT_KEY);
  if (stored) return unseal(master.sealKey, Buffer.from(stored, 'base64'), AUDIT_KEY);
  // Nodes starting together on an empty database race here: the first key written wins and every
  // node uses that one, or their chains would be MACed under different keys.
  const won = await meta.setIfAbsent(AUDIT_KEY, seal(master.sealKey, randomBytes(32), AUDIT_KEY).toString('base64'));
  return unseal(master.sealKey, Buffer.from(won, 'base64'), AUDIT_KEY);
}

/** Re-seals the audit key under a new master key (inside the rotation transaction). */
export async function resealAuditKey(meta: MetaRepository, from: MasterKey, to: MasterKey): Promise<void> {
  const stored = await meta.get(AUDIT_KEY);
  if (!stored) return;
  const key = unseal(from.sealKey, Buffer.from(stored, 'base64'), AUDIT_KEY);
  await meta.set(AUDIT_KEY, seal(to.sealKey, key, AUDIT_KEY).toString('base64'));
}

type Waiter = { entry: AuditEntry; resolve: (seq: number) => void; reject: (e: unknown) => void };

/**
 * Where batches go instead of this process's own transaction: a cluster worker on SQLite hands them to
 * the primary, the one writer of the chain (src/audit/remote.ts). A rejection carrying
 * `usesAccepted: true` means the writer took the use counts over (it retries them itself).
 */
export interface AuditSink {
  write(entries: AuditEntry[], uses: Array<[string, number]>): Promise<number[]>;
}

const NO_USES: ReadonlyMap<string, number> = new Map();

export class AuditLog {
  private insertStatement: { run(...params: unknown[]): unknown } | null = null;
  /** Entries waiting for the next batch. */
  private queue: Waiter[] = [];
  /** The batch loop in progress (null when idle), and whether one is about to start. */
  private writing: Promise<void> | null = null;
  private scheduled = false;
  /** Key use counters written with each batch (src/keystore/software/use-counter.ts). */
  private uses: UseCounter | null = null;
  private usesTimer: NodeJS.Timeout | null = null;
  private lastError: unknown = null;
  private sink: AuditSink | null = null;
  private readonly sent = new Set<Promise<void>>();
  /** Committed batches and entries since start (tests, diagnostics). */
  readonly stats = { batches: 0, entries: 0, largestBatch: 0 };

  constructor(
    private readonly store: Store,
    private readonly key: Buffer,
  ) {}

  /**
   * Writes the keystore's pending use counts in the audit batches (one commit for both), and after
   * USES_DELAY_MS when uses happen without an audited call (workflow executions, internal signatures).
   */
  attachUseCounter(uses: UseCounter): void {
    this.uses = uses;
    uses.onPending(() => {
      if (this.usesTimer) return;
      this.usesTimer = setTimeout(() => {
        this.usesTimer = null;
        void this.flush().catch(() => undefined);
      }, USES_DELAY_MS);
      this.usesTimer.unref();
    });
  }

  /** Batches go to `sink` from now on (a cluster worker's primary) instead of this process's database. */
  useSink(sink: AuditSink): void {
    this.sink = sink;
  }

  /**
   * The single writer's side of a sink (the cluster primary): a worker's batch and use counts join this
   * log's next batch, in one transaction; resolves with the entries' sequence numbers once committed.
   * Use counts without entries are committed by a flush; if that fails they stay pending here.
   */
  async appendAll(entries: AuditEntry[], uses: Array<[string, number]>): Promise<number[]> {
    if (uses.length > 0) {
      if (!this.uses) throw new Error('this audit log writes no use counts (attachUseCounter)');
      this.uses.add(uses);
    }
    if (entries.length === 0) {
      if (uses.length > 0) await this.flush().catch(() => undefined);
      return [];
    }
    return Promise.all(entries.map((e) => this.append(e)));
  }

  /**
   * Appends one entry and resolves with its sequence number once it is committed; rejects if the write
   * fails (the caller fails its operation: an entry is never silently skipped). Group commit: entries
   * appended during one turn of the event loop, or while a batch is being written, go into one
   * transaction together (up to MAX_BATCH), so one commit (fsync) and, on PostgreSQL, one lock on the
   * head are paid per batch rather than per call. The chain has one order: in-process one batch at a
   * time, across nodes and processes by the transaction's lock on the head (PostgreSQL advisory lock,
   * SQLite BEGIN IMMEDIATE).
   */
  append(entry: AuditEntry): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.schedule();
    });
  }

  /**
   * Starts a batch after the current turn of the event loop: the calls finishing in this turn join it.
   * A running batch loop picks up what is queued meanwhile by itself.
   */
  private schedule(): void {
    if (this.writing || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.kick();
    });
  }

  private kick(): Promise<void> {
    // Cleared in a callback, not inside drain(): a drain with nothing to do ends synchronously, before
    // the assignment here, and would leave a settled promise behind as "writing" for ever.
    this.writing ??= this.drain().finally(() => {
      this.writing = null;
      if (this.queue.length > 0) this.schedule();
    });
    return this.writing;
  }

  private async drain(): Promise<void> {
    if (this.sink) return this.drainToSink(this.sink);
    for (;;) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const uses = this.uses && this.uses.size > 0 ? this.uses.take() : null;
      if (batch.length === 0 && !uses) return;
      try {
        this.settle(batch, uses, await this.write(batch.map((b) => b.entry), uses ?? NO_USES));
      } catch (e) {
        this.settle(batch, uses, e);
      }
      if (this.queue.length === 0) return;
      // Let the I/O of this turn run first (responses of the batch just written, calls finishing):
      // what it appends joins the next batch, which is how batches grow with the load.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * To a sink (the cluster primary) batches are pipelined: each turn's batch leaves at once, without
   * waiting for the one before it, so a call waits for its own batch's commit only. The writer appends
   * them in the order they arrive (one IPC channel keeps a worker's order).
   */
  private drainToSink(sink: AuditSink): void {
    while (this.queue.length > 0 || (this.uses?.size ?? 0) > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const uses = this.uses && this.uses.size > 0 ? this.uses.take() : null;
      const sent = sink.write(batch.map((b) => b.entry), [...(uses ?? [])]).then(
        (seqs) => this.settle(batch, uses, seqs),
        (e: unknown) => this.settle(batch, uses, e),
      );
      this.sent.add(sent);
      void sent.finally(() => this.sent.delete(sent));
    }
  }

  /** Answers a batch's callers: sequence numbers, or the error for every one of them. */
  private settle(batch: Waiter[], uses: Map<string, number> | null, outcome: number[] | unknown): void {
    if (Array.isArray(outcome)) {
      if (uses) this.uses?.written(uses);
      this.stats.batches++;
      this.stats.entries += batch.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
      batch.forEach((b, i) => b.resolve(outcome[i] as number));
      return;
    }
    this.lastError = outcome;
    if (uses && (outcome as { usesAccepted?: boolean }).usesAccepted) this.uses?.written(uses);
    else if (uses) this.uses?.giveBack(uses);
    batch.forEach((b) => b.reject(outcome));
  }

  /**
   * Writes everything queued and every pending use count now and resolves once committed; rejects with
   * the error of a failed write (the entries' own appenders got it too).
   */
  async flush(): Promise<void> {
    this.lastError = null;
    // A batch loop in progress may have taken its last look before the newest work arrived.
    if (this.writing) await this.writing;
    if (this.queue.length > 0 || (this.uses?.size ?? 0) > 0) await this.kick();
    // Another flush (the use-count timer's) may have started the batch that took the work this one came
    // for: wait for it too, or close() would end the store under a transaction still in flight.
    if (this.writing) await this.writing;
    // Batches handed to a sink and not answered yet.
    if (this.sent.size > 0) await Promise.allSettled([...this.sent]);
    if (this.lastError) throw this.lastError;
  }

  /** Clean shutdown: nothing queued is lost. Appends after close() are still written. */
  async close(): Promise<void> {
    if (this.usesTimer) clearTimeout(this.usesTimer);
    this.usesTimer = null;
    await this.flush();
  }

  /** Waits for queued entries (reads after an append see it). */
  private async settled(): Promise<void> {
    await this.flush().catch(() => undefined);
  }

  /**
   * Appends inside the caller's transaction: the entries exist exactly when the caller's writes do (a
   * workflow execution's entry and its result). Takes the chain's lock first thing, so call it before
   * touching rows the audit batches also write (key use counts): the same lock order as a batch.
   */
  appendWithin(trx: Transaction<Database>, entries: AuditEntry[]): Promise<number[]> {
    return this.appendRows(trx, entries);
  }

  private async write(entries: AuditEntry[], uses: ReadonlyMap<string, number>): Promise<number[]> {
    return this.store.db.transaction().execute(async (trx) => {
      const seqs = entries.length > 0 ? await this.appendRows(trx, entries) : [];
      if (uses.size > 0) await writeUses(trx, uses as Map<string, number>);
      return seqs;
    });
  }

  private async appendRows(trx: Transaction<Database>, entries: AuditEntry[]): Promise<number[]> {
    // First statement of the transaction: under READ COMMITTED the head read below then sees the
    // previous holder's commit. Released at commit or rollback, so a dead node never holds it.
    if (this.store.dialect === 'postgres') await sql`select pg_advisory_xact_lock(${APPEND_LOCK})`.execute(trx);
    const meta = new MetaRepository(trx);
    const head = parseHead(this.key, await meta.get(HEAD));
    // Extending a chain whose head was rewritten would launder the change: refuse (the call gets 703).
    if (!head.valid) throw new Error('the audit log head failed its integrity check; run `warden audit verify`');
    let prevMac = head.mac;
    let seq = head.seq;
    const rows: AuditRow[] = [];
    const time = new Date().toISOString();
    for (const entry of entries) {
      seq += 1;
      const row = {
        seq,
        time,
        request_id: storable(entry.requestId),
        principal: storable(entry.principal),
        method: storable(entry.method),
        route: storable(entry.route),
        action: storable(entry.action) ?? '',
        key_label: storable(entry.keyLabel),
        outcome: storable(entry.outcome) ?? '',
        details: entry.details ? JSON.stringify(entry.details) : null,
      };
      const mac = entryMac(this.key, prevMac, row);
      rows.push({ ...row, mac });
      prevMac = mac;
    }
    if (this.store.dialect === 'postgres') {
      // One round trip for the batch (the advisory lock is held meanwhile).
      await trx.insertInto('audit_log').values(rows).execute();
    } else if (this.store.sqlite) {
      // In-process SQLite: one prepared single-row INSERT per entry, bound and run on the connection
      // the transaction is open on (~3 us; through Kysely's executor ~13 us, per entry of every batch).
      // A multi-row insert would be a new statement (compiled by SQLite) for every batch size.
      this.insertStatement ??= this.store.sqlite.prepare(INSERT_SQLITE);
      for (const r of rows) this.insertStatement.run(r.seq, r.time, r.request_id, r.principal, r.method, r.route, r.action, r.key_label, r.outcome, r.details, r.mac);
    } else {
      for (const r of rows) {
        await trx.executeQuery(CompiledQuery.raw(INSERT_SQLITE, [r.seq, r.time, r.request_id, r.principal, r.method, r.route, r.action, r.key_label, r.outcome, r.details, r.mac]));
      }
    }
    await meta.set(HEAD, `${seq}:${prevMac}:${headTag(this.key, seq, prevMac)}`);
    return rows.map((r) => r.seq);
  }

  async query(q: AuditQuery): Promise<AuditRow[]> {
    await this.settled();
    return new AuditRepository(this.store.db).query(q);
  }

  async get(seq: number): Promise<AuditRow | undefined> {
    await this.settled();
    return new AuditRepository(this.store.db).get(seq);
  }

  /** Walks the whole chain. ok=false names the first entry that does not verify. */
  async verify(): Promise<VerifyResult> {
    await this.settled();
    // Other nodes keep appending on PostgreSQL: read head and entries in one snapshot, or a concurrent
    // append between the two reads would look like a truncated chain. (SQLite: one node, and a long
    // transaction there would hold its single connection.)
    if (this.store.dialect === 'postgres') {
      return this.store.db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute((trx) => this.walk(trx));
    }
    return this.walk(this.store.db);
  }

  private async walk(db: Kysely<Database> | Transaction<Database>): Promise<VerifyResult> {
    const repo = new AuditRepository(db);
    const head = parseHead(this.key, await new MetaRepository(db).get(HEAD));
    let prev = GENESIS;
    let expectedSeq = 1;
    let n = 0;
    for (;;) {
      const rows = await repo.query({ afterSeq: expectedSeq - 1, limit: 1000 });
      if (rows.length === 0) break;
      for (const row of rows) {
        if (row.seq !== expectedSeq) return { ok: false, entries: n, firstBad: expectedSeq, problem: `entry ${expectedSeq} is missing` };
        const mac = entryMac(this.key, prev, row);
        const a = Buffer.from(mac, 'hex');
        const b = Buffer.from(row.mac, 'hex');
        if (a.length !== b.length || !timingSafeEqual(a, b)) {
          return { ok: false, entries: n, firstBad: row.seq, problem: `entry ${row.seq} was modified or is out of chain` };
        }
        prev = row.mac;
        expectedSeq++;
        n++;
      }
    }
    if (!head.valid) {
      return { ok: false, entries: n, firstBad: n + 1, problem: `the head of the log (last entry ${head.seq}) was modified: entries were probably removed from the end` };
    }
    if (head.seq !== n || head.mac !== prev) {
      return { ok: false, entries: n, firstBad: n + 1, problem: `the log ends at entry ${n} but its head records entry ${head.seq}: entries were removed from the end` };
    }
    return { ok: true, entries: n, firstBad: null, problem: null };
  }
}
