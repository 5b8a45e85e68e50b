// A small worker-thread pool for RSA private-key decryption (issue 4 §9: slow operations off the event
// loop). node:crypto has no asynchronous privateDecrypt; one RSA-2048 private operation costs ~0.25 ms
// and RSA-4096 ~2 ms of event-loop time, which would stall every other request. KeyObjects are
// cloneable, so a job carries the key handle itself and workers keep no key state.
// Measured in bench/cipher.ts and docs/decisions.md: a round trip adds ~0.15 ms of latency per call
// but frees the event loop, so throughput under concurrency is higher than inline.
import { privateDecrypt, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** The data could not be decrypted (bad OAEP encoding, value out of range): a 410 for the caller. */
export class RsaDecryptError extends Error {}

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

interface Reply {
  id: number;
  ok?: Uint8Array;
  error?: string;
}

const WORKER_URL = new URL('./rsa-worker.mjs', import.meta.url);

/** One worker per core but one (left for the event loop), at least 1, at most 4. */
function defaultSize(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

let size = defaultSize();
let slots: Slot[] = [];
let nextId = 1;

/** Sets the number of workers; 0 runs every operation inline on the calling thread (bench, debugging). */
export function configureRsaPool(opts: { size: number }): void {
  for (const s of slots) void s.worker.terminate();
  slots = [];
  size = Math.max(0, Math.floor(opts.size));
}

export function rsaPoolSize(): number {
  return size;
}

function spawn(): Slot {
  // execArgv [] keeps the parent's loader flags (tsx) out of a worker that needs none.
  const worker = new Worker(WORKER_URL, { execArgv: [] });
  const slot: Slot = { worker, pending: new Map() };
  worker.unref();
  const failAll = (err: Error) => {
    slots = slots.filter((s) => s !== slot);
    for (const p of slot.pending.values()) p.reject(err);
    slot.pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    const p = slot.pending.get(reply.id);
    if (!p) return;
    slot.pending.delete(reply.id);
    if (slot.pending.size === 0) worker.unref();
    if (reply.ok) p.resolve(Buffer.from(reply.ok.buffer, reply.ok.byteOffset, reply.ok.byteLength));
    else p.reject(new RsaDecryptError(reply.error ?? 'RSA decryption failed'));
  });
  worker.on('error', (e) => failAll(e instanceof Error ? e : new Error(String(e))));
  worker.on('exit', (code) => failAll(new Error(`RSA worker exited with code ${code}`)));
  slots.push(slot);
  return slot;
}

/** The least busy worker, spawning up to `size` workers lazily. */
function pick(): Slot {
  if (slots.length < size) {
    const idle = slots.find((s) => s.pending.size === 0);
    return idle ?? spawn();
  }
  return slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
}

/**
 * RSA private-key decryption with node:crypto padding constants (RSA_NO_PADDING or
 * RSA_PKCS1_OAEP_PADDING; PKCS#1 v1.5 is refused by Node 20 and is unpadded by the caller).
 */
export function rsaPrivateDecrypt(key: KeyObject, padding: number, oaepHash: string | null, data: Buffer): Promise<Buffer> {
  if (size === 0) {
    try {
      return Promise.resolve(privateDecrypt({ key, padding, oaepHash: oaepHash ?? undefined }, data));
    } catch (e) {
      return Promise.reject(new RsaDecryptError(e instanceof Error ? e.message : String(e)));
    }
  }
  const slot = pick();
  const id = nextId++;
  return new Promise<Buffer>((resolve, reject) => {
    if (slot.pending.size === 0) slot.worker.ref();
    slot.pending.set(id, { resolve, reject });
    slot.worker.postMessage({ id, key, padding, oaepHash, data });
  });
}
