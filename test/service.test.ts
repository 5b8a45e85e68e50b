// Service endpoints (spec §5, README decisions 6 and 9): versionInfo, licenseInfo, keystore
// statistics and the audit trail at /v1/hsm/log (from/to/limit) and /v1/hsm/log/{id}.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

type Body = Record<string, unknown>;
interface Reply {
  statusCode: number;
  body: string;
  json(): Body;
}
interface Entry {
  id: number;
  time: string;
  requestId: string | null;
  principal: string | null;
  method: string | null;
  route: string | null;
  action: string;
  keyLabel: string | null;
  outcome: string;
  mac: string;
}

function assertError(r: Reply, status: number, code: number): void {
  assert.equal(r.statusCode, status, `expected ${status}/${code}, got ${r.statusCode}: ${r.body}`);
  assert.equal(r.json().errorCode, code, r.body);
}

const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;
const STATS_RE = /^user warden, private keys (\d+), public keys (\d+), secret keys (\d+), certificates (\d+), data objects (\d+), invalidated keys 0, keystore software$/;

describe('service endpoints', () => {
  let w: TestWarden;
  const svc = (url: string) => w.call('GET', url, undefined, 'serviceToken');
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  describe('GET /v1/versionInfo', () => {
    it('answers {"Version": <package version>} with a capital V and nothing else', async () => {
      const r = await svc('/v1/versionInfo');
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), { Version: VERSION });
    });
  });

  describe('GET /v1/licenseInfo', () => {
    it('lists every feature flag (nothing is licensed away)', async () => {
      const r = await svc('/v1/licenseInfo');
      assert.equal(r.statusCode, 200);
      const flags = r.json().clientFlags as string[];
      for (const f of ['REST_API', 'TSB_ENGINE', 'KEY_AUTH', 'PERSISTENT_EXTERNAL_OBJ', 'KEY_STORE_SIZE']) assert.ok(flags.includes(f), f);
    });
  });

  describe('GET /v1/keystore/statistics', () => {
    it('reports the counts in the TSB text format and follows the keystore', async () => {
      const read = async () => {
        const r = await svc('/v1/keystore/statistics');
        assert.equal(r.statusCode, 200);
        const m = STATS_RE.exec(r.json().keyStoreStatistics as string);
        assert.ok(m, r.body);
        return m.slice(1).map(Number);
      };
      const before = await read();
      // A fresh Warden holds only its system keys (attestation, timestamp keys), each with a certificate.
      const labels = (await w.call('GET', '/v1/key')).json() as unknown as string[];
      assert.ok(labels.includes('attestation-key'));
      assert.equal(before[0] + before[1] + before[2], labels.length, 'every key is counted once');
      assert.ok(before[0] >= 1 && before[3] >= 1, 'the attestation key and its certificate');
      await w.call('POST', '/v1/key', { label: 'st-ec', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true } });
      await w.call('POST', '/v1/key', { label: 'st-aes', algorithm: 'AES', keySize: 128, attributes: { decrypt: true } });
      const exp = await w.call('POST', '/v1/key', { label: 'st-ed', algorithm: 'ED', attributes: { sign: true } });
      await w.call('POST', '/v1/key/import/plain', { label: 'st-pub', algorithm: 'ED', publicKey: (exp.json().json as Body).publicKey });
      await w.call('POST', '/v1/dataObject', { name: 'st-obj', value: 'aGk=' });
      const after = await read();
      assert.deepEqual(after, [before[0] + 2, before[1] + 1, before[2] + 1, before[3], before[4] + 1]);
    });
  });

  describe('GET /v1/hsm/log', () => {
    before(async () => {
      for (let i = 0; i < 6; i++) await w.call('POST', '/v1/key/attributes', { label: `log-missing-${i}` });
    });

    const all = async (): Promise<Entry[]> => {
      const r = await svc('/v1/hsm/log?limit=10000');
      assert.equal(r.statusCode, 200, r.body);
      return r.json().entries as Entry[];
    };

    it('returns entries oldest first, as objects and as text lines', async () => {
      const r = await svc('/v1/hsm/log');
      assert.equal(r.statusCode, 200);
      const b = r.json();
      const entries = b.entries as Entry[];
      assert.ok(entries.length >= 6);
      assert.deepEqual(entries.map((e) => e.id), entries.map((_, i) => i + 1));
      const lines = (b.log as string).split('\n');
      assert.equal(lines.length, entries.length);
      for (let i = 0; i < entries.length; i++) {
        assert.ok(lines[i].startsWith(`${entries[i].id} ${entries[i].time} ${entries[i].outcome} ${entries[i].action}`), lines[i]);
        assert.match(entries[i].mac, /^[0-9a-f]{64}$/);
        assert.match(entries[i].time, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      }
      const miss = entries.find((e) => e.keyLabel === 'log-missing-0');
      assert.ok(miss);
      assert.equal(miss.outcome, 'error 404');
      assert.equal(miss.action, 'getKeyAttributes');
      assert.equal(miss.route, '/v1/key/attributes');
      assert.equal(miss.method, 'POST');
      assert.equal(miss.principal, 'apiKey:keyManagementToken#0');
    });

    it('limit caps the count (oldest first)', async () => {
      const r = await svc('/v1/hsm/log?limit=2');
      assert.deepEqual((r.json().entries as Entry[]).map((e) => e.id), [1, 2]);
    });

    it('from and to bound the time range (inclusive)', async () => {
      const entries = await all();
      const mid = entries[Math.floor(entries.length / 2)];
      const from = (await svc(`/v1/hsm/log?from=${mid.time}`)).json().entries as Entry[];
      assert.ok(from.length > 0 && from.length < entries.length);
      assert.ok(from.every((e) => e.time >= mid.time));
      assert.ok(from.some((e) => e.id === mid.id));
      const to = (await svc(`/v1/hsm/log?to=${mid.time}`)).json().entries as Entry[];
      assert.ok(to.every((e) => e.time <= mid.time));
      assert.ok(to.some((e) => e.id === mid.id));
      assert.equal(from.length + to.length - entries.filter((e) => e.time === mid.time).length, entries.length);
      const both = (await svc(`/v1/hsm/log?from=${mid.time}&to=${mid.time}`)).json().entries as Entry[];
      assert.ok(both.every((e) => e.time === mid.time));
      assert.deepEqual((await svc('/v1/hsm/log?from=2999-01-01')).json().entries, []);
      assert.deepEqual((await svc('/v1/hsm/log?to=2000-01-01')).json().entries, []);
      assert.equal(((await svc('/v1/hsm/log?from=2000-01-01&limit=3')).json().entries as Entry[]).length, 3);
    });

    it('reading the log does not write to it', async () => {
      const n = (await all()).length;
      await svc('/v1/hsm/log');
      await svc('/v1/versionInfo');
      assert.equal((await all()).length, n);
    });

    it('bad parameters: limit 0 or > 10000 → 400/619; non-numeric limit, bad times → 400/600', async () => {
      assertError(await svc('/v1/hsm/log?limit=0'), 400, 619);
      assertError(await svc('/v1/hsm/log?limit=10001'), 400, 619);
      assertError(await svc('/v1/hsm/log?limit=abc'), 400, 600);
      assertError(await svc('/v1/hsm/log?limit=-1'), 400, 600);
      assertError(await svc('/v1/hsm/log?from=yesterday'), 400, 600);
      assertError(await svc('/v1/hsm/log?to=2024-01-01T00:00:00%2B01:00'), 400, 600);
    });
  });

  describe('GET /v1/hsm/log/{id}', () => {
    it('returns one entry, equal to the one in the list', async () => {
      const list = (await svc('/v1/hsm/log')).json().entries as Entry[];
      const r = await svc('/v1/hsm/log/2');
      assert.equal(r.statusCode, 200);
      assert.deepEqual(r.json(), list[1]);
    });

    it('unknown id → 404/622; non-numeric → 400/600', async () => {
      assertError(await svc('/v1/hsm/log/999999'), 404, 622);
      assertError(await svc('/v1/hsm/log/0'), 404, 622);
      assertError(await svc('/v1/hsm/log/abc'), 400, 600);
      assertError(await svc('/v1/hsm/log/1.5'), 400, 600);
    });
  });

  it('every service route: wrong role → 401/631, missing key → 401/416', async () => {
    for (const url of ['/v1/versionInfo', '/v1/licenseInfo', '/v1/keystore/statistics', '/v1/hsm/log', '/v1/hsm/log/1']) {
      assertError(await w.call('GET', url, undefined, 'keyManagementToken'), 401, 631);
      assertError(await w.call('GET', url, undefined, 'keyOperationToken'), 401, 631);
      assertError(await w.call('GET', url, undefined, null), 401, 416);
    }
  });
});
