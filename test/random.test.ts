// GET /v1/generateRandom/{length}: 1..65536 bytes; anything else (0, too large, negative, non-numeric)
// is 400/619; keyOperation and service keys may call it (spec README decision 2).
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

describe('generateRandom', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  it('returns exactly length random bytes for 1..65536', async () => {
    for (const n of [1, 2, 16, 32, 1000, 65536]) {
      const r = await w.call('GET', `/v1/generateRandom/${n}`, undefined, 'keyOperationToken');
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(Object.keys(r.json()), ['random']);
      assert.equal(Buffer.from(r.json().random, 'base64').length, n);
    }
  });

  it('looks random: two calls differ, 64 KiB covers every byte value', async () => {
    const a = (await w.call('GET', '/v1/generateRandom/32', undefined, 'keyOperationToken')).json().random;
    const b = (await w.call('GET', '/v1/generateRandom/32', undefined, 'keyOperationToken')).json().random;
    assert.notEqual(a, b);
    const big = Buffer.from((await w.call('GET', '/v1/generateRandom/65536', undefined, 'keyOperationToken')).json().random, 'base64');
    assert.equal(new Set(big).size, 256);
    const ones = [...big].reduce((acc, x) => acc + x.toString(2).replace(/0/g, '').length, 0);
    const expected = big.length * 4;
    assert.ok(Math.abs(ones - expected) < 6 * Math.sqrt(big.length * 8 * 0.25), `bit balance ${ones} vs ${expected}`);
  });

  it('out of range or not a number: 400/619', async () => {
    for (const bad of ['0', '65537', '-1', '1e3', 'abc', '1.5', '0x10', '99999999999', '%20']) {
      const r = await w.call('GET', `/v1/generateRandom/${bad}`, undefined, 'keyOperationToken');
      assert.equal(r.statusCode, 400, `${bad}: ${r.body}`);
      assert.equal(r.json().errorCode, 619, bad);
    }
  });

  it('roles: keyOperation and service keys yes (Go client uses the service key), others 401/631, none 401/416', async () => {
    assert.equal((await w.call('GET', '/v1/generateRandom/8', undefined, 'serviceToken')).statusCode, 200);
    assert.equal((await w.call('GET', '/v1/generateRandom/8', undefined, 'keyOperationToken')).statusCode, 200);
    for (const role of ['keyManagementToken', 'approverToken'] as const) {
      const r = await w.call('GET', '/v1/generateRandom/8', undefined, role);
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().errorCode, 631);
    }
    const none = await w.call('GET', '/v1/generateRandom/8', undefined, null);
    assert.equal(none.statusCode, 401);
    assert.equal(none.json().errorCode, 416);
  });

  it('tolerates the Go client\'s Content-Type: application/json on GET', async () => {
    const r = await w.app.inject({ method: 'GET', url: '/v1/generateRandom/4', headers: { 'x-api-key': 'test-sv-key', 'content-type': 'application/json' } });
    assert.equal(r.statusCode, 200, r.body);
  });
});
