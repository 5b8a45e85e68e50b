// Wycheproof vector loader shared by the vector tests: reads one JSON file of
// /work/shared/vectors/wycheproof/, walks testGroups/tests, and counts what ran and what was skipped.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';

export const WYCHEPROOF_DIR = process.env.WYCHEPROOF_DIR ?? '/work/shared/vectors/wycheproof';

export type WycheproofResult = 'valid' | 'invalid' | 'acceptable';

/** One test of a group; the fields beyond these depend on the schema (msg, sig, key, iv, ct, tag, …). */
export interface WycheproofTest {
  tcId: number;
  comment: string;
  flags: string[];
  result: WycheproofResult;
  [field: string]: unknown;
}

/** One test group: shared parameters (key, hash, sizes) and its tests. */
export interface WycheproofGroup {
  type: string;
  tests: WycheproofTest[];
  [field: string]: unknown;
}

export interface WycheproofFile {
  algorithm: string;
  schema?: string;
  numberOfTests: number;
  notes?: Record<string, unknown>;
  testGroups: WycheproofGroup[];
}

export function wycheproofPath(file: string): string {
  return path.isAbsolute(file) ? file : path.join(WYCHEPROOF_DIR, file);
}

export function hasWycheproof(file: string): boolean {
  return existsSync(wycheproofPath(file));
}

/** Loads one Wycheproof JSON file (name relative to WYCHEPROOF_DIR, or an absolute path). */
export function loadWycheproof(file: string): WycheproofFile {
  const data = JSON.parse(readFileSync(wycheproofPath(file), 'utf8')) as WycheproofFile;
  assert.ok(Array.isArray(data.testGroups), `${file}: no testGroups`);
  return data;
}

/** Every (group, test) pair of a file, in file order. */
export function* wycheproofTests(data: WycheproofFile): Generator<{ group: WycheproofGroup; test: WycheproofTest }> {
  for (const group of data.testGroups) {
    for (const test of group.tests) yield { group, test };
  }
}

/** Hex field of a test or group as bytes ('' → empty buffer). */
export function hex(value: unknown): Buffer {
  if (typeof value !== 'string') throw new Error(`expected a hex string, got ${typeof value}`);
  return Buffer.from(value, 'hex');
}

/**
 * Counts vectors per file: ran (with how many were valid / invalid / acceptable and how the
 * acceptable ones came out) and skipped (with a reason each), and prints one summary line.
 */
export class VectorCounter {
  readonly name: string;
  ran = 0;
  skipped = 0;
  readonly byResult: Record<WycheproofResult, number> = { valid: 0, invalid: 0, acceptable: 0 };
  /** Acceptable vectors: how many the implementation accepted / rejected. */
  readonly acceptable = { accepted: 0, rejected: 0 };
  readonly skipReasons = new Map<string, number>();

  constructor(name: string) {
    this.name = name;
  }

  run(test: Pick<WycheproofTest, 'result'>, outcome?: boolean): void {
    this.ran++;
    this.byResult[test.result]++;
    if (test.result === 'acceptable' && outcome !== undefined) {
      if (outcome) this.acceptable.accepted++;
      else this.acceptable.rejected++;
    }
  }

  skip(reason: string, n = 1): void {
    this.skipped += n;
    this.skipReasons.set(reason, (this.skipReasons.get(reason) ?? 0) + n);
  }

  get total(): number {
    return this.ran + this.skipped;
  }

  summary(): string {
    const skips = [...this.skipReasons].map(([r, n]) => `${n} ${r}`).join('; ');
    return (
      `${this.name}: ran ${this.ran} (valid ${this.byResult.valid}, invalid ${this.byResult.invalid}, ` +
      `acceptable ${this.byResult.acceptable}: accepted ${this.acceptable.accepted}, rejected ${this.acceptable.rejected}), ` +
      `skipped ${this.skipped}${skips ? ` (${skips})` : ''}`
    );
  }

  /** Prints the summary and asserts every vector of the file was either run or skipped with a reason. */
  report(expectedTotal?: number): void {
    console.log(`[wycheproof] ${this.summary()}`);
    if (expectedTotal !== undefined) assert.equal(this.total, expectedTotal, `${this.name}: ran + skipped must cover every vector`);
    assert.ok(this.ran > 0, `${this.name}: no vector ran`);
  }
}

/** Asserts one vector's outcome against its expected result and records it. */
export function checkVector(counter: VectorCounter, test: WycheproofTest, outcome: boolean, context = ''): void {
  if (test.result === 'valid') assert.equal(outcome, true, `${counter.name} tcId ${test.tcId} (${test.comment}) must pass ${context}`);
  else if (test.result === 'invalid') assert.equal(outcome, false, `${counter.name} tcId ${test.tcId} (${test.comment}) must fail ${context}`);
  counter.run(test, outcome);
}
