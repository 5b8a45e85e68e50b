// Repository conformance on both dialects (STYLE §9): the same calls give the same answers on SQLite and
// PostgreSQL — unique violations as `false`, numbers as numbers, blobs as Buffers, byte-wise label order,
// atomic counters, first-writer-wins meta, and audit rows with numeric sequence numbers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { openStore, type Store } from '../src/store/db.ts';
import { AuditRepository, DataObjectsRepository, KeysRepository, MetaRepository, type KeyRow } from '../src/store/repositories.ts';
import { tempDataDir } from './helpers/runtime.ts';
import { createTestDatabase, pgAvailable, type TestDatabase } from './helpers/postgres.ts';

const pgUp = await pgAvailable();
const pgSkip = !pgUp && process.env.CI !== 'true' ? 'PostgreSQL is not reachable (run scripts/ensure-postgres.sh)' : false;

function keyRow(label: string, over: Partial<KeyRow> = {}): KeyRow {
  return {
    label,
    id: null,
    algorithm: 'EC',
    algorithm_oid: '1.2.840.10045.2.1',
    curve_oid: '1.2.840.10045.3.1.7',
    key_size: null,
    key_class: 'private',
    creation: 'generated',
    create_time: '2026-01-01T00:00:00Z',
    attributes: '{}',
    public_key: Buffer.from([0, 1, 2, 255]),
    certificate: null,
    policy: null,
    system: 0,
    sealed: Buffer.from('sealed-bytes\u0000\u00ff'),
    use_count: 0,
    ...over,
  };
}

const dialects: Array<{ name: 'sqlite' | 'postgres'; skip: string | false; open(): Promise<{ store: Store; cleanup(): Promise<void> }> }> = [
  {
    name: 'sqlite',
    skip: false,
    async open() {
      const dir = tempDataDir();
      const store = await openStore(`sqlite:${path.join(dir, 'warden.db')}`);
      return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    skip: pgSkip,
    async open() {
      const db: TestDatabase = await createTestDatabase();
      const store = await openStore(db.url, { poolSize: 4 });
      return { store, cleanup: () => db.drop() };
    },
  },
];

for (const d of dialects) {
  describe(`repositories on ${d.name}`, { skip: d.skip }, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    before(async () => {
      ({ store, cleanup } = await d.open());
    });
    after(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('keys: insert, duplicate refused (false), typed read back, update, delete', async () => {
      const keys = new KeysRepository(store.db);
      assert.equal(store.dialect, d.name);
      assert.equal(await keys.insert(keyRow('k1', { key_size: 256 })), true);
      assert.equal(await keys.insert(keyRow('k1')), false, 'a taken label answers false, never overwrites');
      const row = await keys.get('k1');
      assert.ok(row);
      assert.ok(Buffer.isBuffer(row.sealed) && Buffer.isBuffer(row.public_key));
      assert.deepEqual(Buffer.from(row.sealed), Buffer.from('sealed-bytes\u0000\u00ff'));
      assert.deepEqual(Buffer.from(row.public_key as Buffer), Buffer.from([0, 1, 2, 255]));
      assert.equal(Number(row.key_size), 256);
      assert.equal(row.certificate, null);
      assert.equal(typeof (await keys.count()), 'number');
      await keys.update('k1', { certificate: Buffer.from('cert') });
      assert.deepEqual(Buffer.from((await keys.get('k1'))?.certificate as Buffer), Buffer.from('cert'));
      assert.equal(await keys.delete('k1'), true);
      assert.equal(await keys.delete('k1'), false);
      assert.equal(await keys.get('k1'), undefined);
    });

    it('keys: labels come back in byte order on both databases', async () => {
      const keys = new KeysRepository(store.db);
      const labels = ['b', 'B', '_x', 'a', 'Z', 'é', '1', 'aa', 'A-b'];
      for (const l of labels) assert.equal(await keys.insert(keyRow(`o:${l}`)), true);
      const listed = (await keys.labels()).filter((l) => l.startsWith('o:'));
      assert.deepEqual(listed, labels.map((l) => `o:${l}`).sort());
    });

    it('keys: concurrent use counters do not lose increments', async () => {
      const keys = new KeysRepository(store.db);
      await keys.insert(keyRow('counted'));
      await Promise.all(Array.from({ length: 40 }, () => keys.incrementUse('counted')));
      assert.equal(Number((await keys.get('counted'))?.use_count), 40);
    });

    it('meta: upsert, and setIfAbsent keeps the first writer under a race', async () => {
      const meta = new MetaRepository(store.db);
      await meta.set('m', 'one');
      await meta.set('m', 'two');
      assert.equal(await meta.get('m'), 'two');
      const won = await Promise.all(Array.from({ length: 8 }, (_, i) => meta.setIfAbsent('race', `v${i}`)));
      assert.equal(new Set(won).size, 1, `every writer sees the same winner: ${won.join(',')}`);
      assert.equal(await meta.get('race'), won[0]);
    });

    it('data objects: insert, duplicate false, value bytes intact', async () => {
      const objects = new DataObjectsRepository(store.db);
      const value = Buffer.from([0, 0, 1, 254, 255]);
      assert.equal(await objects.insert({ name: 'o1', attributes: '{}', create_time: '2026-01-01T00:00:00Z', value }), true);
      assert.equal(await objects.insert({ name: 'o1', attributes: '{}', create_time: '2026-01-01T00:00:00Z', value }), false);
      assert.deepEqual(Buffer.from((await objects.get('o1'))?.value as Buffer), value);
      assert.equal(await objects.count(), 1);
    });

    it('audit rows: numeric sequence numbers, time range and paging queries', async () => {
      const audit = new AuditRepository(store.db);
      const base = { request_id: null, principal: null, method: null, route: null, key_label: null, outcome: 'success', details: null, mac: 'x' };
      for (let i = 1; i <= 5; i++) {
        const seq = await audit.append({ ...base, time: `2026-01-0${i}T00:00:00.000Z`, action: `a${i}` });
        assert.equal(typeof seq, 'number');
      }
      const last = await audit.last();
      assert.equal(typeof last?.seq, 'number');
      assert.equal(last?.action, 'a5');
      assert.equal((await audit.get(last?.seq as number))?.action, 'a5');
      const ranged = await audit.query({ from: '2026-01-02', to: '2026-01-04T23:59:59Z', limit: 10 });
      assert.deepEqual(ranged.map((r) => r.action), ['a2', 'a3', 'a4']);
      const page = await audit.query({ afterSeq: ranged[0]?.seq, limit: 2 });
      assert.deepEqual(page.map((r) => r.action), ['a3', 'a4']);
    });
  });
}

describe('PostgreSQL columns compared byte-wise', { skip: pgSkip }, () => {
  it('label, name and time use collation "C" whatever the database locale', async () => {
    const db = await createTestDatabase();
    const store = await openStore(db.url, { poolSize: 1 });
    try {
      const { rows } = await (await import('kysely')).sql<{ table_name: string; column_name: string; collation_name: string | null }>`
        select table_name, column_name, collation_name from information_schema.columns
        where (table_name, column_name) in (('keys', 'label'), ('data_objects', 'name'), ('audit_log', 'time'))`.execute(store.db);
      assert.equal(rows.length, 3);
      for (const r of rows) assert.equal(r.collation_name, 'C', `${r.table_name}.${r.column_name}`);
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
