// Entry of a PQC pool worker (pool.ts): worker threads do not inherit the tsx loader, so register it
// here and load the TypeScript job handler.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
