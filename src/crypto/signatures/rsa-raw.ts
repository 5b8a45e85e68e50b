// RSA private-key operations node:crypto only offers synchronously (privateEncrypt with PKCS#1 type-1
// or no padding, privateDecrypt without padding) run here on a small worker-thread pool, so a 4096-bit
// operation never stalls the event loop (issue 4 scope 9). The worker is plain JavaScript evaluated
// from a string: no loader, no build step, nothing but node:crypto inside it.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export type RawRsaOp = 'privateEncrypt' | 'privateDecrypt';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const crypto = require('node:crypto');
const cache = new Map();
function keyFor(der) {
  const id = crypto.createHash('sha256').update(der).digest('base64');
  let k = cache.get(id);
  if (!k) {
    k = crypto.createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' });
    if (cache.size >= 64) cache.delete(cache.keys().next().value);
    cache.set(id, k);
  }
  return k;
}
parentPort.on('message', (m) => {
  try {
    const key = keyFor(m.key);
    const out = crypto[m.op]({ key, padding: m.padding }, Buffer.from(m.data));
    parentPort.postMessage({ id: m.id, out });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e && e.message || e) });
  }
});
`;

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
}

const SIZE = Math.max(1, Math.min(4, availableParallelism()));
const pool: PoolWorker[] = [];
let nextId = 1;

function spawn(): PoolWorker {
  // execArgv [] keeps the parent's loader flags (tsx) out of a worker that needs none.
  const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [] });
  const pw: PoolWorker = { worker, pending: new Map() };
  worker.unref();
  worker.on('message', (m: { id: number; out?: Uint8Array; error?: string }) => {
    const p = pw.pending.get(m.id);
    if (!p) return;
    pw.pending.delete(m.id);
    if (pw.pending.size === 0) worker.unref();
    if (m.error !== undefined || !m.out) p.reject(new Error(m.error ?? 'RSA worker returned nothing'));
    else p.resolve(Buffer.from(m.out.buffer, m.out.byteOffset, m.out.byteLength));
  });
  const fail = (err: Error) => {
    const i = pool.indexOf(pw);
    if (i >= 0) pool.splice(i, 1);
    for (const p of pw.pending.values()) p.reject(err);
    pw.pending.clear();
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`RSA worker exited with code ${code}`)));
  pool.push(pw);
  return pw;
}

function pick(): PoolWorker {
  const idle = pool.find((w) => w.pending.size === 0);
  if (idle) return idle;
  if (pool.length < SIZE) return spawn();
  return pool.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
}

/**
 * One raw RSA private-key operation off the event loop: `privateEncrypt` (signature primitive with
 * RSA_PKCS1_PADDING or RSA_NO_PADDING) or `privateDecrypt` (RSA_NO_PADDING). `pkcs8` is the key's DER.
 */
export function rsaPrivateRaw(op: RawRsaOp, pkcs8: Buffer, data: Buffer, padding: number): Promise<Buffer> {
  const pw = pick();
  const id = nextId++;
  return new Promise<Buffer>((resolve, reject) => {
    pw.pending.set(id, { resolve, reject });
    // Keep the process alive while an operation is in flight; idle workers never hold it open.
    pw.worker.ref();
    pw.worker.postMessage({ id, op, key: pkcs8, padding, data });
  });
}
