// Key management endpoints of spec §3 (issue 2): every route with positive and negative cases
// (exact status + errorCode), every key family of the registry with the attributes it must report,
// public keys cross-checked with `openssl pkey`, and a garbage table proving nothing answers 500.
// On the PKCS#11 keystore the families the token cannot hold are asserted refused (400/611).
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EC_CURVES } from '../src/crypto/curves.ts';
import { RSA_SIZES } from '../src/crypto/families/rsa.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { opensslPublicKeyText } from './helpers/core-tools.ts';
import { assertRefusedOnToken, refusedOnToken } from './helpers/keystore-under-test.ts';

const P256 = '1.2.840.10045.3.1.7';
const SIGN = { sign: true, decrypt: false, unwrap: false };
const SLOW = process.env.WARDEN_SLOW_TESTS === '1';

type Body = Record<string, unknown>;
interface Reply {
  statusCode: number;
  body: string;
  json(): Body;
}

/** Asserts an error reply: HTTP status, errorCode, the catalogue's reason and a message. */
function assertError(r: Reply, status: number, code: number): void {
  assert.equal(r.statusCode, status, `expected ${status}/${code}, got ${r.statusCode}: ${r.body}`);
  const b = r.json();
  assert.equal(b.errorCode, code, r.body);
  assert.equal(typeof b.reason, 'string');
  assert.match(b.reason as string, /^res\.error\./);
  assert.equal(typeof b.message, 'string');
}

describe('key management endpoints', () => {
  let w: TestWarden;
  let n = 0;
  const label = (p: string) => `${p}-${++n}`;
  const createEc = async (l: string, extra: Body = {}) => {
    const r = await w.call('POST', '/v1/key', { label: l, algorithm: 'EC', curveOid: P256, attributes: { ...SIGN, destroyable: true }, ...extra });
    assert.equal(r.statusCode, 201, r.body);
    return r.json();
  };
  const createAes = async (l: string, attributes: Body, extra: Body = {}) => {
    const r = await w.call('POST', '/v1/key', { label: l, algorithm: 'AES', keySize: 256, attributes, ...extra });
    assert.equal(r.statusCode, 201, r.body);
    return r.json();
  };

  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  describe('POST /v1/key', () => {
    it('creates a key: 201 with the SignedKeyAttributes object', async () => {
      const l = label('ec');
      const b = await createEc(l);
      const json = b.json as Body;
      assert.deepEqual(Object.keys(b).sort(), ['attestationKeyName', 'json', 'xml', 'xmlSignature']);
      assert.equal(b.attestationKeyName, 'attestation-key');
      assert.equal(typeof b.xml, 'string');
      assert.match(b.xmlSignature as string, /^[A-Za-z0-9+/]+=*$/);
      assert.equal(json.label, l);
      assert.equal(json.id, null);
      assert.equal(json.uuid, null);
      assert.equal(json.derivedAttributes, null);
      assert.equal(json.policy, null);
      assert.equal(json.keyUsageCount, 0);
      assert.match(json.createTime as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.match(json.attestTime as string, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      assert.deepEqual(json.attributes, {
        decrypt: false, sign: true, ekaSign: null, unwrap: false, derive: false, sensitive: true, alwaysSensitive: true,
        extractable: false, neverExtractable: true, modifiable: true, copyable: false, destroyable: true,
      });
    });

    it('keeps json.id null even when an id is given (Go clients panic on a string id)', async () => {
      const b = await createEc(label('ec-id'), { id: 'pkcs11-id' });
      assert.equal((b.json as Body).id, null);
    });

    it('accepts algorithmOid instead of algorithm', async () => {
      const r = await w.call('POST', '/v1/key', { label: label('oid'), algorithmOid: '1.2.840.10045.2.1', curveOid: P256, attributes: SIGN });
      assert.equal(r.statusCode, 201, r.body);
      assert.equal((r.json().json as Body).algorithm, 'EC');
    });

    it('ignores unknown JSON properties (README decision 5)', async () => {
      const r = await w.call('POST', '/v1/key', { label: label('extra'), algorithm: 'EC', curveOid: P256, attributes: { ...SIGN, foo: 1 }, bar: 'x' });
      assert.equal(r.statusCode, 201, r.body);
    });

    it('accepts the Go client body shape: password as a char array, policy null', async () => {
      const r = await w.call('POST', '/v1/key', {
        label: label('go'), algorithm: 'RSA', password: ['p', 'w'], keySize: 2048, attributes: { decrypt: true, sign: true, unwrap: true }, policy: null,
      });
      assert.equal(r.statusCode, 201, r.body);
    });

    it('bad JSON → 400/621', async () => {
      assertError(await w.call('POST', '/v1/key', '{"label": "x",'), 400, 621);
      assertError(await w.call('POST', '/v1/key', 'not json at all'), 400, 621);
    });

    it('missing or wrongly typed fields → 400/600', async () => {
      const cases: Body[] = [
        {},
        { algorithm: 'EC', curveOid: P256, attributes: SIGN },
        { label: 'x', algorithm: 'EC', curveOid: P256 },
        { label: 5, algorithm: 'EC', curveOid: P256, attributes: SIGN },
        { label: '', algorithm: 'EC', curveOid: P256, attributes: SIGN },
        { label: 'x', algorithm: 'RSA', keySize: '2048', attributes: SIGN },
        { label: 'x', algorithm: 'RSA', keySize: 2048.5, attributes: SIGN },
        { label: 'x', algorithm: 'RSA', keySize: -1, attributes: SIGN },
        { label: 'x', algorithm: 'EC', curveOid: 7, attributes: SIGN },
        { label: 'x', algorithm: 'EC', curveOid: P256, attributes: 'sign' },
        { label: 'x', algorithm: 'EC', curveOid: P256, attributes: { sign: 'yes' } },
        { label: 'x', algorithm: 'EC', curveOid: P256, attributes: SIGN, password: 5 },
        { label: 'x', algorithm: 'EC', curveOid: P256, attributes: SIGN, password: ['ab'] },
        { label: 'x', algorithm: 'EC', curveOid: P256, attributes: SIGN, password: [1] },
        { label: 'x', curveOid: P256, attributes: SIGN },
      ];
      for (const body of cases) assertError(await w.call('POST', '/v1/key', body), 400, 600);
      assertError(await w.call('POST', '/v1/key', ''), 400, 600);
      assertError(await w.call('POST', '/v1/key', 'null'), 400, 600);
      assertError(await w.call('POST', '/v1/key', '[]'), 400, 600);
    });

    it('unknown algorithm (or algorithmOid) → 400/501', async () => {
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'FOO', attributes: SIGN }), 400, 501);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'rsa', keySize: 2048, attributes: SIGN }), 400, 501);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithmOid: '1.2.3.4', attributes: SIGN }), 400, 501);
    });

    it('unknown, unsupported or missing curve → 400/600', async () => {
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: '1.2.3.4', attributes: SIGN }), 400, 600);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', attributes: SIGN }), 400, 600);
      // frp256v1 is in the spec's table but not in Node 20's OpenSSL.
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: '1.2.250.1.223.101.256.1', attributes: SIGN }), 400, 600);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'ED', curveOid: P256, attributes: SIGN }), 400, 600);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: 'p23.a1.b2.x3.y4.g5.h1', attributes: SIGN }), 400, 600);
    });

    it('bad or missing key size → 400/603', async () => {
      const cases: Body[] = [
        { algorithm: 'RSA', keySize: 1000 },
        { algorithm: 'RSA', keySize: 512 },
        { algorithm: 'RSA', keySize: 9216 },
        { algorithm: 'RSA' },
        { algorithm: 'DSA', keySize: 4096 },
        { algorithm: 'DSA' },
        { algorithm: 'AES', keySize: 100 },
        { algorithm: 'AES' },
        { algorithm: 'ChaCha20', keySize: 128 },
        { algorithm: 'Camellia', keySize: 64 },
        { algorithm: 'TDEA', keySize: 128 },
        { algorithm: 'HMACSHA256', keySize: 100 },
      ];
      for (const c of cases) assertError(await w.call('POST', '/v1/key', { label: 'x', ...c, attributes: { decrypt: true, sign: true } }), 400, 603);
    });

    it('duplicate label → 400/608 (the existing key is untouched)', async () => {
      const l = label('dup');
      const first = await createEc(l);
      assertError(await w.call('POST', '/v1/key', { label: l, algorithm: 'AES', keySize: 128, attributes: { decrypt: true } }), 400, 608);
      const again = await w.call('POST', '/v1/key/attributes', { label: l });
      assert.equal((again.json().json as Body).publicKey, (first.json as Body).publicKey);
      assertError(await w.call('POST', '/v1/key', { label: 'attestation-key', algorithm: 'EC', curveOid: P256, attributes: SIGN }), 400, 608);
    });

    it('invalid attribute combinations → 400/606', async () => {
      const none = { decrypt: false, sign: false, unwrap: false };
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: P256, attributes: none }), 400, 606);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'RSA', keySize: 2048, attributes: { ...SIGN, derive: true, bip32: true } }), 400, 606);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: P256, attributes: { ...SIGN, bip32: true } }), 400, 606);
    });

    it('labels with "/" or control characters → 400/610', async () => {
      assertError(await w.call('POST', '/v1/key', { label: 'a/b', algorithm: 'EC', curveOid: P256, attributes: SIGN }), 400, 610);
      assertError(await w.call('POST', '/v1/key', { label: 'a\nb', algorithm: 'EC', curveOid: P256, attributes: SIGN }), 400, 610);
      assertError(await w.call('POST', '/v1/key', { label: '   ', algorithm: 'EC', curveOid: P256, attributes: SIGN }), 400, 610);
    });

    it('addressFormat without a policy → 400/630; a policy on a symmetric key → 400/606 (policies: test/workflow-policy.test.ts)', async () => {
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'EC', curveOid: P256, attributes: SIGN, addressFormat: { format: 'BTC' } }), 400, 630);
      assertError(await w.call('POST', '/v1/key', { label: 'x', algorithm: 'AES', keySize: 256, attributes: { decrypt: true }, policy: { ruleUse: null } }), 400, 606);
    });

    it('wrong role key → 401/631, missing key → 401/416 (and nothing is created)', async () => {
      const body = { label: 'auth-x', algorithm: 'EC', curveOid: P256, attributes: SIGN };
      for (const role of ['keyOperationToken', 'serviceToken', 'approverToken', 'approverKeyManagementToken'] as const) {
        assertError(await w.call('POST', '/v1/key', body, role), 401, 631);
      }
      assertError(await w.call('POST', '/v1/key', body, null), 401, 416);
      const r = await w.app.inject({ method: 'POST', url: '/v1/key', headers: { 'x-api-key': 'not-a-key', 'content-type': 'application/json' }, payload: JSON.stringify(body) });
      assertError(r, 401, 631);
      const list = await w.call('GET', '/v1/key');
      assert.ok(!(list.json() as unknown as string[]).includes('auth-x'));
    });
  });

  describe('key families', () => {
    const check = (json: Body, want: { algorithm: string; algorithmOid: string; curveOid: string | null; keySize: number | null }) => {
      assert.equal(json.algorithm, want.algorithm);
      assert.equal(json.algorithmOid, want.algorithmOid);
      assert.notEqual(json.algorithmOid, null);
      assert.equal(json.curveOid, want.curveOid);
      assert.equal(json.keySize, want.keySize);
    };
    const create = async (body: Body) => {
      const r = await w.call('POST', '/v1/key', { label: label(String(body.algorithm)), attributes: { decrypt: true, sign: true, unwrap: true }, ...body });
      assert.equal(r.statusCode, 201, r.body);
      // The attributes endpoint must report exactly what create reported.
      const json = r.json().json as Body;
      const again = await w.call('POST', '/v1/key/attributes', { label: json.label });
      assert.equal(again.statusCode, 200, again.body);
      const j2 = { ...(again.json().json as Body), attestTime: json.attestTime };
      assert.deepEqual(j2, json);
      return json;
    };
    /** create(), or on the token for a family it cannot hold: 400/611 and nothing stored (null). */
    const createOrRefused = async (body: Body): Promise<Body | null> => {
      if (!refusedOnToken({ key: String(body.algorithm) })) return create(body);
      const l = label(String(body.algorithm));
      assertRefusedOnToken(await w.call('POST', '/v1/key', { label: l, attributes: { decrypt: true, sign: true, unwrap: true }, ...body }), `${body.algorithm} key`);
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l })).statusCode, 404, 'a refused key is not stored');
      return null;
    };
    const pubText = (json: Body) => opensslPublicKeyText(Buffer.from(json.publicKey as string, 'base64'));

    it('resolves every RSA size 1024..8192 in steps of 1024 (incl. 3072) and no other', async () => {
      const { rsa } = await import('../src/crypto/families/rsa.ts');
      assert.deepEqual([...RSA_SIZES], [1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192]);
      for (const s of RSA_SIZES) assert.equal(rsa.resolve({ keySize: s }).keySize, s);
      for (const s of [0, 1023, 1536, 2047, 9216, 16384]) assert.throws(() => rsa.resolve({ keySize: s }), (e: { code?: number }) => e.code === 603);
    });

    const rsaSizes = SLOW ? [...RSA_SIZES] : [1024, 2048, 3072, 4096, 5120];
    for (const size of rsaSizes) {
      it(`RSA ${size}`, async () => {
        const json = await create({ algorithm: 'RSA', keySize: size });
        check(json, { algorithm: 'RSA', algorithmOid: '1.2.840.113549.1.1.1', curveOid: null, keySize: size });
        const text = pubText(json);
        assert.match(text, new RegExp(`Public-Key: \\(${size} bit\\)`));
        assert.match(text, /Modulus:/);
        assert.match(text, /Exponent: 65537/);
      });
    }
    it('RSA 6144, 7168 and 8192 keygen (slow; run with WARDEN_SLOW_TESTS=1)', { skip: SLOW ? false : 'slow keygen: set WARDEN_SLOW_TESTS=1' }, () => {});

    const curves = EC_CURVES.filter((c) => c.nodeName !== null);
    it('offers every curve of the spec table that OpenSSL knows (all but frp256v1)', () => {
      assert.equal(curves.length, 14);
      assert.deepEqual(EC_CURVES.filter((c) => c.nodeName === null).map((c) => c.name), ['frp256v1']);
    });
    for (const curve of curves) {
      it(`EC ${curve.name} (${curve.oid})`, async () => {
        const json = await create({ algorithm: 'EC', curveOid: curve.oid });
        check(json, { algorithm: 'EC', algorithmOid: '1.2.840.10045.2.1', curveOid: curve.oid, keySize: null });
        const text = pubText(json);
        assert.match(text, new RegExp(`ASN1 OID: ${curve.nodeName}\\b`), text);
        assert.match(text, new RegExp(`Public-Key: \\(${curve.orderBits} bit\\)`));
      });
    }

    it('ED (Ed25519), with and without curveOid', async () => {
      for (const body of [{ algorithm: 'ED', curveOid: '1.3.101.112' }, { algorithm: 'ED' }]) {
        const json = await create(body);
        check(json, { algorithm: 'ED', algorithmOid: '1.3.101.112', curveOid: null, keySize: null });
        assert.match(pubText(json), /ED25519 Public-Key:/);
      }
    });

    for (const size of [1024, 2048, 3072]) {
      it(`DSA ${size}`, async () => {
        const json = await createOrRefused({ algorithm: 'DSA', keySize: size });
        if (!json) return;
        check(json, { algorithm: 'DSA', algorithmOid: '1.2.840.10040.4.1', curveOid: null, keySize: size });
        const text = pubText(json);
        assert.match(text, new RegExp(`Public-Key: \\(${size} bit\\)`));
        assert.match(text, /\nQ: /);
      });
    }

    const secret: Array<[string, number | undefined, number | null, string]> = [
      ['AES', 128, 128, '2.16.840.1.101.3.4.1'],
      ['AES', 192, 192, '2.16.840.1.101.3.4.1'],
      ['AES', 256, 256, '2.16.840.1.101.3.4.1'],
      ['ChaCha20', 256, 256, '1.2.840.113549.1.9.16.3.18'],
      ['ChaCha20', undefined, 256, '1.2.840.113549.1.9.16.3.18'],
      ['Camellia', 128, 128, '1.2.392.200011.61.1.1.1'],
      ['Camellia', 192, 192, '1.2.392.200011.61.1.1.1'],
      ['Camellia', 256, 256, '1.2.392.200011.61.1.1.1'],
      ['TDEA', undefined, 192, '1.2.840.113549.3.7'],
      ['TDEA', 0, 192, '1.2.840.113549.3.7'],
      ['HMACSHA256', undefined, 256, '1.2.840.113549.2.9'],
    ];
    for (const [algorithm, keySize, reported, oid] of secret) {
      it(`${algorithm} ${keySize ?? '(no keySize)'}`, async () => {
        const json = await createOrRefused(keySize === undefined ? { algorithm } : { algorithm, keySize });
        if (!json) return;
        check(json, { algorithm, algorithmOid: oid, curveOid: null, keySize: reported });
        assert.equal(json.publicKey, null);
      });
    }

    it('TDEA keys carry odd DES parity in every byte', async () => {
      const l = label('tdea-parity');
      const r = await w.call('POST', '/v1/key', { label: l, algorithm: 'TDEA', attributes: { decrypt: true, extractable: true, sensitive: false } });
      assert.equal(r.statusCode, 201, r.body);
      const exp = await w.call('POST', '/v1/key/export/plain', { label: l });
      const key = Buffer.from(exp.json().secretKey as string, 'base64');
      assert.equal(key.length, 24);
      for (const b of key) assert.equal([...b.toString(2)].filter((c) => c === '1').length % 2, 1);
    });
  });

  describe('GET /v1/key', () => {
    it('lists the labels, sorted, including the attestation key', async () => {
      const l = label('list');
      await createEc(l);
      const r = await w.call('GET', '/v1/key');
      assert.equal(r.statusCode, 200);
      const labels = r.json() as unknown as string[];
      assert.ok(Array.isArray(labels));
      assert.ok(labels.includes(l));
      assert.ok(labels.includes('attestation-key'));
      assert.deepEqual(labels, [...labels].sort());
    });

    it('tolerates Content-Type: application/json on a GET without a body (Go client)', async () => {
      const r = await w.app.inject({ method: 'GET', url: '/v1/key', headers: { 'x-api-key': 'test-km-key', 'content-type': 'application/json' } });
      assert.equal(r.statusCode, 200, r.body);
    });

    it('wrong role → 401/631, missing key → 401/416', async () => {
      assertError(await w.call('GET', '/v1/key', undefined, 'serviceToken'), 401, 631);
      assertError(await w.call('GET', '/v1/key', undefined, null), 401, 416);
    });
  });

  describe('POST /v1/key/attributes and GET /v1/key/{name}/attributes', () => {
    it('reads a key with its password given as a char array or as a string', async () => {
      const l = label('pw');
      await createEc(l, { password: ['s', 'e', 'c', 'r', 'e', 't'] });
      for (const password of [['s', 'e', 'c', 'r', 'e', 't'], 'secret']) {
        const r = await w.call('POST', '/v1/key/attributes', { label: l, password });
        assert.equal(r.statusCode, 200, r.body);
        assert.equal((r.json().json as Body).label, l);
      }
    });

    it('a key created with a string password opens with the char array', async () => {
      const l = label('pw-str');
      await createEc(l, { password: 'xyz' });
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l, password: ['x', 'y', 'z'] })).statusCode, 200);
    });

    it('wrong or missing password → 400/620', async () => {
      const l = label('pw-wrong');
      await createEc(l, { password: 'right' });
      assertError(await w.call('POST', '/v1/key/attributes', { label: l, password: 'wrong' }), 400, 620);
      assertError(await w.call('POST', '/v1/key/attributes', { label: l }), 400, 620);
      assertError(await w.call('POST', '/v1/key/attributes', { label: l, password: null }), 400, 620);
      assertError(await w.call('POST', '/v1/key/attributes', { label: l, password: [] }), 400, 620);
      assertError(await w.call('GET', `/v1/key/${l}/attributes`), 400, 620);
    });

    it('a key without password refuses a password → 400/620', async () => {
      const l = label('nopw');
      await createEc(l);
      assertError(await w.call('POST', '/v1/key/attributes', { label: l, password: 'x' }), 400, 620);
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l, password: '' })).statusCode, 200);
    });

    it('unknown key → 404/650', async () => {
      assertError(await w.call('POST', '/v1/key/attributes', { label: 'no-such-key' }), 404, 650);
      assertError(await w.call('GET', '/v1/key/no-such-key/attributes'), 404, 650);
    });

    it('GET form returns the same object (deprecated route)', async () => {
      const l = label('get-attr');
      const created = await createEc(l);
      const r = await w.call('GET', `/v1/key/${encodeURIComponent(l)}/attributes`);
      assert.equal(r.statusCode, 200, r.body);
      assert.equal((r.json().json as Body).publicKey, (created.json as Body).publicKey);
    });

    it('bad JSON 621, missing label 600, wrong role 631, missing key 416', async () => {
      assertError(await w.call('POST', '/v1/key/attributes', '{'), 400, 621);
      assertError(await w.call('POST', '/v1/key/attributes', {}), 400, 600);
      assertError(await w.call('POST', '/v1/key/attributes', { label: 7 }), 400, 600);
      assertError(await w.call('POST', '/v1/key/attributes', { label: 'x' }, 'keyOperationToken'), 401, 631);
      assertError(await w.call('POST', '/v1/key/attributes', { label: 'x' }, null), 401, 416);
      assertError(await w.call('GET', '/v1/key/x/attributes', undefined, 'serviceToken'), 401, 631);
      assertError(await w.call('GET', '/v1/key/x/attributes', undefined, null), 401, 416);
    });
  });

  describe('DELETE /v1/key/{name} and POST /v1/key/deleteKey', () => {
    it('deletes a destroyable key: 200 {} and the key is gone', async () => {
      const l = label('del');
      await createEc(l);
      const r = await w.call('DELETE', `/v1/key/${l}`);
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json(), {});
      assertError(await w.call('POST', '/v1/key/attributes', { label: l }), 404, 650);
      assertError(await w.call('DELETE', `/v1/key/${l}`), 404, 650);
    });

    it('deleteKey with the password as char array or string', async () => {
      for (const pw of [['a', 'b'], 'ab']) {
        const l = label('delpw');
        await createEc(l, { password: 'ab' });
        assertError(await w.call('POST', '/v1/key/deleteKey', { label: l, password: 'wrong' }), 400, 620);
        assertError(await w.call('POST', '/v1/key/deleteKey', { label: l }), 400, 620);
        assertError(await w.call('DELETE', `/v1/key/${l}`), 400, 620);
        const r = await w.call('POST', '/v1/key/deleteKey', { label: l, password: pw });
        assert.equal(r.statusCode, 200, r.body);
        assert.deepEqual(r.json(), {});
        assertError(await w.call('POST', '/v1/key/deleteKey', { label: l, password: pw }), 404, 650);
      }
    });

    it('a key that is not destroyable → 400/614 (both forms), still present', async () => {
      const l = label('keep');
      await createEc(l, { attributes: SIGN });
      assertError(await w.call('DELETE', `/v1/key/${l}`), 400, 614);
      assertError(await w.call('POST', '/v1/key/deleteKey', { label: l }), 400, 614);
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l })).statusCode, 200);
    });

    it('the attestation (system) key cannot be deleted → 400/614', async () => {
      assertError(await w.call('DELETE', '/v1/key/attestation-key'), 400, 614);
      assertError(await w.call('POST', '/v1/key/deleteKey', { label: 'attestation-key' }), 400, 614);
    });

    it('unknown key 650, bad JSON 621, wrong types 600, roles 631/416', async () => {
      assertError(await w.call('POST', '/v1/key/deleteKey', { label: 'nope' }), 404, 650);
      assertError(await w.call('POST', '/v1/key/deleteKey', '{"label":'), 400, 621);
      assertError(await w.call('POST', '/v1/key/deleteKey', { label: ['x'] }), 400, 600);
      assertError(await w.call('POST', '/v1/key/deleteKey', { label: 'x' }, 'keyOperationToken'), 401, 631);
      assertError(await w.call('POST', '/v1/key/deleteKey', { label: 'x' }, null), 401, 416);
      assertError(await w.call('DELETE', '/v1/key/x', undefined, 'serviceToken'), 401, 631);
      assertError(await w.call('DELETE', '/v1/key/x', undefined, null), 401, 416);
    });
  });

  describe('POST /v1/key/export/plain (and the deprecated GET form)', () => {
    it('exports an extractable, non-sensitive secret key', async () => {
      const l = label('exp-aes');
      await createAes(l, { decrypt: true, extractable: true, sensitive: false });
      const r = await w.call('POST', '/v1/key/export/plain', { label: l });
      assert.equal(r.statusCode, 200, r.body);
      const b = r.json();
      assert.deepEqual(Object.keys(b).sort(), ['privateKey', 'publicKey', 'secretKey']);
      assert.equal(b.privateKey, null);
      assert.equal(b.publicKey, null);
      assert.equal(Buffer.from(b.secretKey as string, 'base64').length, 32);
      const g = await w.call('GET', `/v1/key/${l}/export/plain`);
      assert.equal(g.statusCode, 200, g.body);
      assert.deepEqual(g.json(), b);
    });

    it('exports an extractable, non-sensitive private key as PKCS#8 + SPKI', async () => {
      const l = label('exp-ec');
      const c = await createEc(l, { attributes: { ...SIGN, extractable: true, sensitive: false }, password: ['p'] });
      const r = await w.call('POST', '/v1/key/export/plain', { label: l, password: ['p'] });
      assert.equal(r.statusCode, 200, r.body);
      const b = r.json();
      assert.equal(b.publicKey, (c.json as Body).publicKey);
      assert.equal(b.secretKey, null);
      const { createPrivateKey, createPublicKey } = await import('node:crypto');
      const priv = createPrivateKey({ key: Buffer.from(b.privateKey as string, 'base64'), format: 'der', type: 'pkcs8' });
      assert.equal(createPublicKey(priv).export({ type: 'spki', format: 'der' }).toString('base64'), b.publicKey);
      assert.equal((c.json as Body & { attributes: Body }).attributes.neverExtractable, false);
      assert.equal((c.json as Body & { attributes: Body }).attributes.alwaysSensitive, false);
      assertError(await w.call('POST', '/v1/key/export/plain', { label: l, password: 'q' }), 400, 620);
      assertError(await w.call('GET', `/v1/key/${l}/export/plain`), 400, 620);
    });

    it('not extractable → 400/614; sensitive → 400/614; the system key → 400/614', async () => {
      const a = label('noexp');
      await createAes(a, { decrypt: true, sensitive: false });
      assertError(await w.call('POST', '/v1/key/export/plain', { label: a }), 400, 614);
      assertError(await w.call('GET', `/v1/key/${a}/export/plain`), 400, 614);
      const b = label('sens');
      await createAes(b, { decrypt: true, extractable: true });
      assertError(await w.call('POST', '/v1/key/export/plain', { label: b }), 400, 614);
      const c = label('sens2');
      await createAes(c, { decrypt: true, extractable: true, sensitive: true });
      assertError(await w.call('POST', '/v1/key/export/plain', { label: c }), 400, 614);
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 'attestation-key' }), 400, 614);
    });

    it('unknown 650, bad JSON 621, wrong types 600, roles 631/416', async () => {
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 'nope' }), 404, 650);
      assertError(await w.call('GET', '/v1/key/nope/export/plain'), 404, 650);
      assertError(await w.call('POST', '/v1/key/export/plain', 'x'), 400, 621);
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 'x', password: {} }), 400, 600);
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 'x' }, 'keyOperationToken'), 401, 631);
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 'x' }, null), 401, 416);
    });
  });

  describe('POST /v1/key/changePassword', () => {
    it('sets, changes and removes a password; the old one is needed each time', async () => {
      const l = label('chpw');
      await createEc(l);
      // set: no old password
      let r = await w.call('POST', '/v1/key/changePassword', { label: l, newPassword: ['o', 'n', 'e'] });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json(), {});
      assertError(await w.call('POST', '/v1/key/attributes', { label: l }), 400, 620);
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l, password: 'one' })).statusCode, 200);
      // change: the old password is required and must match
      assertError(await w.call('POST', '/v1/key/changePassword', { label: l, newPassword: 'two' }), 400, 620);
      assertError(await w.call('POST', '/v1/key/changePassword', { label: l, password: 'bad', newPassword: 'two' }), 400, 620);
      r = await w.call('POST', '/v1/key/changePassword', { label: l, password: 'one', newPassword: 'two' });
      assert.equal(r.statusCode, 200, r.body);
      assertError(await w.call('POST', '/v1/key/attributes', { label: l, password: 'one' }), 400, 620);
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l, password: ['t', 'w', 'o'] })).statusCode, 200);
      // remove: empty newPassword (or none)
      r = await w.call('POST', '/v1/key/changePassword', { label: l, password: ['t', 'w', 'o'], newPassword: [] });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l })).statusCode, 200);
    });

    it('a key that is not modifiable → 400/614 (password unchanged)', async () => {
      const l = label('nomod');
      await createEc(l, { attributes: { ...SIGN, modifiable: false }, password: 'pw' });
      assertError(await w.call('POST', '/v1/key/changePassword', { label: l, password: 'pw', newPassword: 'new' }), 400, 614);
      assert.equal((await w.call('POST', '/v1/key/attributes', { label: l, password: 'pw' })).statusCode, 200);
      // the password check comes first: a wrong old password is 620 even on a non-modifiable key
      assertError(await w.call('POST', '/v1/key/changePassword', { label: l, password: 'x', newPassword: 'new' }), 400, 620);
    });

    it('the system key → 400/614; unknown → 404/650; bad JSON 621; types 600; roles 631/416', async () => {
      assertError(await w.call('POST', '/v1/key/changePassword', { label: 'attestation-key', newPassword: 'x' }), 400, 614);
      assertError(await w.call('POST', '/v1/key/changePassword', { label: 'nope', newPassword: 'x' }), 404, 650);
      assertError(await w.call('POST', '/v1/key/changePassword', '{"label":"x"'), 400, 621);
      assertError(await w.call('POST', '/v1/key/changePassword', { label: 'x', newPassword: 42 }), 400, 600);
      assertError(await w.call('POST', '/v1/key/changePassword', { newPassword: 'x' }), 400, 600);
      assertError(await w.call('POST', '/v1/key/changePassword', { label: 'x' }, 'serviceToken'), 401, 631);
      assertError(await w.call('POST', '/v1/key/changePassword', { label: 'x' }, null), 401, 416);
    });
  });

  describe('nothing answers 500 (except deliberate 7xx)', () => {
    const routes: Array<[string, string]> = [
      ['POST', '/v1/key'],
      ['POST', '/v1/key/attributes'],
      ['POST', '/v1/key/deleteKey'],
      ['POST', '/v1/key/export/plain'],
      ['POST', '/v1/key/import/plain'],
      ['POST', '/v1/key/changePassword'],
      ['POST', '/v1/key/keyAttestation'],
      ['POST', '/v1/attestation/key'],
      ['POST', '/v1/dataObject'],
    ];
    const long = 'x'.repeat(5000);
    const garbage: Array<string> = [
      '', ' ', 'null', 'true', '0', '-1', '"str"', '[]', '[{}]', '{}', '{', '}', '{"a":}', '\u0000', '\uFFFF', '{"label":null}',
      '{"label":{}}', '{"label":[]}', '{"label":""}', `{"label":"${long}"}`, '{"label":"x","password":[1,2]}', '{"label":"x","password":{}}',
      '{"label":"x","password":["ab","c"]}', '{"label":"x","algorithm":null}', '{"label":"x","algorithm":"AES","attributes":null}',
      '{"label":"x","algorithm":"AES","keySize":1e309,"attributes":{"decrypt":true}}', '{"label":"x","algorithm":"EC","curveOid":"","attributes":{"sign":true}}',
      '{"label":"x","algorithm":"RSA","keySize":99999999999,"attributes":{"sign":true}}', '{"__proto__":{"label":"x"}}',
      '{"constructor":{"prototype":{"x":1}},"label":"y"}', '{"label":"x","privateKey":"!!!","algorithm":"RSA","attributes":{"sign":true}}',
      '{"label":"x","algorithm":"EC","privateKey":"AAAA","attributes":{"sign":true}}', '{"label":"x","algorithm":"AES","secretKey":"AAAA====","attributes":{"decrypt":true}}',
      '{"label":"x","algorithm":"RSA","certificate":"MIIB","attributes":{"sign":true}}', '{"name":"x","value":"@@"}', '{"name":null,"value":null}',
      '{"name":"x","value":"aGk=","attributes":"yes"}', '[' .repeat(2000) + ']'.repeat(2000), '{"a":'.repeat(500) + '1' + '}'.repeat(500),
      '{"label":"\\ud800"}', '{"label":"a","label":"b","attributes":{}}',
    ];

    for (const [method, url] of routes) {
      it(`${method} ${url}: a table of garbage bodies gets 4xx with an error body`, async () => {
        for (const payload of garbage) {
          const r = await w.app.inject({ method: method as 'POST', url, headers: { 'x-api-key': 'test-km-key', 'content-type': 'application/json' }, payload });
          assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${url} ${JSON.stringify(payload.slice(0, 60))} → ${r.statusCode} ${r.body.slice(0, 200)}`);
          const b = r.json() as Body;
          assert.equal(typeof b.errorCode, 'number', r.body);
          assert.equal(typeof b.reason, 'string');
        }
      });
    }

    it('path-parameter routes with odd names', async () => {
      const names = ['%00', '%2F', '..', '%E2%82%AC', 'a%20b', 'x'.repeat(1024), '%ZZ', '%'];
      for (const name of names) {
        for (const [method, url] of [['GET', `/v1/key/${name}/attributes`], ['DELETE', `/v1/key/${name}`], ['GET', `/v1/key/${name}/export/plain`], ['GET', `/v1/dataObject/${name}`], ['DELETE', `/v1/dataObject/${name}`]]) {
          const r = await w.app.inject({ method: method as 'GET', url, headers: { 'x-api-key': 'test-km-key' } });
          assert.ok(r.statusCode >= 400 && r.statusCode < 500, `${method} ${url.slice(0, 60)} → ${r.statusCode} ${r.body.slice(0, 200)}`);
          assert.equal(typeof (r.json() as Body).errorCode, 'number', r.body);
        }
      }
    });

    it('random JSON values (fast-check, fixed seed) never produce a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...routes), fc.jsonValue({ maxDepth: 3 }), async ([method, url], value) => {
          const r = await w.app.inject({ method: method as 'POST', url, headers: { 'x-api-key': 'test-km-key', 'content-type': 'application/json' }, payload: JSON.stringify(value) });
          return r.statusCode < 500 && typeof (r.json() as Body).errorCode === 'number';
        }),
        { seed: 20261128, numRuns: 300 },
      );
    });

    it('random objects shaped like the real bodies never produce a 5xx', async () => {
      const anyField = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string({ maxLength: 2 }), { maxLength: 4 }), fc.dictionary(fc.string(), fc.boolean()));
      const body = fc.record(
        {
          label: anyField, name: anyField, value: anyField, algorithm: fc.oneof(fc.constantFrom('RSA', 'EC', 'ED', 'DSA', 'AES', 'TDEA', 'ChaCha20'), anyField),
          keySize: fc.oneof(fc.constantFrom(128, 256, 1024, 2048), fc.integer()), curveOid: fc.oneof(fc.constantFrom(P256, '1.3.101.112'), anyField),
          password: anyField, newPassword: anyField, attributes: fc.oneof(fc.constant({ sign: true, decrypt: true }), anyField),
          privateKey: anyField, publicKey: anyField, secretKey: fc.oneof(fc.constant('AAECAwQFBgcICQoLDA0ODw=='), anyField), certificate: anyField,
        },
        { requiredKeys: [] },
      );
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...routes), body, async ([method, url], value) => {
          const r = await w.app.inject({ method: method as 'POST', url, headers: { 'x-api-key': 'test-km-key', 'content-type': 'application/json' }, payload: JSON.stringify(value) });
          if (r.statusCode >= 500) throw new Error(`${url} ${JSON.stringify(value)} → ${r.statusCode} ${r.body}`);
          return true;
        }),
        { seed: 4242, numRuns: 300 },
      );
    });
  });
});
