// The audit trail (issue 2 scope 6; docs/audit.md): every key-management call leaves exactly one
// entry (principal, route, key label, outcome, request id); `warden audit verify` passes on an
// intact chain and exits 2 when one row is edited, deleted, reordered or the tail is cut off.
// warden-test-db: sqlite-only
// (SQLite only: the verify table edits copies of the SQLite file and runs the CLI on them; test/postgres.test.ts covers the chain on PostgreSQL.)
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { ROLE_KEYS, startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import { runWardenAsync } from './helpers/core-tools.ts';

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

const P256 = '1.2.840.10045.3.1.7';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function cliEnv(dataDir: string): Record<string, string> {
  return {
    WARDEN_DATA_DIR: dataDir,
    WARDEN_LOGGING_LEVEL: 'warn',
    WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.keyManagementToken,
    WARDEN_API_AUTHENTICATION_KEY_OPERATION_TOKEN: ROLE_KEYS.keyOperationToken,
    WARDEN_API_AUTHENTICATION_APPROVER_TOKEN: ROLE_KEYS.approverToken,
    WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: ROLE_KEYS.serviceToken,
    WARDEN_API_AUTHENTICATION_APPROVER_KEY_MANAGEMENT_TOKEN: ROLE_KEYS.approverKeyManagementToken,
  };
}

describe('every key-management call leaves one audit entry', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  const entries = async (): Promise<Entry[]> => (await w.call('GET', '/v1/hsm/log?limit=10000', undefined, 'serviceToken')).json().entries as Entry[];

  // [method, url, body, expected action, route template, key label, outcome]
  const calls: Array<[string, string, unknown, string, string, string | null, string]> = [
    ['POST', '/v1/key', { label: 'au-ec', algorithm: 'EC', curveOid: P256, attributes: { sign: true, destroyable: true } }, 'createKey', '/v1/key', 'au-ec', 'success'],
    ['POST', '/v1/key', { label: 'au-ec', algorithm: 'EC', curveOid: P256, attributes: { sign: true } }, 'createKey', '/v1/key', 'au-ec', 'error 400'],
    ['POST', '/v1/key', { label: 'au-x', algorithm: 'NOPE', attributes: { sign: true } }, 'createKey', '/v1/key', null, 'error 400'],
    ['POST', '/v1/key', '{broken', 'createKey', '/v1/key', null, 'error 400'],
    ['GET', '/v1/key', undefined, 'listKeys', '/v1/key', null, 'success'],
    ['POST', '/v1/key/attributes', { label: 'au-ec' }, 'getKeyAttributes', '/v1/key/attributes', 'au-ec', 'success'],
    ['POST', '/v1/key/attributes', { label: 'au-missing' }, 'getKeyAttributes', '/v1/key/attributes', 'au-missing', 'error 404'],
    ['GET', '/v1/key/au-ec/attributes', undefined, 'getKeyAttributesByName', '/v1/key/:keyName/attributes', 'au-ec', 'success'],
    ['POST', '/v1/key/export/plain', { label: 'au-ec' }, 'exportPlainKey', '/v1/key/export/plain', 'au-ec', 'error 400'],
    ['GET', '/v1/key/au-ec/export/plain', undefined, 'exportPlainKeyByName', '/v1/key/:keyName/export/plain', 'au-ec', 'error 400'],
    ['POST', '/v1/key/import/plain', { label: 'au-aes', algorithm: 'AES', secretKey: 'AAECAwQFBgcICQoLDA0ODw==', attributes: { decrypt: true, destroyable: true } }, 'importPlainKey', '/v1/key/import/plain', 'au-aes', 'success'],
    ['POST', '/v1/key/changePassword', { label: 'au-aes', newPassword: 'pw' }, 'changeKeyPassword', '/v1/key/changePassword', 'au-aes', 'success'],
    ['POST', '/v1/key/changePassword', { label: 'au-aes', password: 'bad', newPassword: 'x' }, 'changeKeyPassword', '/v1/key/changePassword', 'au-aes', 'error 400'],
    ['POST', '/v1/key/keyAttestation', { label: 'au-ec' }, 'downloadKeyAttestation', '/v1/key/keyAttestation', 'au-ec', 'success'],
    ['POST', '/v1/attestation/key', { label: 'au-ec' }, 'getKeyAttestation', '/v1/attestation/key', 'au-ec', 'success'],
    ['POST', '/v1/dataObject', { name: 'au-obj', value: 'aGk=' }, 'createDataObject', '/v1/dataObject', 'au-obj', 'success'],
    ['GET', '/v1/dataObject/au-obj', undefined, 'getDataObject', '/v1/dataObject/:dataObjectName', 'au-obj', 'success'],
    ['DELETE', '/v1/dataObject/au-obj', undefined, 'deleteDataObject', '/v1/dataObject/:dataObjectName', 'au-obj', 'success'],
    ['GET', '/v1/dataObject/au-obj', undefined, 'getDataObject', '/v1/dataObject/:dataObjectName', 'au-obj', 'error 404'],
    ['DELETE', '/v1/key/au-ec', undefined, 'deleteKeyByName', '/v1/key/:keyName', 'au-ec', 'success'],
    ['POST', '/v1/key/deleteKey', { label: 'au-aes', password: ['p', 'w'] }, 'deleteKey', '/v1/key/deleteKey', 'au-aes', 'success'],
    ['POST', '/v1/key/deleteKey', { label: 'au-aes' }, 'deleteKey', '/v1/key/deleteKey', 'au-aes', 'error 404'],
  ];

  it('records action, route template, method, principal, key label, outcome and a request id per call', async () => {
    const seen = new Set<string>();
    for (const [method, url, body, action, route, keyLabel, outcome] of calls) {
      const before = await entries();
      const r = await w.call(method as 'POST', url, body);
      assert.ok(r.statusCode < 500, r.body);
      const afterCall = await entries();
      assert.equal(afterCall.length, before.length + 1, `${method} ${url} must add exactly one entry`);
      const e = afterCall[afterCall.length - 1];
      assert.equal(e.action, action, url);
      assert.equal(e.route, route, url);
      assert.equal(e.method, method, url);
      assert.equal(e.keyLabel, keyLabel, url);
      assert.equal(e.outcome, outcome, `${method} ${url}: ${r.statusCode} ${r.body.slice(0, 200)}`);
      assert.equal(e.principal, 'apiKey:keyManagementToken#0');
      assert.match(e.requestId ?? '', UUID);
      assert.ok(!seen.has(e.requestId as string), 'request ids are unique');
      seen.add(e.requestId as string);
    }
  });

  it('every key-management route of the registry is audited', async () => {
    const actions = new Set((await entries()).map((e) => e.action));
    for (const op of ['createKey', 'listKeys', 'getKeyAttributes', 'getKeyAttributesByName', 'deleteKeyByName', 'deleteKey', 'exportPlainKey', 'exportPlainKeyByName', 'importPlainKey', 'changeKeyPassword', 'downloadKeyAttestation', 'getKeyAttestation', 'createDataObject', 'getDataObject', 'deleteDataObject']) {
      assert.ok(actions.has(op), op);
    }
  });

  it('calls refused for authentication (401) are not chain entries', async () => {
    const n = (await entries()).length;
    await w.call('POST', '/v1/key', { label: 'au-401', algorithm: 'AES', keySize: 128, attributes: { decrypt: true } }, null);
    await w.call('POST', '/v1/key', { label: 'au-401', algorithm: 'AES', keySize: 128, attributes: { decrypt: true } }, 'serviceToken');
    assert.equal((await entries()).length, n);
  });

  it('no entry carries key material or passwords', async () => {
    await w.call('POST', '/v1/key/import/plain', { label: 'au-secret', algorithm: 'AES', secretKey: 'c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3ODkwMTI=', password: 'hunter2hunter2', attributes: { decrypt: true } });
    const text = JSON.stringify(await entries()) + (await w.call('GET', '/v1/hsm/log?limit=10000', undefined, 'serviceToken')).body;
    assert.equal(text.includes('c2VjcmV0LWtleS1ieXRlcy0xMjM0NTY3ODkwMTI='), false);
    assert.equal(text.includes('hunter2hunter2'), false);
  });

  it('the in-process verifier agrees', async () => {
    const v = await w.runtime.services.audit.verify();
    assert.equal(v.ok, true, v.problem ?? '');
    assert.equal(v.entries, (await entries()).length);
  });
});

describe('a rewritten head stops the chain from growing', () => {
  it('appends fail with 500/703 instead of extending a cut chain', async () => {
    const dataDir = tempDataDir();
    let w = await startTestWarden({ dataDir });
    await w.call('POST', '/v1/key', { label: 'h-1', algorithm: 'AES', keySize: 128, attributes: { decrypt: true } });
    await w.call('POST', '/v1/key', { label: 'h-2', algorithm: 'AES', keySize: 128, attributes: { decrypt: true } });
    await w.close(false);
    const db = new SQLite(path.join(dataDir, 'warden.db'));
    const last = db.prepare('SELECT seq, mac FROM audit_log ORDER BY seq DESC LIMIT 1').get() as { seq: number; mac: string };
    const prev = db.prepare('SELECT seq, mac FROM audit_log WHERE seq = ?').get(last.seq - 1) as { seq: number; mac: string };
    db.prepare('DELETE FROM audit_log WHERE seq = ?').run(last.seq);
    db.prepare("UPDATE meta SET v = ? WHERE k = 'audit_head'").run(`${prev.seq}:${prev.mac}:${'0'.repeat(64)}`);
    db.close();
    w = await startTestWarden({ dataDir });
    try {
      const r = await w.call('POST', '/v1/key', { label: 'h-3', algorithm: 'AES', keySize: 128, attributes: { decrypt: true } });
      assert.equal(r.statusCode, 500, r.body);
      assert.equal(r.json().errorCode, 703);
      const v = await w.runtime.services.audit.verify();
      assert.equal(v.ok, false);
      assert.match(v.problem ?? '', /head of the log .* was modified/);
    } finally {
      await w.close();
    }
  });
});

describe('warden audit verify', () => {
  const base = tempDataDir();
  const copies: string[] = [];
  let total = 0;

  before(async () => {
    const w = await startTestWarden({ dataDir: base });
    for (let i = 0; i < 4; i++) {
      await w.call('POST', '/v1/key', { label: `v-${i}`, algorithm: 'AES', keySize: 128, attributes: { decrypt: true, destroyable: true } });
      await w.call('POST', '/v1/key/attributes', { label: `v-${i}` });
    }
    await w.call('DELETE', '/v1/key/v-0');
    total = (await w.runtime.services.audit.verify()).entries;
    await w.close(false);
    assert.equal(total, 9);
  });
  after(() => {
    for (const d of [base, ...copies]) rmSync(d, { recursive: true, force: true });
  });

  /** A copy of the closed data directory with `sql` applied to its database. */
  const tampered = (statements: string[]): string => {
    const dir = tempDataDir();
    copies.push(dir);
    cpSync(base, dir, { recursive: true });
    const db = new SQLite(path.join(dir, 'warden.db'));
    try {
      for (const s of statements) db.exec(s);
    } finally {
      db.close();
    }
    return dir;
  };

  it('passes on the intact chain (exit 0)', async () => {
    const r = await runWardenAsync(['audit', 'verify'], cliEnv(base));
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(r.stdout.trim(), `audit log OK: ${total} entries, chain intact`);
  });

  const cases: Array<[string, string[], RegExp]> = [
    ['an edited outcome', ["UPDATE audit_log SET outcome = 'error 500' WHERE seq = 3"], /BROKEN at entry 3: entry 3 was modified or is out of chain/],
    ['an edited key label', ["UPDATE audit_log SET key_label = 'someone-else' WHERE seq = 5"], /BROKEN at entry 5: entry 5 was modified/],
    ['an edited time', ["UPDATE audit_log SET time = '2000-01-01T00:00:00.000Z' WHERE seq = 1"], /BROKEN at entry 1: entry 1 was modified/],
    ['an edited principal', ['UPDATE audit_log SET principal = NULL WHERE seq = 7'], /BROKEN at entry 7/],
    ['a replaced mac', ['UPDATE audit_log SET mac = (SELECT mac FROM audit_log WHERE seq = 2) WHERE seq = 4'], /BROKEN at entry 4/],
    ['a deleted middle entry', ['DELETE FROM audit_log WHERE seq = 4'], /BROKEN at entry 4: entry 4 is missing/],
    ['a deleted first entry', ['DELETE FROM audit_log WHERE seq = 1'], /BROKEN at entry 1: entry 1 is missing/],
    ['a truncated tail (last entry)', ['DELETE FROM audit_log WHERE seq = 9'], /BROKEN at entry 9: .*entries were removed from the end/],
    ['a truncated tail (last three)', ['DELETE FROM audit_log WHERE seq >= 7'], /BROKEN at entry 7: .*removed from the end/],
    ['an emptied log', ['DELETE FROM audit_log'], /BROKEN at entry 1: .*removed from the end/],
    // The head is MACed too: cutting the tail and pointing the head at the new last entry (both
    // readable in the database) is still detected.
    ['a truncated tail with the head rewritten', [
      'DELETE FROM audit_log WHERE seq = 9',
      "UPDATE meta SET v = (SELECT '8:' || mac || ':' || substr(v, instr(v, ':') + 66) FROM audit_log, meta WHERE seq = 8 AND k = 'audit_head') WHERE k = 'audit_head'",
    ], /BROKEN at entry 9: the head of the log \(last entry 8\) was modified/],
    ['a head without its tag', ["UPDATE meta SET v = substr(v, 1, instr(v, ':') + 64) WHERE k = 'audit_head'"], /BROKEN at entry 10: the head of the log .* was modified/],
    ['two swapped entries', [
      "UPDATE audit_log SET seq = 100 WHERE seq = 5", 'UPDATE audit_log SET seq = 5 WHERE seq = 6', 'UPDATE audit_log SET seq = 6 WHERE seq = 100',
    ], /BROKEN at entry 5/],
    ['an appended forged entry', [
      "INSERT INTO audit_log (seq, time, action, outcome, mac) VALUES (10, '2030-01-01T00:00:00.000Z', 'createKey', 'success', '" + 'ab'.repeat(32) + "')",
    ], /BROKEN at entry 10: entry 10 was modified/],
  ];

  // The CLI runs (a child process each) prove the exit code; the in-process verifier, the same code
  // the CLI calls, covers the whole table quickly.
  const viaCli = new Set(['an edited outcome', 'a deleted middle entry', 'a truncated tail (last entry)']);

  for (const [name, statements, want] of cases) {
    it(`detects ${name}${viaCli.has(name) ? ' (CLI: exit 2)' : ''}`, async () => {
      const dir = tampered(statements);
      if (viaCli.has(name)) {
        const r = await runWardenAsync(['audit', 'verify'], cliEnv(dir));
        assert.equal(r.status, 2, `${name}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, want, name);
        return;
      }
      const w = await startTestWarden({ dataDir: dir });
      try {
        const v = await w.runtime.services.audit.verify();
        assert.equal(v.ok, false, name);
        assert.match(`BROKEN at entry ${v.firstBad}: ${v.problem}`, want, name);
      } finally {
        await w.close(false);
      }
    });
  }
});
