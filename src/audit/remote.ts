// `serve --workers N` on SQLite (docs/performance.md): the cluster primary is the one writer of the audit
// chain. Each worker still groups its calls' entries per event-loop turn, then hands the batch (with its
// key use counts) to the primary over the cluster IPC channel and answers its callers once the primary
// has committed it. The primary puts the batches of all workers into one transaction per turn: one fsync
// for everyone, no worker's event loop ever waits on the disk or on another process's write lock.
import cluster, { type Worker } from 'node:cluster';
import type { AuditEntry, AuditLog, AuditSink } from './log.ts';

interface WriteRequest {
  warden: 'audit-write';
  id: number;
  entries: AuditEntry[];
  uses: Array<[string, number]>;
}

interface WriteReply {
  warden: 'audit-written';
  id: number;
  seqs?: number[];
  error?: { message: string; code?: string };
}

let viaPrimary = false;

/** Set in a worker when the primary says it writes the audit log (cluster.ts start message). */
export function writeAuditViaPrimary(): void {
  viaPrimary = true;
}

/** In a worker the primary writes for: the sink that sends batches there. Null otherwise. */
export function primaryAuditSink(): AuditSink | null {
  if (!viaPrimary || !cluster.isWorker) return null;
  const pending = new Map<number, { resolve: (seqs: number[]) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  process.on('message', (message: unknown) => {
    const m = message as WriteReply | null;
    if (m?.warden !== 'audit-written') return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.seqs) p.resolve(m.seqs);
    // The primary owns the use counts it received (it keeps them pending and retries): not given back here.
    else p.reject(Object.assign(new Error(m.error?.message ?? 'the audit writer failed'), { code: m.error?.code, usesAccepted: true }));
  });
  process.on('disconnect', () => {
    for (const p of pending.values()) p.reject(new Error('the cluster primary, which writes the audit log, is gone'));
    pending.clear();
  });
  return {
    write(entries, uses) {
      return new Promise<number[]>((resolve, reject) => {
        if (!process.connected || !process.send) return reject(new Error('the cluster primary, which writes the audit log, is gone'));
        const id = nextId++;
        pending.set(id, { resolve, reject });
        const request: WriteRequest = { warden: 'audit-write', id, entries, uses };
        process.send(request, undefined, {}, (err: Error | null) => {
          if (!err) return;
          pending.delete(id);
          reject(err);
        });
      });
    },
  };
}

/** In the primary: commits workers' batches through `audit` (the single writer) and answers each. */
export function serveAuditWrites(audit: AuditLog): (worker: Worker, message: unknown) => void {
  return (worker, message) => {
    const m = message as WriteRequest | null;
    if (m?.warden !== 'audit-write') return;
    const answer = (reply: WriteReply) => {
      // A worker that died meanwhile gets no answer; its callers are gone with it.
      if (worker.isConnected()) worker.send(reply, undefined, {}, () => undefined);
    };
    audit.appendAll(m.entries, m.uses).then(
      (seqs) => answer({ warden: 'audit-written', id: m.id, seqs }),
      (e: Error & { code?: string }) => answer({ warden: 'audit-written', id: m.id, error: { message: e.message, ...(typeof e.code === 'string' ? { code: e.code } : {}) } }),
    );
  };
}
