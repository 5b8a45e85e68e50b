// A short run of the OpenAPI-driven fuzzer (issue 11; test/helpers/fuzz.ts): every operation of
// /v3/api-docs gets valid-shaped and malformed requests; no 5xx except deliberate ones (7xx codes), the
// spec's error body on every error, the server stays up, and no key, request, task or data object is
// created by a rejected call. Long runs: `npm run fuzz -- --runs 100000`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runFuzz, seed, type FuzzResult } from './helpers/fuzz.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

// The PostgreSQL pass of npm test repeats a shorter run (the dialect-specific paths, e.g. U+0000 in text).
const RUNS = Number(process.env.WARDEN_FUZZ_RUNS ?? (process.env.WARDEN_TEST_DB === 'postgres' ? 1000 : 2000));
const SEED = Number(process.env.WARDEN_FUZZ_SEED ?? 20261128);

describe(`fuzzing every operation of /v3/api-docs (${RUNS} requests, seed ${SEED})`, () => {
  let w: TestWarden;
  let result: FuzzResult;
  before(async () => {
    w = await startTestWarden();
    await seed(w);
    result = await runFuzz(w, { runs: RUNS, seed: SEED, timeLimitMs: 150_000 });
    const sorted = (m: Record<string, number>) => Object.entries(m).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}:${v}`).join(' ');
    process.stdout.write(`# fuzz: ${result.runs} requests across ${result.operations} operations in ${result.seconds.toFixed(1)} s\n`);
    process.stdout.write(`# fuzz statuses: ${sorted(result.byStatus)}\n# fuzz errorCodes: ${sorted(result.byErrorCode)}\n`);
  });
  after(async () => w.close());

  it('ran the requests and reached every operation', () => {
    assert.ok(result.runs >= Math.min(RUNS, 500), `only ${result.runs} requests ran`);
    assert.ok(result.operations >= 80, `${result.operations} operations in the document`);
    const missed = Object.keys(result.perOperation).length;
    assert.equal(missed, result.operations, 'every operation got requests');
  });

  it('valid-shaped requests get through to the handlers (2xx answers), malformed ones are refused', () => {
    const ok = Object.entries(result.byStatus).filter(([s]) => s.startsWith('2')).reduce((n, [, c]) => n + c, 0);
    assert.ok(ok > result.runs / 20, `${ok} 2xx answers`);
    assert.ok((result.byErrorCode['600'] ?? 0) > 0 && (result.byErrorCode['621'] ?? 0) > 0 && (result.byErrorCode['631'] ?? 0) > 0);
  });

  it('found nothing: no 5xx, every error is {errorCode, reason, message}, no rows from rejected calls, server up', () => {
    assert.deepEqual(result.findings, []);
  });
});
