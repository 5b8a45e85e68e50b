// warden-test-db: any
// `warden serve --workers 2` on the PKCS#11 keystore (SoftHSM): every worker process opens the token
// library itself. Keys created through one worker are used at once through both; every call must
// succeed, the signatures must verify with the public key the API reports, and use counts must be exact.
// SoftHSM's file store in one process can miss (or list twice) an object another process is writing;
// the session pool then looks again on a re-initialised library (docs/hsm.md). At this size the race is
// rare; at 60 keys created at once it showed up without that retry and, rarely, still with it
// (docs/hsm.md, "Sessions, login, recovery"). A CI run also saw the cluster hang (a call never answered,
// 240 s) at 12 keys, so this is an opt-in stress test (WARDEN_TEST_PKCS11_WORKERS=1), not part of
// npm test, until serve --workers N on SoftHSM is fixed.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { rmSync } from 'node:fs';
import { ROLE_KEYS, tempDataDir } from './helpers/runtime.ts';
import { spawnWarden, waitFor } from './helpers/core-tools.ts';
import { SOFTHSM_LIBRARY, provisionToken, type TestToken } from './helpers/softhsm.ts';

const P256 = '1.2.840.10045.3.1.7';
const KEYS = 12;
const SIGNS_PER_KEY = 8;

async function post(base: string, url: string, body: unknown, key: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

const skip = !SOFTHSM_LIBRARY
  ? 'SoftHSM is not installed (scripts/ensure-system-deps.sh)'
  : process.env.WARDEN_TEST_PKCS11_WORKERS !== '1'
    ? 'opt-in (WARDEN_TEST_PKCS11_WORKERS=1): serve --workers N on SoftHSM can still hang (docs/hsm.md)'
    : false;

describe('serve --workers 2 on the PKCS#11 keystore', { skip }, () => {
  const dataDir = tempDataDir();
  let token: TestToken | undefined;
  after(() => {
    rmSync(dataDir, { recursive: true, force: true });
    token?.wipe();
  });

  it('keys created through one worker sign at once through both; signatures verify; counts are exact', { timeout: 240_000 }, async () => {
    token = provisionToken();
    const env = {
      ...token.env,
      WARDEN_DATA_DIR: dataDir,
      WARDEN_SERVER_PORT: '0',
      WARDEN_LOGGING_LEVEL: 'info',
      WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
      WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: ROLE_KEYS.keyOperationToken,
    };
    const { child, output } = spawnWarden(['serve', '--workers', '2'], env, dataDir);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitFor(() => /Warden [0-9.]+ started/.test(output()) || child.exitCode !== null, 120_000, 'the cluster start');
      assert.equal(child.exitCode, null, output());
      const started = output().split('\n').find((l) => l.includes('started') && l.includes('"workers":2'));
      assert.ok(started, output());
      const base = `http://127.0.0.1:${Number(/"url":"http:\/\/127\.0\.0\.1:(\d+)"/.exec(started)?.[1])}`;

      // Each key is created and then signed with right away, over several connections, so the signs
      // land on the worker that did not create it while its object is fresh on the token.
      const labels = Array.from({ length: KEYS }, (_, i) => `w-ec-${i}`);
      const perKey = await Promise.all(labels.map(async (label) => {
        const created = await post(base, '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: { sign: true, verify: true, decrypt: false, unwrap: false, destroyable: true } }, ROLE_KEYS.keyManagementToken);
        assert.equal(created.status, 201, JSON.stringify(created.json));
        const payloads = Array.from({ length: SIGNS_PER_KEY }, () => randomBytes(32));
        const signs = await Promise.all(payloads.map((p) =>
          post(base, '/v1/synchronousSign', { signRequest: { payload: p.toString('base64'), signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, ROLE_KEYS.keyOperationToken)));
        return { label, payloads, signs };
      }));

      const workersSeen = new Set([...output().matchAll(/"worker":(\d+),"pid":\d+,"reqId"/g)].map((m) => m[1]));
      assert.equal(workersSeen.size, 2, `requests were served by workers ${[...workersSeen].join(', ')}`);

      for (const { label, payloads, signs } of perKey) {
        const failed = signs.filter((s) => s.status !== 200);
        assert.equal(failed.length, 0, `${label}: ${JSON.stringify(failed.slice(0, 2))}`);
        const attrs = await post(base, '/v1/key/attributes', { label }, ROLE_KEYS.keyManagementToken);
        assert.equal(attrs.status, 200);
        const info = attrs.json.json as { publicKey: string; keyUsageCount: number };
        const spki = createPublicKey({ key: Buffer.from(info.publicKey, 'base64'), format: 'der', type: 'spki' });
        signs.forEach((s, i) => {
          const signature = Buffer.from(((s.json.json ?? s.json) as { signature: string }).signature, 'base64');
          assert.ok(verify('sha256', payloads[i] as Buffer, spki, signature), `${label}: signature ${i} verifies`);
        });
        assert.equal(info.keyUsageCount, SIGNS_PER_KEY, `${label}: every sign counted once`);
      }
      // A forged signature does not verify against the same key (the check above can fail).
      const first = perKey[0] as (typeof perKey)[number];
      const forged = Buffer.from(((first.signs[0]?.json.json ?? first.signs[0]?.json) as { signature: string }).signature, 'base64');
      forged[forged.length - 1] ^= 1;
      const attrs0 = await post(base, '/v1/key/attributes', { label: first.label }, ROLE_KEYS.keyManagementToken);
      const spki0 = createPublicKey({ key: Buffer.from((attrs0.json.json as { publicKey: string }).publicKey, 'base64'), format: 'der', type: 'spki' });
      assert.equal(verify('sha256', first.payloads[0] as Buffer, spki0, forged), false);
    } finally {
      // A cluster that does not stop on SIGTERM must not outlive the test: the primary and its workers are killed.
      const pids = [child.pid, ...[...output().matchAll(/"worker":\d+,"pid":(\d+)/g)].map((m) => Number(m[1]))];
      child.kill('SIGTERM');
      const killAll = () => {
        for (const pid of new Set(pids)) {
          try {
            if (pid) process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      };
      const timer = setTimeout(killAll, 15_000);
      await exited;
      clearTimeout(timer);
      // Workers of a primary that stopped are gone too; one that hung would not be.
      await new Promise((r) => setTimeout(r, 500));
      killAll();
    }
  });
});
