// Fault injection, crashes (issue 11; test/helpers/faults.ts): SIGKILL of `warden serve` while clients
// create keys, and of `warden keystore rotate-master-key` at random moments. After each restart no key
// is half-written (every key opens: unseal + integrity check), every acknowledged key exists and the
// audit chain verifies. `node --import tsx scripts/fault-injection.ts --repeat 20` runs each 20 times.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createKeys, killDuringApprovalExecution, killDuringKeyCreation, killDuringRotation } from './helpers/faults.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { createEcKey, makeApprover, policy, quorumRule, signRequest } from './helpers/workflow.ts';

/** Runs of each scenario (scripts/fault-injection.ts --repeat N sets it). */
const REPEAT = Number(process.env.WARDEN_FAULT_REPEAT ?? 1);

describe('SIGKILL during key creation', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
    // The children use the same data; this process's runtime must not keep writing meanwhile.
    await w.app.close();
    await w.runtime.close();
  });
  after(async () => {
    await w.close().catch(() => undefined);
    rmSync(w.dataDir, { recursive: true, force: true });
  });

  for (let i = 1; i <= REPEAT; i++) {
    it(`run ${i}/${REPEAT}: acknowledged keys survive, no half-written key, audit chain intact`, { timeout: 300_000 }, async () => {
      const r = await killDuringKeyCreation(w, { maxDelayMs: 600 });
      process.stdout.write(`# kill during create: ${JSON.stringify(r)}\n`);
      assert.ok(r.acknowledged >= 3);
      assert.ok(r.keysAfterRestart >= r.acknowledged);
    });
  }
});

describe('SIGKILL during master-key rotation', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
    await createKeys(w, 150, 'rot');
    await w.app.close();
    await w.runtime.close();
  });
  after(async () => {
    await w.close().catch(() => undefined);
    rmSync(w.dataDir, { recursive: true, force: true });
  });

  for (let i = 1; i <= REPEAT; i++) {
    it(`run ${i}/${REPEAT}: every key opens under whichever master key is current`, { timeout: 300_000 }, async () => {
      const r = await killDuringRotation(w);
      process.stdout.write(`# kill during rotation: ${JSON.stringify(r)}\n`);
      assert.ok(r.keys >= 150);
    });
  }
});

describe('SIGKILL during approval execution', () => {
  let w: TestWarden;
  const approver = makeApprover('ec');
  const payload = Buffer.from('ApproveSignTaskPayload');
  let spki: Buffer;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => {
    await w.close().catch(() => undefined);
    rmSync(w.dataDir, { recursive: true, force: true });
  });

  for (let i = 1; i <= REPEAT; i++) {
    it(`run ${i}/${REPEAT}: after the restart no request is executed twice, none is stuck, every signature verifies`, { timeout: 300_000 }, async () => {
      // Each run: a fresh key with a one-approval policy and 24 pending sign requests on it.
      if (i > 1) w = await startTestWarden({ dataDir: w.dataDir });
      const label = `crash-ska-${i}`;
      const c = await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [approver]) }));
      assert.equal(c.statusCode, 201, c.body);
      spki = Buffer.from(c.json().json.publicKey as string, 'base64');
      const requestIds: string[] = [];
      for (let n = 0; n < 24; n++) requestIds.push(await signRequest(w, label, payload));
      await w.app.close();
      await w.runtime.close();
      const r = await killDuringApprovalExecution(w, { label, approver, requestIds, spki, payload }, { maxDelayMs: 400 });
      process.stdout.write(`# kill during approval execution: ${JSON.stringify(r)}\n`);
      assert.equal(r.requests, 24);
      assert.ok(r.executions >= 1);
    });
  }
});
