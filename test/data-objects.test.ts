// Data objects (spec §3.13): create/get/delete, duplicate 615, bad value 616, missing 653, the
// destroyable attribute, values sealed at rest, and the usual JSON/role failures.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rawDb } from './helpers/postgres.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

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

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('data objects', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  it('creates (201) with default attributes, reads it back, deletes it', async () => {
    const r = await w.call('POST', '/v1/dataObject', { name: 'obj-1', value: b64('hello world') });
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(r.json(), { name: 'obj-1', value: b64('hello world'), attributes: { private: false, modifiable: true, destroyable: true } });
    const g = await w.call('GET', '/v1/dataObject/obj-1');
    assert.equal(g.statusCode, 200, g.body);
    assert.deepEqual(g.json(), r.json());
    const d = await w.call('DELETE', '/v1/dataObject/obj-1');
    assert.equal(d.statusCode, 200, d.body);
    assert.deepEqual(d.json(), {});
    assertError(await w.call('GET', '/v1/dataObject/obj-1'), 404, 653);
  });

  it('keeps the attributes given (private, modifiable, destroyable), nulls mean the defaults', async () => {
    const r = await w.call('POST', '/v1/dataObject', { name: 'obj-attrs', value: b64('x'), attributes: { private: true, modifiable: false, destroyable: null } });
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(r.json().attributes, { private: true, modifiable: false, destroyable: true });
    assert.deepEqual((await w.call('GET', '/v1/dataObject/obj-attrs')).json().attributes, { private: true, modifiable: false, destroyable: true });
    const n = await w.call('POST', '/v1/dataObject', { name: 'obj-null-attrs', value: b64('y'), attributes: null });
    assert.equal(n.statusCode, 201, n.body);
  });

  it('stores values sealed: the plaintext is not in the database file', async () => {
    const secret = 'data-object-plaintext-marker-0123456789';
    const r = await w.call('POST', '/v1/dataObject', { name: 'obj-sealed', value: b64(secret), attributes: { private: true } });
    assert.equal(r.statusCode, 201, r.body);
    const db = await rawDb(w.config.database.url);
    try {
      const [row] = await db.all<{ value: Buffer }>('SELECT value FROM data_objects WHERE name = ?', ['obj-sealed']);
      assert.ok(Buffer.isBuffer(row.value));
      assert.equal(row.value.includes(Buffer.from(secret)), false);
      assert.ok(row.value.length >= secret.length + 29, 'version ‖ iv ‖ ciphertext ‖ tag');
    } finally {
      await db.close();
    }
    assert.equal((await w.call('GET', '/v1/dataObject/obj-sealed')).json().value, b64(secret));
  });

  it('accepts binary values up to 64 KiB and the empty value', async () => {
    const big = Buffer.alloc(64 * 1024, 0xab);
    const r = await w.call('POST', '/v1/dataObject', { name: 'obj-big', value: big.toString('base64') });
    assert.equal(r.statusCode, 201, r.body.slice(0, 200));
    assert.equal((await w.call('GET', '/v1/dataObject/obj-big')).json().value, big.toString('base64'));
    const e = await w.call('POST', '/v1/dataObject', { name: 'obj-empty', value: '' });
    assert.equal(e.statusCode, 201, e.body);
  });

  it('names with URL-special characters round-trip through the path', async () => {
    const name = 'a b/c?d#é';
    assert.equal((await w.call('POST', '/v1/dataObject', { name, value: b64('z') })).statusCode, 201);
    const g = await w.call('GET', `/v1/dataObject/${encodeURIComponent(name)}`);
    assert.equal(g.statusCode, 200, g.body);
    assert.equal(g.json().name, name);
    assert.equal((await w.call('DELETE', `/v1/dataObject/${encodeURIComponent(name)}`)).statusCode, 200);
  });

  it('duplicate name → 400/615 (the first value is kept)', async () => {
    assert.equal((await w.call('POST', '/v1/dataObject', { name: 'obj-dup', value: b64('first') })).statusCode, 201);
    assertError(await w.call('POST', '/v1/dataObject', { name: 'obj-dup', value: b64('second') }), 400, 615);
    assert.equal((await w.call('GET', '/v1/dataObject/obj-dup')).json().value, b64('first'));
  });

  it('bad value → 400/616 (not Base64, too large, bad name)', async () => {
    assertError(await w.call('POST', '/v1/dataObject', { name: 'obj-bad', value: 'not base64!' }), 400, 616);
    assertError(await w.call('POST', '/v1/dataObject', { name: 'obj-bad', value: 'aGk' }), 400, 616);
    assertError(await w.call('POST', '/v1/dataObject', { name: 'obj-bad', value: Buffer.alloc(64 * 1024 + 3).toString('base64') }), 400, 616);
    assertError(await w.call('POST', '/v1/dataObject', { name: 'obj\u0001bad', value: b64('x') }), 400, 616);
    assertError(await w.call('POST', '/v1/dataObject', { name: '   ', value: b64('x') }), 400, 616);
    assertError(await w.call('GET', '/v1/dataObject/obj-bad'), 404, 653);
  });

  it('missing → 404/653 on get and delete', async () => {
    assertError(await w.call('GET', '/v1/dataObject/no-such-object'), 404, 653);
    assertError(await w.call('DELETE', '/v1/dataObject/no-such-object'), 404, 653);
  });

  it('a data object that is not destroyable → 400/614 and stays', async () => {
    assert.equal((await w.call('POST', '/v1/dataObject', { name: 'obj-keep', value: b64('k'), attributes: { destroyable: false } })).statusCode, 201);
    assertError(await w.call('DELETE', '/v1/dataObject/obj-keep'), 400, 614);
    assert.equal((await w.call('GET', '/v1/dataObject/obj-keep')).statusCode, 200);
  });

  it('schema failures → 400/600, bad JSON → 400/621', async () => {
    for (const body of [{}, { name: 'x' }, { value: b64('x') }, { name: 5, value: b64('x') }, { name: 'x', value: 5 }, { name: '', value: 'aGk=' }, { name: 'x', value: 'aGk=', attributes: { private: 'yes' } }, { name: 'x', value: 'aGk=', attributes: [] }]) {
      assertError(await w.call('POST', '/v1/dataObject', body), 400, 600);
    }
    assertError(await w.call('POST', '/v1/dataObject', '{"name":'), 400, 621);
  });

  it('wrong role → 401/631, missing key → 401/416 on every data-object route', async () => {
    for (const [method, url, body] of [['POST', '/v1/dataObject', { name: 'r', value: 'aGk=' }], ['GET', '/v1/dataObject/r', undefined], ['DELETE', '/v1/dataObject/r', undefined]] as const) {
      assertError(await w.call(method, url, body, 'keyOperationToken'), 401, 631);
      assertError(await w.call(method, url, body, 'serviceToken'), 401, 631);
      assertError(await w.call(method, url, body, null), 401, 416);
    }
  });

  it('data objects are counted in the keystore statistics and are not keys', async () => {
    const s = (await w.call('GET', '/v1/keystore/statistics', undefined, 'serviceToken')).json().keyStoreStatistics as string;
    const n = Number(/data objects (\d+)/.exec(s)?.[1]);
    assert.ok(n >= 5, s);
    const labels = (await w.call('GET', '/v1/key')).json() as unknown as string[];
    assert.ok(!labels.includes('obj-dup'));
  });
});
