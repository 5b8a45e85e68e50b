// Warden's audit trail: every state change and every key use, HMAC-chained. Entry n carries
// HMAC(auditKey, mac(n-1) ‖ canonical(entry n)); the head (last seq and mac, itself MACed) is kept in meta in the
// same transaction, so an edited, deleted or truncated entry is detected by `warden audit verify`.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { lockId, type Store } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { AuditRepository, MetaRepository, type AuditQuery, type AuditRow } from '../store/repositories.ts';
import { canonical, seal, unseal } from '../keystore/software/seal.ts';
import type { MasterKey } from '../keystore/software/master-key.ts';

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
/** Entries per append transaction at most (11 bound parameters each; far below SQLite's limit). */
const MAX_BATCH = 200;

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

export class AuditLog {
  /** Entries waiting for the next write, and the write in progress (null when idle). */
  private queue: Array<{ entry: AuditEntry; resolve: (seq: number) => void; reject: (e: unknown) => void }> = [];
  private writing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly key: Buffer,
  ) {}

  /**
   * Appends one entry and resolves with its sequence number once it is committed; rejects if the write
   * fails. Appends are serialised so the chain has one order: in-process by one writer at a time, across
   * nodes by a transaction-scoped advisory lock on PostgreSQL (SQLite serves one node). Entries that
   * arrive while a write is in progress go into the next transaction together (group commit), so the
   * one lock and one commit are paid per batch, not per call.
   */
  append(entry: AuditEntry): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ entry, resolve, reject });
      this.writing ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      try {
        const seqs = await this.write(batch.map((b) => b.entry));
        batch.forEach((b, i) => b.resolve(seqs[i] as number));
      } catch (e) {
        batch.forEach((b) => b.reject(e));
      }
    }
    this.writing = null;
  }

  /** Waits for the write in progress (reads after an append see it). */
  private async settled(): Promise<void> {
    await this.writing;
  }

  private async write(entries: AuditEntry[]): Promise<number[]> {
    return this.store.db.transaction().execute(async (trx) => {
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
      await trx.insertInto('audit_log').values(rows).execute();
      await meta.set(HEAD, `${seq}:${prevMac}:${headTag(this.key, seq, prevMac)}`);
      return rows.map((r) => r.seq);
    });
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
