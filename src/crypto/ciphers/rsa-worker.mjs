// Worker thread of the RSA pool (rsa-pool.ts): runs RSA private-key decryptions off the event loop.
// Plain JavaScript on purpose: worker threads do not inherit the tsx loader registered by bin/warden.mjs.
import { parentPort } from 'node:worker_threads';
import { privateDecrypt } from 'node:crypto';

parentPort.on('message', (job) => {
  try {
    const out = privateDecrypt({ key: job.key, padding: job.padding, oaepHash: job.oaepHash ?? undefined }, job.data);
    parentPort.postMessage({ id: job.id, ok: out });
  } catch (e) {
    parentPort.postMessage({ id: job.id, error: e instanceof Error ? e.message : String(e) });
  }
});
