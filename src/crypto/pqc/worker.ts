// A PQC pool worker: runs jobs (ops.ts) posted by pool.ts and answers with the result or the error text.
import { parentPort } from 'node:worker_threads';
import { runJob, type Job } from './ops.ts';

interface Request {
  id: number;
  job: Job;
}

const port = parentPort;
if (port) {
  port.on('message', ({ id, job }: Request) => {
    try {
      port.postMessage({ id, ok: runJob(job) });
    } catch (e) {
      port.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
    }
  });
  port.postMessage({ ready: true });
}
