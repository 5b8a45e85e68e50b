// Persistence and the sealed keystore (issue 2 scope 3): a restart keeps everything; an edited or
// flipped sealed row fails only that key with 500/701; a missing or wrong master key refuses the
// start (never replaced); `warden keystore rotate-master-key` re-seals atomically; WARDEN_MASTER_KEY wins.
// warden-test-db: sqlite-only
// (SQLite only: it edits the SQLite file, deletes master.key and runs the CLI on a data directory; test/postgres.test.ts covers restart and tampering on PostgreSQL.)
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { MasterKeyError } from '../src/keystore/software/master-key.ts';
import { ROLE_KEYS, startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import { runWarden } from './helpers/core-tools.ts';

type Body = Record<string, unknown>;
interface Reply {
  statusCode: number;
  body: string;
  json(): Body;
}

function assertError(r: Reply, status: number, code: number): void {
  assert.equal(r.statusCode, status, `expected ${status}/${code}, got ${r.statusCode}: ${r.body}`);
  assert.equal(r.json().errorCode, code, r.body);
}

const P256 = '1.2.840.10045.3.1.7';
const EXPORTABLE = { sign: true, extractable: true, sensitive: false, destroyable: true, modifiable: true };

/** Env for the CLI on `dataDir` with the test API keys (so no api-keys.yml is involved). */
function cliEnv(dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    WARDEN_DATA_DIR: dataDir,
    WARDEN_LOGGING_LEVEL: 'warn',
    WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
    WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: ROLE_KEYS.keyOperationToken,
    WARDEN_API_AUTHENTICATION_APPROVER_TOKEN: ROLE_KEYS.approverToken,
    WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: ROLE_KEYS.serviceToken,
    WARDEN_API_AUTHENTICATION_APPROVER_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.approverKeyManagementToken,
    ...extra,
  };
}

function withDb<T>(dataDir: string, fn: (db: SQLite.Database) => T): T {
  const db = new SQLite(path.join(dataDir, 'warden.db'));
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/** Fills a Warden with one of each kind of thing and returns what a restart must reproduce. */
async function populate(w: TestWarden) {
  const mk = async (url: string, body: Body) => {
    const r = await w.call('POST', url, body);
    assert.ok(r.statusCode === 201 || r.statusCode === 200, `${url}: ${r.body}`);
    return r.json();
  };
  await mk('/v1/key', { label: 'p-ec', algorithm: 'EC', curveOid: P256, attributes: EXPORTABLE, password: ['p', 'w'] });
  await mk('/v1/key', { label: 'p-rsa', algorithm: 'RSA', keySize: 2048, attributes: { sign: true, decrypt: true } });
  await mk('/v1/key', { label: 'p-aes', algorithm: 'AES', keySize: 256, attributes: { decrypt: true, extractable: true, sensitive: false } });
  await mk('/v1/key', { label: 'p-ed', algorithm: 'ED', attributes: EXPORTABLE });
  const ecPub = ((await w.call('POST', '/v1/key/attributes', { label: 'p-ec', password: 'pw' })).json().json as Body).publicKey;
  await mk('/v1/key/import/plain', { label: 'p-pub', algorithm: 'EC', publicKey: ecPub });
  await mk('/v1/dataObject', { name: 'p-obj', value: Buffer.from('persist me').toString('base64'), attributes: { private: true } });
  return snapshot(w);
}

async function snapshot(w: TestWarden) {
  const labels = (await w.call('GET', '/v1/key')).json() as unknown as string[];
  const attrs: Record<string, Body> = {};
  for (const l of labels) {
    const r = await w.call('POST', '/v1/key/attributes', { label: l, password: l === 'p-ec' ? 'pw' : undefined });
    assert.equal(r.statusCode, 200, `${l}: ${r.body}`);
    const { attestTime: _ignored, ...json } = r.json().json as Body;
    // the attestation key counts every attestation it signs, including these reads
    if (l === 'attestation-key') delete json.keyUsageCount;
    attrs[l] = json;
  }
  const exports = {
    ec: (await w.call('POST', '/v1/key/export/plain', { label: 'p-ec', password: 'pw' })).json(),
    aes: (await w.call('POST', '/v1/key/export/plain', { label: 'p-aes' })).json(),
    ed: (await w.call('POST', '/v1/key/export/plain', { label: 'p-ed' })).json(),
  };
  const obj = (await w.call('GET', '/v1/dataObject/p-obj')).json();
  const cert = (await w.call('GET', '/v1/attestation/certificate')).json();
  return { labels, attrs, exports, obj, cert };
}

const dirs: string[] = [];
const fresh = () => {
  const d = tempDataDir();
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('restart', () => {
  it('keeps keys, attributes, material, passwords, data objects, the attestation certificate and the audit chain', async () => {
    const dataDir = fresh();
    let w = await startTestWarden({ dataDir });
    const before = await populate(w);
    const entriesBefore = ((await w.call('GET', '/v1/hsm/log?limit=10000', undefined, 'serviceToken')).json().entries as unknown[]).length;
    await w.close(false);

    w = await startTestWarden({ dataDir });
    try {
      const afterRestart = await snapshot(w);
      assert.deepEqual(afterRestart, before);
      assertError(await w.call('POST', '/v1/key/attributes', { label: 'p-ec', password: 'wrong' }), 400, 620);
      assert.equal((await w.call('POST', '/v1/key', { label: 'p-after', algorithm: 'AES', keySize: 128, attributes: { decrypt: true } })).statusCode, 201);
      const entries = (await w.call('GET', '/v1/hsm/log?limit=10000', undefined, 'serviceToken')).json().entries as Array<{ id: number }>;
      assert.ok(entries.length > entriesBefore);
      assert.deepEqual(entries.map((e) => e.id), entries.map((_, i) => i + 1), 'the chain continues without a gap');
      assert.equal((await w.runtime.services.audit.verify()).ok, true);
    } finally {
      await w.close(false);
    }
  });

  it('the data directory is 0700 and the database and master key files are 0600', async () => {
    const dataDir = fresh();
    const w = await startTestWarden({ dataDir });
    await w.close(false);
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(statSync(path.join(dataDir, 'master.key')).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dataDir, 'warden.db')).mode & 0o777, 0o600);
    assert.match(readFileSync(path.join(dataDir, 'master.key'), 'utf8'), /^[0-9a-f]{64}\n$/);
  });

  it('no key material reaches the database in plain', async () => {
    const dataDir = fresh();
    const w = await startTestWarden({ dataDir });
    await populate(w);
    const ec = (await w.call('POST', '/v1/key/export/plain', { label: 'p-ec', password: 'pw' })).json();
    const aes = (await w.call('POST', '/v1/key/export/plain', { label: 'p-aes' })).json();
    await w.close(false);
    const file = readFileSync(path.join(dataDir, 'warden.db'));
    const priv = Buffer.from(ec.privateKey as string, 'base64');
    // the EC scalar sits at a fixed place in PKCS#8; look for it and for the AES key, raw and in Base64
    const scalar = priv.subarray(36, 68);
    const secret = Buffer.from(aes.secretKey as string, 'base64');
    for (const needle of [scalar, secret, Buffer.from(secret.toString('base64')), Buffer.from(priv.toString('base64').slice(0, 40))]) {
      assert.equal(file.includes(needle), false, 'key material found in warden.db');
    }
  });
});

describe('integrity of sealed rows', () => {
  const dataDir = fresh();
  let w: TestWarden;

  it('set-up: populate and close', async () => {
    w = await startTestWarden({ dataDir });
    await populate(w);
    for (const l of ['t-label', 't-attr', 't-pub']) {
      assert.equal((await w.call('POST', '/v1/key', { label: l, algorithm: 'EC', curveOid: P256, attributes: { sign: true, destroyable: true } })).statusCode, 201);
    }
    await w.close(false);
  });

  it('tamper: flip one byte of p-rsa.sealed, edit t-attr.attributes, rename t-label, swap t-pub.public_key, flip p-obj.value', () => {
    withDb(dataDir, (db) => {
      const row = db.prepare('SELECT sealed FROM keys WHERE label = ?').get('p-rsa') as { sealed: Buffer };
      const sealed = Buffer.from(row.sealed);
      sealed[Math.floor(sealed.length / 2)] ^= 0x01;
      db.prepare('UPDATE keys SET sealed = ? WHERE label = ?').run(sealed, 'p-rsa');
      const a = db.prepare('SELECT attributes FROM keys WHERE label = ?').get('t-attr') as { attributes: string };
      assert.match(a.attributes, /"destroyable":true/);
      db.prepare('UPDATE keys SET attributes = ? WHERE label = ?').run(a.attributes.replace('"extractable":false', '"extractable":true').replace('"sensitive":true', '"sensitive":false'), 't-attr');
      db.prepare('UPDATE keys SET label = ? WHERE label = ?').run('t-label-renamed', 't-label');
      const other = db.prepare('SELECT public_key FROM keys WHERE label = ?').get('p-ec') as { public_key: Buffer };
      db.prepare('UPDATE keys SET public_key = ? WHERE label = ?').run(other.public_key, 't-pub');
      const o = db.prepare('SELECT value FROM data_objects WHERE name = ?').get('p-obj') as { value: Buffer };
      const v = Buffer.from(o.value);
      v[v.length - 1] ^= 0x80;
      db.prepare('UPDATE data_objects SET value = ? WHERE name = ?').run(v, 'p-obj');
    });
  });

  it('the Warden still starts; only the edited keys fail, with 500/701 and a clear message', async () => {
    w = await startTestWarden({ dataDir });
    try {
      for (const label of ['p-rsa', 't-attr', 't-label-renamed', 't-pub']) {
        const r = await w.call('POST', '/v1/key/attributes', { label });
        assertError(r, 500, 701);
        assert.equal(r.json().reason, 'res.error.in.hsm');
        assert.match(r.json().message as string, new RegExp(`Key '${label}' failed its integrity check`));
      }
      // every route that opens the key refuses it
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 't-attr' }), 500, 701);
      assertError(await w.call('GET', '/v1/key/t-attr/export/plain'), 500, 701);
      assertError(await w.call('DELETE', '/v1/key/t-attr'), 500, 701);
      assertError(await w.call('POST', '/v1/key/deleteKey', { label: 'p-rsa' }), 500, 701);
      assertError(await w.call('POST', '/v1/key/changePassword', { label: 'p-rsa', newPassword: 'x' }), 500, 701);
      assertError(await w.call('POST', '/v1/key/keyAttestation', { label: 'p-rsa' }), 500, 701);
      assertError(await w.call('POST', '/v1/attestation/key', { label: 'p-rsa' }), 500, 701);
      assertError(await w.call('GET', '/v1/dataObject/p-obj'), 500, 701);
      assertError(await w.call('DELETE', '/v1/dataObject/p-obj'), 500, 701);
      // the other keys work
      const s = await snapshotOthers(w);
      assert.equal(s.ok, true, s.detail);
      // listing and statistics do not unseal, so they still work
      const labels = (await w.call('GET', '/v1/key')).json() as unknown as string[];
      assert.ok(labels.includes('p-rsa') && labels.includes('t-label-renamed'));
      assert.equal((await w.call('GET', '/v1/keystore/statistics', undefined, 'serviceToken')).statusCode, 200);
      // the failures are in the audit trail
      const entries = (await w.call('GET', '/v1/hsm/log?limit=10000', undefined, 'serviceToken')).json().entries as Array<{ keyLabel: string; outcome: string }>;
      assert.ok(entries.some((e) => e.keyLabel === 'p-rsa' && e.outcome === 'error 500'));
    } finally {
      await w.close(false);
    }
  });

  async function snapshotOthers(t: TestWarden): Promise<{ ok: boolean; detail: string }> {
    const checks: Array<[string, Promise<{ statusCode: number; body: string }>]> = [
      ['p-ec attributes', t.call('POST', '/v1/key/attributes', { label: 'p-ec', password: 'pw' })],
      ['p-ec export', t.call('POST', '/v1/key/export/plain', { label: 'p-ec', password: 'pw' })],
      ['p-aes export', t.call('POST', '/v1/key/export/plain', { label: 'p-aes' })],
      ['p-ed attributes', t.call('POST', '/v1/key/attributes', { label: 'p-ed' })],
      ['p-pub attributes', t.call('POST', '/v1/key/attributes', { label: 'p-pub' })],
      ['attestation key', t.call('POST', '/v1/key/attributes', { label: 'attestation-key' })],
      ['new key', t.call('POST', '/v1/key', { label: 'after-tamper', algorithm: 'EC', curveOid: P256, attributes: { sign: true } })],
    ];
    for (const [name, p] of checks) {
      const r = await p;
      if (r.statusCode >= 300) return { ok: false, detail: `${name}: ${r.statusCode} ${r.body}` };
    }
    return { ok: true, detail: '' };
  }
});

describe('master key', () => {
  it('a deleted master key makes the start fail with MasterKeyError; no new key is written over the sealed data', async () => {
    const dataDir = fresh();
    const w = await startTestWarden({ dataDir });
    await populate(w);
    await w.close(false);
    const keyFile = path.join(dataDir, 'master.key');
    const saved = readFileSync(keyFile);
    unlinkSync(keyFile);
    await assert.rejects(startTestWarden({ dataDir }), (e: Error) => {
      assert.ok(e instanceof MasterKeyError, String(e));
      assert.match(e.message, /master key not found .*refusing to start/);
      return true;
    });
    assert.equal(existsSync(keyFile), false, 'a failed start must not create a new master key');
    // the CLI says it on one line and exits 1
    const r = runWarden(['serve'], cliEnv(dataDir, { WARDEN_SERVER_PORT: '0' }));
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^warden: cannot start: master key not found/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    // restoring the file brings everything back
    writeFileSync(keyFile, saved, { mode: 0o600 });
    const back = await startTestWarden({ dataDir });
    assert.equal((await back.call('POST', '/v1/key/export/plain', { label: 'p-aes' })).statusCode, 200);
    await back.close(false);
  });

  it('a different master key makes the start fail with MasterKeyError', async () => {
    const dataDir = fresh();
    const w = await startTestWarden({ dataDir });
    await w.close(false);
    const keyFile = path.join(dataDir, 'master.key');
    const saved = readFileSync(keyFile);
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n');
    await assert.rejects(startTestWarden({ dataDir }), (e: Error) => e instanceof MasterKeyError && /does not match/.test(e.message));
    writeFileSync(keyFile, 'not hex\n');
    await assert.rejects(startTestWarden({ dataDir }), (e: Error) => e instanceof MasterKeyError && /64 hex characters/.test(e.message));
    writeFileSync(keyFile, saved);
  });

  it('WARDEN_MASTER_KEY wins over the key file (hex or Base64)', async () => {
    const dataDir = fresh();
    const envKey = randomBytes(32);
    let w = await startTestWarden({ dataDir, env: { WARDEN_MASTER_KEY: envKey.toString('hex') } });
    await populate(w);
    await w.close(false);
    const keyFile = path.join(dataDir, 'master.key');
    assert.equal(existsSync(keyFile), false, 'with WARDEN_MASTER_KEY no key file is written');
    // without the env key the start fails …
    await assert.rejects(startTestWarden({ dataDir }), MasterKeyError);
    assert.equal(existsSync(keyFile), false);
    // … a key file with another key loses against the env key …
    writeFileSync(keyFile, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    w = await startTestWarden({ dataDir, env: { WARDEN_MASTER_KEY: envKey.toString('base64') } });
    assert.equal((await w.call('POST', '/v1/key/export/plain', { label: 'p-ec', password: 'pw' })).statusCode, 200);
    await w.close(false);
    // … and a wrong env key fails even when the file would be right
    writeFileSync(keyFile, envKey.toString('hex') + '\n', { mode: 0o600 });
    await assert.rejects(startTestWarden({ dataDir, env: { WARDEN_MASTER_KEY: randomBytes(32).toString('hex') } }), MasterKeyError);
    w = await startTestWarden({ dataDir });
    await w.close(false);
  });

  it('a malformed WARDEN_MASTER_KEY is a ConfigError', async () => {
    await assert.rejects(startTestWarden({ dataDir: fresh(), env: { WARDEN_MASTER_KEY: 'abcd' } }), (e: Error) => e.name === 'ConfigError' && /WARDEN_MASTER_KEY/.test(e.message));
  });
});

describe('warden keystore rotate-master-key', () => {
  it('re-seals everything under a new key; everything still opens; the old key no longer works', async () => {
    const dataDir = fresh();
    let w = await startTestWarden({ dataDir });
    const before = await populate(w);
    await w.close(false);
    const keyFile = path.join(dataDir, 'master.key');
    const oldKey = readFileSync(keyFile, 'utf8');
    const sealedBefore = withDb(dataDir, (db) => db.prepare('SELECT label, sealed FROM keys ORDER BY label').all() as Array<{ label: string; sealed: Buffer }>);

    const r = runWarden(['keystore', 'rotate-master-key'], cliEnv(dataDir));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`re-sealed ${before.labels.length} keys and 1 data objects under a new master key`));
    const newKey = readFileSync(keyFile, 'utf8');
    assert.notEqual(newKey, oldKey);
    assert.match(newKey, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);
    assert.equal(existsSync(`${keyFile}.new`), false);
    const sealedAfter = withDb(dataDir, (db) => db.prepare('SELECT label, sealed FROM keys ORDER BY label').all() as Array<{ label: string; sealed: Buffer }>);
    for (let i = 0; i < sealedBefore.length; i++) assert.equal(sealedBefore[i].sealed.equals(sealedAfter[i].sealed), false, `${sealedBefore[i].label} was re-sealed`);

    w = await startTestWarden({ dataDir });
    try {
      assert.deepEqual(await snapshot(w), before);
      assert.equal((await w.runtime.services.audit.verify()).ok, true, 'the audit key was re-sealed too');
    } finally {
      await w.close(false);
    }
    const verify = runWarden(['audit', 'verify'], cliEnv(dataDir));
    assert.equal(verify.status, 0, verify.stdout + verify.stderr);

    writeFileSync(keyFile, oldKey);
    await assert.rejects(startTestWarden({ dataDir }), (e: Error) => e instanceof MasterKeyError && /does not match/.test(e.message));
    await assert.rejects(startTestWarden({ dataDir, env: { WARDEN_MASTER_KEY: oldKey.trim() } }), MasterKeyError);
    writeFileSync(keyFile, newKey);
  });

  it('with WARDEN_MASTER_KEY: prints the new key to set, writes no file', async () => {
    const dataDir = fresh();
    const envKey = randomBytes(32).toString('hex');
    let w = await startTestWarden({ dataDir, env: { WARDEN_MASTER_KEY: envKey } });
    await populate(w);
    await w.close(false);
    const r = runWarden(['keystore', 'rotate-master-key'], cliEnv(dataDir, { WARDEN_MASTER_KEY: envKey }));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const next = /new WARDEN_MASTER_KEY \(set it before the next start\):\n([0-9a-f]{64})/.exec(r.stdout)?.[1];
    assert.ok(next, r.stdout);
    assert.equal(existsSync(path.join(dataDir, 'master.key')), false);
    await assert.rejects(startTestWarden({ dataDir, env: { WARDEN_MASTER_KEY: envKey } }), MasterKeyError);
    w = await startTestWarden({ dataDir, env: { WARDEN_MASTER_KEY: next } });
    assert.equal((await w.call('POST', '/v1/key/export/plain', { label: 'p-ec', password: 'pw' })).statusCode, 200);
    await w.close(false);
  });

  it('a tampered row aborts the rotation: clear message, exit 1, nothing changed', async () => {
    const dataDir = fresh();
    let w = await startTestWarden({ dataDir });
    await populate(w);
    await w.close(false);
    withDb(dataDir, (db) => {
      const row = db.prepare('SELECT sealed FROM keys WHERE label = ?').get('p-ed') as { sealed: Buffer };
      const s = Buffer.from(row.sealed);
      s[20] ^= 0xff;
      db.prepare('UPDATE keys SET sealed = ? WHERE label = ?').run(s, 'p-ed');
    });
    const keyFile = path.join(dataDir, 'master.key');
    const oldKey = readFileSync(keyFile, 'utf8');
    const r = runWarden(['keystore', 'rotate-master-key'], cliEnv(dataDir));
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^warden: .*Key 'p-ed' failed its integrity check; rotation aborted, nothing changed/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(readFileSync(keyFile, 'utf8'), oldKey);
    assert.equal(existsSync(`${keyFile}.new`), false, 'the pending key of an aborted rotation is removed');
    w = await startTestWarden({ dataDir });
    assert.equal((await w.call('POST', '/v1/key/export/plain', { label: 'p-aes' })).statusCode, 200);
    assertError(await w.call('POST', '/v1/key/attributes', { label: 'p-ed' }), 500, 701);
    await w.close(false);
  });
});
