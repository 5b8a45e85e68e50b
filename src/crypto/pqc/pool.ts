// The worker-thread pool for pure-JS signature work (issue 5 §6): ML-DSA, SLH-DSA, BLS, LMS and XMSS
// run in workers so a slow post-quantum signature (SLH-DSA-256s takes seconds) never stalls the
// event loop. Sized to the cores less one (left for the event loop), at least 1; WARDEN_PQC_WORKERS
// overrides it, 0 runs every job inline (debugging). Jobs for one stateful key go to the same worker
// (affinity), so its Merkle tree is built once per worker rather than once per worker per key.
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { buildSync } from 'esbuild';
import { runJob, type Job, type JobResult } from './ops.ts';

/** A job failed inside the primitive (bad key bytes, bad parameters): the caller maps it to a wire error. */
export class PqcJobError extends Error {}

interface Pending {
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

interface Reply {
  id?: number;
  ok?: JobResult;
  error?: string;
  ready?: boolean;
}

/**
 * The worker's code: worker.ts and what it imports, bundled once per process by esbuild (the compiler
 * under tsx) into one CommonJS script run with `eval`. Registering the tsx loader inside a worker
 * instead deadlocks the main thread on Node 20 when it happens while requests are being served.
 */
let workerSource: string | null = null;
function source(): string {
  workerSource ??= buildSync({
    entryPoints: [fileURLToPath(new URL('./worker.ts', import.meta.url))],
    bundle: true, format: 'cjs', platform: 'node', target: 'node20', write: false, logLevel: 'silent',
  }).outputFiles[0].text;
  return workerSource;
}

function defaultSize(): number {
  const env = process.env.WARDEN_PQC_WORKERS;
  if (env !== undefined && /^\d+$/.test(env)) return Number(env);
  return Math.max(1, availableParallelism() - 1);
}

let size = defaultSize();
let slots: (Slot | undefined)[] = [];
let nextId = 1;
let rr = 0;

/** Sets the number of workers (0 = inline); running workers are stopped. */
export function configurePqcPool(opts: { size: number }): void {
  for (const s of slots) if (s) void s.worker.terminate();
  slots = [];
  size = Math.max(0, Math.floor(opts.size));
}

export function pqcPoolSize(): number {
  return size;
}

function spawn(index: number): Slot {
  // execArgv [] keeps the parent's loader and test-runner flags out of a worker that needs none.
  const worker = new Worker(source(), { eval: true, execArgv: [] });
  const slot: Slot = { worker, pending: new Map() };
  worker.unref();
  const failAll = (err: Error) => {
    if (slots[index] === slot) slots[index] = undefined;
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    if (reply.id === undefined) return;
    const p = slot.pending.get(reply.id);
    if (!p) return;
    slot.pending.delete(reply.id);
    if (slot.pending.size === 0) worker.unref();
    if (reply.error !== undefined) p.reject(new PqcJobError(reply.error));
    else p.resolve(reply.ok as JobResult);
  });
  worker.on('error', (e) => failAll(e instanceof Error ? e : new Error(String(e))));
  worker.on('exit', (code) => failAll(new Error(`PQC worker exited with code ${code}`)));
  slots[index] = slot;
  return slot;
}

function slotAt(index: number): Slot {
  return slots[index] ?? spawn(index);
}

/** The worker for a job: fixed by affinity, else an idle one, else the least busy. */
function pick(affinity: string | undefined): Slot {
  if (affinity !== undefined) return slotAt(createHash('sha256').update(affinity).digest().readUInt32BE(0) % size);
  for (let i = 0; i < size; i++) {
    const s = slots[i];
    if (!s || s.pending.size === 0) return slotAt(i);
  }
  let best = rr++ % size;
  for (let i = 0; i < size; i++) if ((slots[i]?.pending.size ?? 0) < (slots[best]?.pending.size ?? 0)) best = i;
  return slotAt(best);
}

/** Runs a job on the pool (or inline when the pool is sized 0). Rejects with PqcJobError on bad input. */
export function runPqc(job: Job, affinity?: string): Promise<JobResult> {
  if (size === 0) {
    try {
      return Promise.resolve(runJob(job));
    } catch (e) {
      return Promise.reject(new PqcJobError(e instanceof Error ? e.message : String(e)));
    }
  }
  const slot = pick(affinity);
  const id = nextId++;
  return new Promise<JobResult>((resolve, reject) => {
    if (slot.pending.size === 0) slot.worker.ref();
    slot.pending.set(id, { resolve, reject });
    slot.worker.postMessage({ id, job });
  });
}

/** Typed helpers: byte results and boolean results. */
export async function runPqcBytes(job: Job, affinity?: string): Promise<Buffer> {
  const r = await runPqc(job, affinity);
  if (!(r instanceof Uint8Array)) throw new PqcJobError('worker returned no bytes');
  return Buffer.from(r.buffer, r.byteOffset, r.byteLength);
}

export async function runPqcBool(job: Job, affinity?: string): Promise<boolean> {
  return (await runPqc(job, affinity)) === true;
}

/** Starts every worker now (bundling and loading take ~1 s), so the first PQC request does not pay for it. */
export function warmPqcPool(): void {
  for (let i = 0; i < size; i++) slotAt(i);
}
