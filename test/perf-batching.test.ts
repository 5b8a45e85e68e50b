// The hot path's batching (issue 10; docs/performance.md), functional, not timed: audit entries of
// concurrent calls share transactions and keep one valid chain; a batch that cannot be written fails
// every call in it; key use counts are committed with the batch before the responses leave and shown as
// stored + pending; a clean shutdown writes everything queued; the unsealed-key cache never serves a
// key changed behind its back, whatever its size.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, verify } from 'node:crypto';
import { sql } from 'kysely';
import { ApiKeyAuthenticator } from '../src/auth/api-keys.ts';
import { WardenError } from '../src/server/errors.ts';
import { SoftwareKeyStore } from '../src/keystore/software/keystore.ts';
import { startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';

const P256 = '1.2.840.10045.3.1.7';
const SIGN_ATTRS = { sign: true, verify: true, decrypt: false, unwrap: false, destroyable: true, modifiable: true };

function signBody(label: string, password?: string) {
  return { signRequest: { payload: randomBytes(32).toString('base64'), signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA', ...(password ? { keyPassword: password } : {}) } };
}

async function storedUseCount(w: TestWarden, label: string): Promise<number> {
  const row = await w.runtime.store.db.selectFrom('keys').select('use_count').where('label', '=', label).executeTakeFirstOrThrow();
  return Number(row.use_count);
}

async function shownUseCount(w: TestWarden, label: string): Promise<number> {
  const r = await w.call('POST', '/v1/key/attributes', { label });
  assert.equal(r.statusCode, 200, r.body);
  return r.json().json.keyUsageCount as number;
}

describe('audit group commit', () => {
  const open: TestWarden[] = [];
  after(async () => {
    for (const w of open) await w.close();
  });

  it('300 concurrent appends: fewer transactions than entries, consecutive sequence numbers, one valid chain', async () => {
    const w = await startTestWarden();
    open.push(w);
    const { audit } = w.runtime.services;
    const before = { ...audit.stats };
    const seqs = await Promise.all(Array.from({ length: 300 }, (_, i) => audit.append({ action: 'perf-test', outcome: 'success', details: { i } })));
    const batches = audit.stats.batches - before.batches;
    console.log(`# 300 appends in ${batches} transaction(s), largest batch ${audit.stats.largestBatch}`);
    assert.ok(batches < 300 / 10, `expected group commit, got ${batches} transactions`);
    const sorted = [...seqs].sort((a, b) => a - b);
    assert.equal(new Set(seqs).size, 300);
    assert.equal(sorted[299] - sorted[0], 299, 'no gaps');
    // Submission order is chain order within the process.
    assert.deepEqual(seqs, sorted);
    const v = await audit.verify();
    assert.equal(v.ok, true, v.problem ?? '');
  });

  it('concurrent HTTP calls: one entry each, fewer transactions than calls, chain intact', async () => {
    const w = await startTestWarden();
    open.push(w);
    const { audit } = w.runtime.services;
    assert.equal((await w.call('POST', '/v1/key', { label: 'gc-ec', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    const before = { ...audit.stats };
    const rs = await Promise.all(Array.from({ length: 60 }, () => w.call('POST', '/v1/synchronousSign', signBody('gc-ec'), 'keyOperationToken')));
    for (const r of rs) assert.equal(r.statusCode, 200, r.body);
    assert.equal(audit.stats.entries - before.entries, 60);
    assert.ok(audit.stats.batches - before.batches < 60, `${audit.stats.batches - before.batches} transactions for 60 calls`);
    const ids = new Set((await audit.query({ limit: 1000 })).filter((e) => e.route === '/v1/synchronousSign').map((e) => e.request_id));
    assert.equal(ids.size, 60, 'one entry per call, each with its own request id');
    assert.equal((await audit.verify()).ok, true);
  });

  it('a batch that cannot be written fails every call in it (703), and none is recorded', async () => {
    const w = await startTestWarden();
    open.push(w);
    assert.equal((await w.call('POST', '/v1/key', { label: 'gc-fail', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    const db = w.runtime.store.db;
    const head = await db.selectFrom('meta').select('v').where('k', '=', 'audit_head').executeTakeFirstOrThrow();
    // A head that fails its own MAC: the log refuses to extend the chain (docs/audit.md).
    await db.updateTable('meta').set({ v: head.v.replace(/:[0-9a-f]{64}$/, `:${'0'.repeat(64)}`) }).where('k', '=', 'audit_head').execute();
    const entriesBefore = (await w.runtime.services.audit.query({ limit: 10000 })).length;
    const rs = await Promise.all(Array.from({ length: 20 }, () => w.call('POST', '/v1/synchronousSign', signBody('gc-fail'), 'keyOperationToken')));
    for (const r of rs) {
      assert.equal(r.statusCode, 500, r.body);
      assert.equal(r.json().errorCode, 703);
    }
    assert.equal((await w.runtime.services.audit.query({ limit: 10000 })).length, entriesBefore);
    await db.updateTable('meta').set({ v: head.v }).where('k', '=', 'audit_head').execute();
    const ok = await w.call('POST', '/v1/synchronousSign', signBody('gc-fail'), 'keyOperationToken');
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal((await w.runtime.services.audit.verify()).ok, true);
  });

  it('a clean shutdown writes every queued entry and pending use count', async () => {
    const dataDir = tempDataDir();
    let w = await startTestWarden({ dataDir });
    assert.equal((await w.call('POST', '/v1/key', { label: 'gc-close', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    const { audit, keystore } = w.runtime.services;
    // Not awaited: they are still queued (or in flight) when the shutdown starts.
    const pending = Array.from({ length: 100 }, (_, i) => audit.append({ action: 'before-shutdown', outcome: 'success', details: { i } }));
    for (let i = 0; i < 7; i++) await keystore.use('gc-close', null, 'sign', () => null);
    await w.close(false);
    const seqs = await Promise.all(pending);
    assert.equal(new Set(seqs).size, 100);
    w = await startTestWarden({ dataDir });
    open.push(w);
    const entries = await w.runtime.services.audit.query({ limit: 10000 });
    assert.equal(entries.filter((e) => e.action === 'before-shutdown').length, 100);
    assert.equal((await w.runtime.services.audit.verify()).ok, true);
    assert.equal(await storedUseCount(w, 'gc-close'), 7);
  });
});

describe('batched use counters', () => {
  const open: TestWarden[] = [];
  after(async () => {
    for (const w of open) await w.close();
  });

  it('concurrent signatures: the stored count is complete when the responses arrive', async () => {
    const w = await startTestWarden();
    open.push(w);
    assert.equal((await w.call('POST', '/v1/key', { label: 'uc-ec', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    const rs = await Promise.all(Array.from({ length: 50 }, () => w.call('POST', '/v1/synchronousSign', signBody('uc-ec'), 'keyOperationToken')));
    for (const r of rs) assert.equal(r.statusCode, 200, r.body);
    assert.equal(await storedUseCount(w, 'uc-ec'), 50);
    assert.equal(await shownUseCount(w, 'uc-ec'), 50);
    // Refused uses are not counted.
    const refused = await w.call('POST', '/v1/synchronousSign', { signRequest: { ...signBody('uc-ec').signRequest, keyPassword: 'wrong' } }, 'keyOperationToken');
    assert.equal(refused.statusCode, 400, refused.body);
    assert.equal(await shownUseCount(w, 'uc-ec'), 50);
  });

  it('uses outside a call: shown at once (stored + pending), stored within the flush delay', async () => {
    const w = await startTestWarden();
    open.push(w);
    assert.equal((await w.call('POST', '/v1/key', { label: 'uc-bg', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    const { keystore } = w.runtime.services;
    for (let i = 0; i < 5; i++) await keystore.use('uc-bg', null, 'sign', () => null);
    assert.equal((await keystore.peek('uc-bg'))?.useCount, 5);
    assert.equal(await shownUseCount(w, 'uc-bg'), 5);
    const deadline = Date.now() + 5000;
    while ((await storedUseCount(w, 'uc-bg')) !== 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await storedUseCount(w, 'uc-bg'), 5);
  });

  it('a deleted key drops its pending count; a new key under the label starts at 0', async () => {
    const w = await startTestWarden();
    open.push(w);
    const create = () => w.call('POST', '/v1/key', { label: 'uc-del', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS });
    assert.equal((await create()).statusCode, 201);
    await w.runtime.services.keystore.use('uc-del', null, 'sign', () => null);
    assert.equal((await w.call('DELETE', '/v1/key/uc-del')).statusCode, 200);
    assert.equal((await create()).statusCode, 201);
    assert.equal(await shownUseCount(w, 'uc-del'), 0);
    await w.runtime.services.audit.flush();
    assert.equal(await storedUseCount(w, 'uc-del'), 0);
  });
});

describe('unsealed-key cache', () => {
  const open: TestWarden[] = [];
  after(async () => {
    for (const w of open) await w.close();
  });

  it('a key replaced, re-protected or deleted through another node is never served from the cache', async () => {
    const w = await startTestWarden();
    open.push(w);
    const sign = (password?: string) => w.call('POST', '/v1/synchronousSign', signBody('kc-key', password), 'keyOperationToken');
    assert.equal((await w.call('POST', '/v1/key', { label: 'kc-key', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    assert.equal((await sign()).statusCode, 200);
    // Another node: its own keystore on the same database (its own cache).
    const other = new SoftwareKeyStore(w.runtime.store, w.runtime.master);
    await other.changePassword('kc-key', null, 'pw-1');
    const stale = await sign();
    assert.equal(stale.statusCode, 400, stale.body);
    assert.equal(stale.json().errorCode, 620);
    assert.equal((await sign('pw-1')).statusCode, 200);
    await other.delete('kc-key', 'pw-1');
    const gone = await sign('pw-1');
    assert.equal(gone.statusCode, 404, gone.body);
    // Re-created elsewhere with the same label: this node signs with the new key, not the cached one.
    const fresh = await w.call('POST', '/v1/key', { label: 'kc-key', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS });
    assert.equal(fresh.statusCode, 201);
    const payload = 'AAAA';
    const sig = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload, signKeyName: 'kc-key', signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken');
    assert.equal(sig.statusCode, 200, sig.body);
    // Verified by the other node, which never had the old key cached: the signature is the new key's.
    const ok = await other.use('kc-key', null, 'verify', ({ material }) =>
      verify('sha256', Buffer.from(payload, 'base64'), { key: material.publicKey as Buffer, format: 'der', type: 'spki' }, Buffer.from(sig.json().signature as string, 'base64')));
    assert.equal(ok, true);
  });

  it('edited metadata in the row is refused (701) even while the key is cached', async () => {
    const w = await startTestWarden();
    open.push(w);
    assert.equal((await w.call('POST', '/v1/key', { label: 'kc-edit', algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    assert.equal((await w.call('POST', '/v1/synchronousSign', signBody('kc-edit'), 'keyOperationToken')).statusCode, 200);
    const db = w.runtime.store.db;
    const row = await db.selectFrom('keys').select('attributes').where('label', '=', 'kc-edit').executeTakeFirstOrThrow();
    // An attribute flipped in the database (not through the keystore): the seal's AAD no longer matches.
    assert.match(row.attributes, /"destroyable":true/);
    await db.updateTable('keys').set({ attributes: row.attributes.replace('"destroyable":true', '"destroyable":false') }).where('label', '=', 'kc-edit').execute();
    const r = await w.call('POST', '/v1/synchronousSign', signBody('kc-edit'), 'keyOperationToken');
    assert.equal(r.statusCode, 500, r.body);
    assert.equal(r.json().errorCode, 701);
    await db.updateTable('keys').set({ attributes: row.attributes }).where('label', '=', 'kc-edit').execute();
    assert.equal((await w.call('POST', '/v1/synchronousSign', signBody('kc-edit'), 'keyOperationToken')).statusCode, 200);
  });

  it('a cache of one key serves many keys correctly (bounded, evicts)', async () => {
    const w = await startTestWarden({ env: { WARDEN_KEYSTORE_UNSEALED_CACHE_SIZE: '1' } });
    open.push(w);
    const labels = ['kc-a', 'kc-b', 'kc-c'];
    for (const label of labels) assert.equal((await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: SIGN_ATTRS })).statusCode, 201);
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => w.call('POST', '/v1/synchronousSign', signBody(labels[i % 3]), 'keyOperationToken')));
    for (const r of rs) assert.equal(r.statusCode, 200, r.body);
    for (const label of labels) assert.equal(await shownUseCount(w, label), 10);
    const n = await sql<{ n: number }>`select count(*) as n from keys`.execute(w.runtime.store.db);
    assert.ok(Number(n.rows[0].n) >= 3);
  });
});

describe('accepted API keys cache', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
      return 0;
    } catch (e) {
      return e instanceof WardenError ? e.code : -1;
    }
  };

  it('a cached key counts only for its roles; a value configured for two roles works for both; guesses stay refused', () => {
    const a = new ApiKeyAuthenticator({ serviceToken: 'shared', keyOperationToken: ['op', 'shared'], keyManagementToken: 'km' });
    for (let i = 0; i < 3; i++) {
      assert.equal(a.authenticate('op', ['keyOperationToken']).subject, 'apiKey:keyOperationToken#0');
      assert.equal(code(() => a.authenticate('op', ['keyManagementToken'])), 631, 'cached, but not a key of this role');
      assert.equal(a.authenticate('shared', ['serviceToken']).subject, 'apiKey:serviceToken#0');
      assert.equal(a.authenticate('shared', ['keyOperationToken']).subject, 'apiKey:keyOperationToken#1');
      assert.equal(code(() => a.authenticate('opx', ['keyOperationToken'])), 631);
      assert.equal(code(() => a.authenticate('', ['keyOperationToken'])), 416);
    }
  });
});
