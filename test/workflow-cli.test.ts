// `warden approver`: create an approver key, list my tasks against a running Warden, show one decoded,
// approve and reject — in-process and through the real `warden` command.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { approveTask, createApproverKey, fetchTasks, rejectTask, type ApproverConnection } from '../src/cli/approver.ts';
import { describeChallenge } from '../src/workflow/describe.ts';
import { ROLE_KEYS, startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import { WARDEN_BIN } from './helpers/core-tools.ts';
import { P256, SIGN_ONLY, keyLabel, policy, requestStatus, signRequest } from './helpers/workflow.ts';

describe('warden approver', () => {
  let w: TestWarden;
  let url: string;
  let conn: ApproverConnection;
  let spki: string;
  const dir = tempDataDir();
  const label = keyLabel('cli');

  before(async () => {
    w = await startTestWarden({ env: { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' } });
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = w.app.server.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}`;
    const keyFile = path.join(dir, 'approver.pem');
    spki = createApproverKey(keyFile, 'EC');
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    conn = { url, key: keyFile, apiKey: ROLE_KEYS.approverToken };
    const ruleUse = { tokens: [{ name: 't', timelock: 0, timeout: 0, groups: [{ name: 'g', quorum: 1, approvals: [{ type: 'public_key', name: 'cli', value: spki }] }] }] };
    const r = await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: SIGN_ONLY, policy: policy({ ruleUse }) });
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => w.close());

  it('lists, decodes and approves a task (in-process)', async () => {
    const id = await signRequest(w, label, Buffer.from('wire 5 BTC'));
    const tasks = await fetchTasks(conn, { type: 'Sign' });
    const mine = tasks.filter((t) => t.requestId === id);
    assert.equal(mine.length, 1);
    const d = describeChallenge(Buffer.from(mine[0].approvalToBeSigned, 'base64'));
    assert.equal(d.operation, 'sign');
    assert.equal(d.keyLabel, label);
    assert.equal(d.payload?.text, 'wire 5 BTC');
    assert.equal(d.timestamp?.keyName, 'timestamp-key');
    assert.equal(d.parameters?.requestId, id);
    assert.equal(d.parameters?.signatureAlgorithm, 'SHA256_WITH_ECDSA');
    await approveTask(conn, mine[0].id);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
    await assert.rejects(approveTask(conn, mine[0].id), /no open task/);
  });

  it('rejects a task; a wrong API key is reported with the error code', async () => {
    const id = await signRequest(w, label);
    const [task] = (await fetchTasks(conn)).filter((t) => t.requestId === id);
    await rejectTask(conn, task.id);
    assert.equal((await requestStatus(w, id)).status, 'REJECTED');
    await assert.rejects(fetchTasks({ ...conn, apiKey: 'wrong' }), /HTTP 401 631/);
  });

  it('the warden command: keygen, tasks, show, approve', async () => {
    // Asynchronous: the server answering the child runs in this process.
    const run = (...args: string[]) =>
      new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [WARDEN_BIN, 'approver', ...args], { encoding: 'utf8', env: { ...process.env, WARDEN_APPROVER_API_KEY: ROLE_KEYS.approverToken } }, (err, stdout, stderr) =>
          resolve({ status: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
    const kg = await run('keygen', '--out', path.join(dir, 'other.pem'), '--algorithm', 'ED25519');
    assert.equal(kg.status, 0, kg.stderr);
    assert.match(kg.stdout, /MCowBQYDK2Vw/, 'an Ed25519 SPKI');
    const id = await signRequest(w, label, Buffer.from('from the CLI'));
    const ls = await run('tasks', '--url', url, '--key', conn.key);
    assert.equal(ls.status, 0, ls.stderr);
    const line = ls.stdout.split('\n').find((l) => l.includes('from the CLI'));
    assert.ok(line, ls.stdout);
    const taskId = line.split(/\s+/)[0];
    const show = await run('show', taskId, '--url', url, '--key', conn.key);
    assert.equal(show.status, 0, show.stderr);
    const shown = JSON.parse(show.stdout);
    assert.equal(shown.operation, 'sign');
    assert.equal(shown.payload.text, 'from the CLI');
    assert.equal(shown.request, id);
    const ap = await run('approve', taskId, '--url', url, '--key', conn.key);
    assert.equal(ap.status, 0, ap.stderr);
    assert.equal((await requestStatus(w, id)).status, 'EXECUTED');
  });
});
