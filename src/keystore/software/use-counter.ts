// Key use counters, batched in memory: a use adds to a per-label pending count, and the audit log's
// group commit writes the pending counts in the same transaction as the entries of the calls that made
// them (so a response never leaves before its use is counted durably), or on a short timer when uses
// happen outside a request (workflow executions). Attributes show the stored count plus the pending one.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../store/schema.ts';

export class UseCounter {
  private pending = new Map<string, number>();
  /** Taken for a write that has not committed yet: still shown, so a count never dips meanwhile. */
  private readonly writing = new Map<string, number>();
  private readonly batches = new Set<Map<string, number>>();
  private listener: (() => void) | null = null;

  /** Counts one use of `label`; tells the listener when the first pending use arrives. */
  count(label: string): void {
    const wasEmpty = this.pending.size === 0;
    this.pending.set(label, (this.pending.get(label) ?? 0) + 1);
    if (wasEmpty) this.listener?.();
  }

  /** Uses of `label` counted here and not yet committed. */
  pendingFor(label: string): number {
    return (this.pending.get(label) ?? 0) + (this.writing.get(label) ?? 0);
  }

  get size(): number {
    return this.pending.size;
  }

  /**
   * Takes every pending count for a write; the caller reports the outcome with written() or, if its
   * transaction failed, giveBack().
   */
  take(): Map<string, number> {
    const taken = this.pending;
    this.pending = new Map();
    shift(this.writing, taken, 1);
    this.batches.add(taken);
    return taken;
  }

  written(taken: Map<string, number>): void {
    this.batches.delete(taken);
    shift(this.writing, taken, -1);
  }

  giveBack(taken: Map<string, number>): void {
    this.batches.delete(taken);
    shift(this.writing, taken, -1);
    this.add(taken);
  }

  /** Adds counts made elsewhere (a cluster worker's batch, on the primary) to the pending ones. */
  add(counts: Iterable<[string, number]>): void {
    const wasEmpty = this.pending.size === 0;
    shift(this.pending, counts, 1);
    if (wasEmpty && this.pending.size > 0) this.listener?.();
  }

  /** A deleted key's pending uses have no row to go to. */
  forget(label: string): void {
    this.pending.delete(label);
    this.writing.delete(label);
    // Also out of batches not yet written: a key re-created under the label must not inherit them.
    for (const b of this.batches) b.delete(label);
  }

  /** One listener (the audit log): called when pending counts appear while none were pending. */
  onPending(fn: () => void): void {
    this.listener = fn;
  }

  /** Whether something writes the pending counts; without it the keystore writes each use at once. */
  get batched(): boolean {
    return this.listener !== null;
  }
}

function shift(target: Map<string, number>, counts: Iterable<[string, number]>, sign: 1 | -1): void {
  for (const [label, n] of counts) {
    const v = (target.get(label) ?? 0) + sign * n;
    if (v > 0) target.set(label, v);
    else target.delete(label);
  }
}

/**
 * Adds taken counts to the rows, inside the caller's transaction. Labels in sorted order, so two nodes
 * flushing overlapping sets on PostgreSQL take the row locks in the same order (no deadlock).
 */
export async function writeUses(db: Kysely<Database> | Transaction<Database>, uses: Map<string, number>): Promise<void> {
  for (const label of [...uses.keys()].sort()) {
    const n = uses.get(label) as number;
    await db.updateTable('keys').set({ use_count: sql<number>`use_count + ${n}` }).where('label', '=', label).execute();
  }
}
