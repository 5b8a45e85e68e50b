// A first end-to-end pass through the app: create an EC key, read it back, refuse a wrong role.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

describe('smoke', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  it('creates an EC P-256 key and reads its attributes', async () => {
    const created = await w.call('POST', '/v1/key', {
      label: 'smoke-ec', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true, decrypt: false, unwrap: false },
    });
    assert.equal(created.statusCode, 201, created.body);
    const attrs = await w.call('POST', '/v1/key/attributes', { label: 'smoke-ec' });
    assert.equal(attrs.statusCode, 200);
    const json = attrs.json().json;
    assert.equal(json.algorithm, 'EC');
    assert.equal(json.curveOid, '1.2.840.10045.3.1.7');
    assert.equal(json.algorithmOid, '1.2.840.10045.2.1');
    assert.equal(json.id, null);
  });

  it('answers 401/631 to the key of another role', async () => {
    const r = await w.call('GET', '/v1/key', undefined, 'serviceToken');
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().errorCode, 631);
  });
});
