// Long fuzz runs (issue 11, docs/operations.md): `npm run fuzz -- --runs 100000 [--seed N] [--minutes M]
// [--out findings.json]`. Starts an in-process Warden on a temporary data directory, seeds a few keys,
// fuzzes every operation of /v3/api-docs (test/helpers/fuzz.ts) and prints the count, the status and
// errorCode histograms and every finding; exits 1 when there is one.
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runFuzz, seed as seedKeys, type FuzzResult } from '../test/helpers/fuzz.ts';
import { startTestWarden } from '../test/helpers/runtime.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    minutes: { type: 'string' },
    out: { type: 'string' },
  },
});
const runs = Number(values.runs);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const timeLimitMs = values.minutes !== undefined ? Number(values.minutes) * 60_000 : undefined;

const w = await startTestWarden();
let result: FuzzResult;
try {
  await seedKeys(w);
  process.stdout.write(`fuzzing ${runs} requests, seed ${seed}${timeLimitMs ? `, at most ${values.minutes} min` : ''}\n`);
  result = await runFuzz(w, {
    runs,
    seed,
    timeLimitMs,
    progressEvery: Math.max(1000, Math.floor(runs / 20)),
    progress: (done, r) => {
      const rss = Math.round(process.memoryUsage().rss / 2 ** 20);
      process.stdout.write(`  ${done} requests, ${r.seconds.toFixed(0)} s, ${(done / r.seconds).toFixed(0)} req/s, ${r.findings.length} finding(s), rss ${rss} MiB\n`);
    },
  });
} finally {
  await w.close();
}

const sorted = (m: Record<string, number>) => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}: ${v}`).join(', ');
process.stdout.write(`\n${result.runs} requests across ${result.operations} operations in ${result.seconds.toFixed(1)} s (seed ${seed})\n`);
process.stdout.write(`statuses: ${sorted(result.byStatus)}\n`);
process.stdout.write(`errorCodes: ${sorted(result.byErrorCode)}\n`);
process.stdout.write(`kinds: ${sorted(result.byKind)}\n`);
process.stdout.write(`deliberate 5xx: ${Object.keys(result.deliberate5xx).length ? sorted(result.deliberate5xx) : 'none'}\n`);
process.stdout.write(`slowest: ${result.slowest.map((s) => `${s.operationId} ${s.kind} ${s.status} ${s.ms} ms`).join('; ')}\n`);
const least = Object.entries(result.perOperation).sort((a, b) => a[1] - b[1])[0];
if (least) process.stdout.write(`fewest requests for one operation: ${least[0]} (${least[1]})\n`);
process.stdout.write(`findings: ${result.findings.length}\n`);
for (const f of result.findings) process.stdout.write(`${JSON.stringify(f, null, 1)}\n`);
if (values.out) writeFileSync(values.out, JSON.stringify(result, null, 1));
process.exit(result.findings.length > 0 ? 1 : 0);
