// Regression tests for what the fuzzer (test/helpers/fuzz.ts, `npm run fuzz`) once found: each test
// names the request that failed and what it answered before the fix.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const SIGN = { sign: true, verify: true, decrypt: false, unwrap: false, destroyable: true };

function derOfPem(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
}

describe('fuzz regressions', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  it('POST /v1/attestation/key on an ML-DSA key: 200 with its SPKI as PEM (was 500/1: Node 20 cannot parse the SPKI)', async () => {
    const label = 'fz-reg-mldsa';
    const c = await w.call('POST', '/v1/key', { label, algorithm: 'ML-DSA-44', attributes: SIGN });
    assert.equal(c.statusCode, 201, c.body);
    const r = await w.call('POST', '/v1/attestation/key', { label });
    assert.equal(r.statusCode, 200, r.body);
    const pem = r.json().signingKeyPublicKey as string;
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n([A-Za-z0-9+/=]{64}\n)*[A-Za-z0-9+/=]{1,64}\n-----END PUBLIC KEY-----\n$/);
    // SPKI with the id-ml-dsa-44 OID 2.16.840.1.101.3.4.3.17 (FIPS 204, RFC 9881) and a 1312-byte key.
    const der = derOfPem(pem);
    assert.ok(der.includes(Buffer.from('0609608648016503040311', 'hex')), 'ML-DSA-44 algorithm identifier');
    assert.equal(der.length, 1312 + 22);
  });

  // Unknown properties are ignored (spec README decision 5), but the workflow and the seal walk the stored
  // request recursively: 5000 levels in an ignored field overflowed the stack (500/1, RangeError).
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  it('POST /v1/unblock with 5000 nested arrays under constructor.prototype: 400/600 (was 500/1)', async () => {
    const r = await w.call('POST', '/v1/unblock', `{"__proto__":{"polluted":true,"system":true},"constructor":{"prototype":{"polluted":${deep(5000)}}},"unblockRequest":{"unblockKeyName":"fz-none"}}`, 'keyOperationToken');
    assert.equal(r.statusCode, 400, r.body);
    assert.equal(r.json().errorCode, 600);
  });

  it('POST /v1/certificate/selfsign with 5000 nested arrays in an extra field: 400/600 (was 500/1)', async () => {
    const body = `{"selfSignCertificateRequest":{"signKeyName":"my-ec-key","keyPassword":null,"signatureAlgorithm":"SHA512_WITH_RSA","validity":null,"commonName":"x","certificateAuthority":true,"extra":${deep(5000)}}}`;
    const r = await w.call('POST', '/v1/certificate/selfsign', body, 'keyOperationToken');
    assert.equal(r.statusCode, 400, r.body);
    assert.equal(r.json().errorCode, 600);
  });

  // JSON "\ud800" is a lone surrogate: no UTF-8 form, so the database stored U+FFFD and the key no longer
  // matched its seal: created 201, then 701 on every use, undeletable.
  for (const [what, body] of [
    ['label', { label: 'fz-reg-\uD800', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: SIGN }],
    ['id', { label: 'fz-reg-id', id: 'id-\uDFFF', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: SIGN }],
    ['property name', { label: 'fz-reg-prop', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: SIGN, ['x\uDBFF']: 1 }],
  ] as const) {
    it(`POST /v1/key with an unpaired surrogate in the ${what}: 400/600 and no key (was 201, then 701 for ever)`, async () => {
      const r = await w.call('POST', '/v1/key', body);
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(r.json().errorCode, 600);
      assert.match(r.json().message, /unpaired UTF-16 surrogate/);
      assert.equal((await w.call('GET', '/v1/key')).json().some((l: string) => l.startsWith('fz-reg-') && l !== 'fz-reg-mldsa' && l !== 'fz-reg-ec'), false);
    });
  }

  it('well-formed non-BMP labels (surrogate pairs) still work', async () => {
    const label = 'fz-reg-🔑';
    assert.equal((await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: SIGN })).statusCode, 201);
    assert.equal((await w.call('POST', '/v1/key/attributes', { label })).statusCode, 200);
  });

  it('POST /v1/filteredRequests with pageNumber 1e21: 400/619 (was 500/1: SQLite datatype mismatch on the offset)', async () => {
    for (const body of ['{"status":null,"pageNumber":1e+21,"pageSize":849,"sortOrder":"CREATION_DATE_DESC"}', '{"pageNumber":"99999999999999999999","pageSize":"10"}']) {
      const r = await w.call('POST', '/v1/filteredRequests', body, 'keyOperationToken');
      assert.equal(r.statusCode, 400, r.body);
      assert.equal(r.json().errorCode, 619);
    }
    const q = await w.call('GET', '/v1/filteredRequests?pageNumber=99999999999999999999&pageSize=1000', undefined, 'keyOperationToken');
    assert.equal(q.statusCode, 400, q.body);
    assert.equal(q.json().errorCode, 619);
    const ok = await w.call('POST', '/v1/filteredRequests', { pageNumber: 3, pageSize: 10 }, 'keyOperationToken');
    assert.equal(ok.statusCode, 200, ok.body);
  });

  it('POST /v1/attestation/key on an EC key: the PEM is what OpenSSL would write', async () => {
    const label = 'fz-reg-ec';
    assert.equal((await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: SIGN })).statusCode, 201);
    const r = await w.call('POST', '/v1/attestation/key', { label });
    assert.equal(r.statusCode, 200, r.body);
    const pem = r.json().signingKeyPublicKey as string;
    assert.equal(createPublicKey(pem).export({ type: 'spki', format: 'pem' }), pem);
  });
});
