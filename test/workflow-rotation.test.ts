// Workflow records across a master-key rotation: a pending request's sealed key password and an executed
// request's unfetched result are re-sealed in the rotation's transaction (src/workflow/reseal.ts), so the
// request still executes and the result still reads afterwards. (Found while documenting the multi-node
// rotation procedure for issue 8: both were 701 after a rotation.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { verify as cryptoVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rotateMasterKey } from '../src/keystore/software/rotate.ts';
import { startTestWarden, tempDataDir } from './helpers/runtime.ts';
import { approve, createEcKey, keyLabel, makeApprover, policy, quorumRule, requestStatus, signRequest } from './helpers/workflow.ts';

const ENV = { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' };

describe('workflow secrets and master-key rotation', () => {
  it('a pending request on a password key executes, and an unfetched result reads, after rotate-master-key', async () => {
    const dataDir = tempDataDir();
    const a = makeApprover('ec');
    const label = keyLabel('rot');
    const password = 'rotation pw';
    let w = await startTestWarden({ dataDir, env: ENV });
    const created = await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [a]) }), password);
    assert.equal(created.statusCode, 201, created.body);
    const spki = Buffer.from((await w.call('POST', '/v1/key/attributes', { label, password: [...password] })).json().json.publicKey as string, 'base64');
    const keyPassword = [...password];
    const done = await signRequest(w, label, Buffer.from('executed before'), { keyPassword });
    await approve(w, a, done);
    assert.equal((await requestStatus(w, done)).status, 'EXECUTED');
    const pending = await signRequest(w, label, Buffer.from('executed after'), { keyPassword });
    const sealedBefore = await w.runtime.store.db.selectFrom('requests').select(['id', 'secret', 'result']).where('id', 'in', [done, pending]).execute();
    assert.ok(sealedBefore.find((r) => r.id === pending)?.secret, 'the pending request holds its sealed key password');
    assert.ok(sealedBefore.find((r) => r.id === done)?.result, 'the executed request holds its sealed result');
    const keyFile = w.config.keystore.masterKeyFile;
    const before = readFileSync(keyFile, 'utf8');
    await rotateMasterKey(w.runtime.store, w.runtime.master, { file: keyFile });
    assert.notEqual(readFileSync(keyFile, 'utf8'), before);
    await w.close(false);

    w = await startTestWarden({ dataDir, env: ENV });
    try {
      const sealedAfter = await w.runtime.store.db.selectFrom('requests').select(['id', 'secret', 'result']).where('id', 'in', [done, pending]).execute();
      assert.ok(!Buffer.from(sealedAfter.find((r) => r.id === done)?.result ?? []).equals(Buffer.from(sealedBefore.find((r) => r.id === done)?.result ?? [])), 're-sealed');
      const first = await requestStatus(w, done);
      assert.equal(first.status, 'EXECUTED');
      assert.ok(cryptoVerify('sha256', Buffer.from('executed before'), { key: spki, format: 'der', type: 'spki' }, Buffer.from(first.result ?? '', 'base64')));
      await approve(w, a, pending);
      const second = await requestStatus(w, pending);
      assert.equal(second.status, 'EXECUTED', JSON.stringify(second));
      assert.ok(cryptoVerify('sha256', Buffer.from('executed after'), { key: spki, format: 'der', type: 'spki' }, Buffer.from(second.result ?? '', 'base64')));
    } finally {
      await w.close();
    }
  });
});
