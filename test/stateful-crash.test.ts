// Crash test of the stateful one-time index (issue 5 §2): a child process signs through the API with an
// LMS key (6 rounds, two concurrent loops) or an XMSS key (2 rounds) and appends every signature it
// receives to a file; the parent kills it with SIGKILL at a random moment of its signing, 8 times,
// restarting it on the same data directory. Afterwards no index may appear twice in the signatures that
// left the keystore, each must verify, and the sealed state must be past every index handed out.
// Each restart rebuilds the key's Merkle tree (LMS ~2 s, XMSS ~5 s): ~40 s on an idle 2-core machine.
//
// Child mode: WARDEN_STATEFUL_CHILD=1 node --import tsx test/stateful-crash.test.ts <dataDir> <outFile> <key>
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { decodeSpki } from '../src/crypto/pqc/asn1.ts';
import { hssSignatureIndex, hssVerify } from '../src/crypto/pqc/lms.ts';
import { xmssSignatureIndex, xmssVerify } from '../src/crypto/pqc/xmss.ts';
import { createTestDatabase, ON_POSTGRES, type TestDatabase } from './helpers/postgres.ts';
import { fastDataDir } from './helpers/signature-keys.ts';
import { startTestWarden, tempDataDir } from './helpers/runtime.ts';

const KEYS = [
  { label: 'crash-lms', algorithm: 'LMS', signatureAlgorithm: 'LMS', loops: 2 },
  { label: 'crash-xmss', algorithm: 'XMSS-SHA256_10_256', signatureAlgorithm: 'XMSS-SHA256_10_256', loops: 1 },
] as const;
const ATTRS = { sign: true, decrypt: false, unwrap: false };

async function child(dataDir: string, outFile: string, only: string): Promise<void> {
  const w = await startTestWarden({ dataDir, env: process.env.CRASH_DB_URL ? { WARDEN_DATABASE_URL: process.env.CRASH_DB_URL } : {} });
  for (const k of KEYS) {
    if (!(await w.runtime.services.keystore.peek(k.label))) {
      const r = await w.call('POST', '/v1/key', { label: k.label, algorithm: k.algorithm, attributes: ATTRS });
      if (r.statusCode !== 201) throw new Error(r.body);
    }
    const pub = (await w.call('POST', '/v1/key/attributes', { label: k.label })).json().json.publicKey;
    appendFileSync(outFile, `pub ${k.label} ${pub}\n`);
  }
  let n = 0;
  const active = KEYS.filter((k) => k.label === only);
  // One signature first, so the tree is built and the kill lands while signatures flow.
  for (const k of active) {
    const payload = Buffer.from(`${process.pid}-warm`).toString('base64');
    const r = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload, signKeyName: k.label, signatureAlgorithm: k.signatureAlgorithm } }, 'keyOperationToken');
    if (r.statusCode === 200) appendFileSync(outFile, `sig ${k.label} ${payload} ${r.json().signature}\n`);
  }
  process.stdout.write('READY\n');
  const loop = async (k: (typeof KEYS)[number]) => {
    for (;;) {
      const payload = Buffer.from(`${process.pid}-${n++}`).toString('base64');
      const r = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload, signKeyName: k.label, signatureAlgorithm: k.signatureAlgorithm } }, 'keyOperationToken');
      if (r.statusCode !== 200) {
        process.stdout.write(`STOP ${k.label} ${r.body}\n`);
        return;
      }
      // The signature has left the keystore: record it (the page cache survives SIGKILL).
      appendFileSync(outFile, `sig ${k.label} ${payload} ${r.json().signature}\n`);
    }
  };
  await Promise.all(active.flatMap((k) => Array.from({ length: k.loops }, () => loop(k))));
}

if (process.env.WARDEN_STATEFUL_CHILD === '1') {
  await child(process.argv[2], process.argv[3], process.argv[4]);
} else {
  describe('stateful signatures survive SIGKILL at random moments', () => {
    // The PostgreSQL pass of `npm test` repeats this on PostgreSQL with half the rounds (time budget).
    const ROUNDS = ON_POSTGRES ? 4 : 8;
    it(`no LMS or XMSS index is ever issued twice across ${ROUNDS} kills and restarts`, { timeout: 300_000 }, async () => {
      // tmpfs when available: SIGKILL loses nothing the kernel already has, and fsyncs are cheap there.
      const dataDir = fastDataDir() ?? tempDataDir();
      const outFile = path.join(dataDir, 'signatures.log');
      let db: TestDatabase | null = null;
      if (ON_POSTGRES) db = await createTestDatabase();
      // WARDEN_PQC_WORKERS=0: the child signs inline, sparing each restart the worker start-up.
      const env: NodeJS.ProcessEnv = { ...process.env, WARDEN_STATEFUL_CHILD: '1', WARDEN_TEST_DB: '', WARDEN_PQC_WORKERS: '0', ...(db ? { CRASH_DB_URL: db.url } : {}) };
      const file = new URL(import.meta.url).pathname;
      let kills = 0;
      const started = Date.now();
      try {
        for (let round = 0; round < ROUNDS; round++) {
          const key = round % 4 === 3 ? 'crash-xmss' : 'crash-lms';
          const proc = spawn(process.execPath, ['--import', 'tsx', file, dataDir, outFile, key], { env, stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          proc.stderr.on('data', (d) => (err += d));
          const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
          await new Promise<void>((resolve, reject) => {
            proc.stdout.on('data', (d) => {
              out += d;
              if (out.includes('READY')) resolve();
            });
            void exited.then((code) => reject(new Error(`child exited (${code}) before READY: ${out}${err}`)));
          });
          // Kill while it signs: anywhere between right away and ~1.5 s in.
          await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 1500)));
          proc.kill('SIGKILL');
          await exited;
          kills++;
        }
        const lines = readFileSync(outFile, 'utf8').split('\n').filter(Boolean);
        const pubs = new Map<string, Buffer>();
        const seen = new Map<string, Set<number>>();
        let signatures = 0;
        for (const line of lines) {
          const [kind, label, a, b] = line.split(' ');
          if (kind === 'pub') {
            const raw = decodeSpki(Buffer.from(a, 'base64')).raw;
            if (pubs.has(label)) assert.ok(pubs.get(label)?.equals(raw), 'the key survives restarts');
            pubs.set(label, raw);
            continue;
          }
          // A line cut by the kill is not a signature that reached the caller completely.
          if (!b || b.length % 4 !== 0) continue;
          const sig = Buffer.from(b, 'base64');
          const msg = Buffer.from(a, 'base64');
          const pk = pubs.get(label) as Buffer;
          const lms = label === 'crash-lms';
          if (lms ? sig.length !== 2512 : sig.length !== 2500) continue;
          assert.ok(lms ? hssVerify(pk, msg, sig) : xmssVerify(pk, msg, sig), `${label}: signature verifies`);
          const idx = lms ? hssSignatureIndex(sig) : xmssSignatureIndex(sig);
          const set = seen.get(label) ?? new Set<number>();
          assert.ok(!set.has(idx), `${label}: index ${idx} issued twice`);
          set.add(idx);
          seen.set(label, set);
          signatures++;
        }
        // The sealed state is past every index handed out (a crash may skip indices, never rewind).
        const w = await startTestWarden({ dataDir, env: db ? { WARDEN_DATABASE_URL: db.url } : {} });
        try {
          for (const [label, set] of seen) {
            const remaining = (await w.call('POST', '/v1/key/attributes', { label })).json().json.remainingSignatures as number;
            assert.ok(1024 - remaining >= Math.max(...set) + 1, `${label}: next index ${1024 - remaining} is past ${Math.max(...set)}`);
          }
        } finally {
          await w.close(false);
        }
        const lmsCount = seen.get('crash-lms')?.size ?? 0;
        const xmssCount = seen.get('crash-xmss')?.size ?? 0;
        console.log(`[stateful-crash] ${kills} SIGKILLs in ${((Date.now() - started) / 1000).toFixed(1)} s; ${signatures} signatures (LMS ${lmsCount}, XMSS ${xmssCount}), no index issued twice`);
        assert.equal(kills, ROUNDS);
        assert.ok(lmsCount > 0 && xmssCount > 0, 'the children signed with both keys');
      } finally {
        await db?.drop();
        if (existsSync(dataDir)) rmSync(dataDir, { recursive: true, force: true });
      }
    });
  });
}
