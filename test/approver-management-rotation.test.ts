// warden-test-db: sqlite-only
// Approver secrets across `warden keystore rotate-master-key` (docs/approvers.md): the sealed PKCS#12s
// and the one-time-code key are re-sealed in the rotation's transaction, so an outstanding code still
// onboards and a restore still works afterwards. (The rotation itself runs on both databases in
// persistence tests; the CLI here is pointed at the SQLite file.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv } from 'node:crypto';
import { rmSync } from 'node:fs';
import { ROLE_KEYS, startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import { runWarden } from './helpers/core-tools.ts';

const TRANSPORT = 'fedcba9876543210';

async function create(w: TestWarden, name: string): Promise<string> {
  const r = await w.call('PUT', '/v1/approverManagement/create', { approverName: name, algorithm: 'EC', backupPassword: 'pw' }, 'approverKeyManagementToken');
  assert.equal(r.statusCode, 200, r.body);
  return r.json().oneTimeCode as string;
}

async function onboard(w: TestWarden, name: string, code: string): Promise<Buffer> {
  const r = await w.call('POST', '/v1/approver/onboard', { approverName: name, oneTimeCode: code, transportPassword: TRANSPORT }, 'approverToken');
  assert.equal(r.statusCode, 200, r.body);
  const body = r.json() as { encryptedPayload: string; initializationVector: string };
  const data = Buffer.from(body.encryptedPayload, 'base64');
  const d = createDecipheriv('aes-128-gcm', Buffer.from(TRANSPORT), Buffer.from(body.initializationVector, 'base64'));
  d.setAuthTag(data.subarray(data.length - 16));
  return Buffer.concat([d.update(data.subarray(0, data.length - 16)), d.final()]);
}

describe('approver secrets and master-key rotation', () => {
  it('an outstanding code and a restore still work after rotate-master-key', async () => {
    const dataDir = tempDataDir();
    try {
      let w = await startTestWarden({ dataDir });
      const pending = await create(w, 'pending@example.com');
      const first = await onboard(w, 'onboarded@example.com', await create(w, 'onboarded@example.com'));
      await w.close(false);

      const env = {
        WARDEN_DATA_DIR: dataDir,
        WARDEN_LOGGING_LEVEL: 'warn',
        WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
        WARDEN_API_AUTHENTICATION_APPROVER_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.approverKeyManagementToken,
      };
      const r = runWarden(['keystore', 'rotate-master-key'], env);
      assert.equal(r.status, 0, r.stdout + r.stderr);

      w = await startTestWarden({ dataDir });
      try {
        assert.ok((await onboard(w, 'pending@example.com', pending)).length > 0, 'the code issued before the rotation still onboards');
        const restored = await w.call('POST', '/v1/approverManagement/restoreFromBackup', { approverName: 'onboarded@example.com' }, 'approverKeyManagementToken');
        assert.equal(restored.statusCode, 200, restored.body);
        const again = await onboard(w, 'onboarded@example.com', restored.json().oneTimeCode);
        assert.ok(again.equals(first), 'the same PKCS#12 after the rotation');
      } finally {
        await w.close(false);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
