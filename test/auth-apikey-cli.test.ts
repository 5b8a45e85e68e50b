// `warden apikey create --role R` and API-key rotation (spec multi-authorization §6.2, README decision
// 2): the printed sha256 line configures the printed key; a role lists old and new keys during a
// rollover; a removed key answers 401/631 (the pair on which clients switch to their next key).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { apiKeyHash, newApiKey } from '../src/auth/api-key-file.ts';
import { startTestWarden } from './helpers/runtime.ts';

const BIN = fileURLToPath(new URL('../bin/warden.mjs', import.meta.url));

function warden(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

async function createKey(role: string): Promise<{ key: string; hash: string }> {
  const r = await warden(['apikey', 'create', '--role', role]);
  assert.equal(r.code, 0, r.stderr);
  const key = /^ {2}(\w{3}_[A-Za-z0-9_-]{32})$/m.exec(r.stdout)?.[1];
  const hash = /^ {6}- (sha256:[0-9a-f]{64})$/m.exec(r.stdout)?.[1];
  assert.ok(key && hash, r.stdout);
  assert.match(r.stdout, new RegExp(`^ {4}${role}:$`, 'm'));
  return { key, hash };
}

describe('warden apikey create', () => {
  let fromCli: { key: string; hash: string };
  it('prints a random key and the sha256 line that configures it', async () => {
    fromCli = await createKey('serviceToken');
    assert.ok(fromCli.key.startsWith('wsv_'));
    assert.equal(fromCli.hash, `sha256:${createHash('sha256').update(fromCli.key).digest('hex')}`);
    // Same generator as the command (a process start is slow; randomness is checked here).
    const keys = new Set(Array.from({ length: 100 }, () => newApiKey('serviceToken')));
    assert.equal(keys.size, 100);
  });

  it('refuses an unknown role', async () => {
    const r = await warden(['apikey', 'create', '--role', 'admin']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--role must be one of keyManagementToken/);
  });

  it('rotates: old and new listed both work; once the old is removed it answers 401/631', async () => {
    const old = fromCli;
    const nextKey = newApiKey('serviceToken');
    const next = { key: nextKey, hash: apiKeyHash(nextKey) };
    const call = async (w: Awaited<ReturnType<typeof startTestWarden>>, key: string) =>
      w.app.inject({ method: 'GET', url: '/v1/versionInfo', headers: { 'x-api-key': key } });

    const both = await startTestWarden({ env: { WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: `${old.hash},${next.hash}` } });
    try {
      assert.equal((await call(both, old.key)).statusCode, 200);
      assert.equal((await call(both, next.key)).statusCode, 200);
      // The hash itself is not a key.
      const r = await call(both, old.hash);
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().errorCode, 631);
    } finally {
      await both.close(false);
    }
    const rotated = await startTestWarden({ dataDir: both.dataDir, env: { WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: next.hash } });
    try {
      assert.equal((await call(rotated, next.key)).statusCode, 200);
      const r = await call(rotated, old.key);
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().errorCode, 631);
    } finally {
      await rotated.close();
    }
  });
});
