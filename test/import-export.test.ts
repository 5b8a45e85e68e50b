// Plain import and export (spec §3.5, §3.6): keys made by the openssl CLI round-trip byte-for-byte,
// certificates and lone public keys import, the overwrite rule holds, imported keys never claim
// alwaysSensitive/neverExtractable, and every malformed import gets its exact error code. On the
// PKCS#11 keystore the same, DSA refused (611), and private material of a token key never leaves it.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pkcs11js from 'pkcs11js';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { openssl, workDir } from './helpers/core-tools.ts';
import { ON_TOKEN, refused } from './helpers/keystore-under-test.ts';
import { softhsm, tokenOf } from './helpers/softhsm.ts';

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

const dir = workDir('warden-import-');
let seq = 0;

/** Runs openssl and returns the bytes of the file it wrote. */
function ossl(args: string[], out: string): Buffer {
  const r = openssl(args, { cwd: dir });
  assert.equal(r.status, 0, `openssl ${args.join(' ')}: ${r.stderr}`);
  return readFileSync(path.join(dir, out));
}

/** A fresh private key from `openssl genpkey`: PKCS#8 DER, SPKI DER (via openssl pkey) and PEM. */
function genKey(kind: 'RSA' | 'EC' | 'ED' | 'DSA' | 'EC-K1', bits = 2048): { pkcs8: Buffer; spki: Buffer; pem: string; file: string } {
  const name = `k${++seq}`;
  const file = `${name}.pem`;
  if (kind === 'RSA') ossl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`, '-out', file], file);
  if (kind === 'EC') ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-pkeyopt', 'ec_param_enc:named_curve', '-out', file], file);
  if (kind === 'EC-K1') ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:secp256k1', '-out', file], file);
  if (kind === 'ED') ossl(['genpkey', '-algorithm', 'ED25519', '-out', file], file);
  if (kind === 'DSA') {
    ossl(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', `dsa_paramgen_bits:${bits}`, '-out', `${name}.param`], `${name}.param`);
    ossl(['genpkey', '-paramfile', `${name}.param`, '-out', file], file);
  }
  const pkcs8 = ossl(['pkcs8', '-topk8', '-nocrypt', '-in', file, '-outform', 'DER', '-out', `${name}.p8`], `${name}.p8`);
  const spki = ossl(['pkey', '-in', file, '-pubout', '-outform', 'DER', '-out', `${name}.spki`], `${name}.spki`);
  return { pkcs8, spki, pem: readFileSync(path.join(dir, file), 'utf8'), file };
}

function selfSigned(keyFile: string): Buffer {
  const name = `c${++seq}`;
  return ossl(['req', '-x509', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-days', '2', '-outform', 'DER', '-out', `${name}.der`], `${name}.der`);
}

const b64 = (b: Buffer) => b.toString('base64');
const EXPORTABLE = { sign: true, decrypt: false, unwrap: false, extractable: true, sensitive: false, destroyable: true };

describe('plain import and export', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  const importOk = async (body: Body, status = 201) => {
    const r = await w.call('POST', '/v1/key/import/plain', body);
    assert.equal(r.statusCode, status, r.body);
    return r.json().json as Body & { attributes: Body };
  };

  describe('PKCS#8 round trip through /v1/key/export/plain, byte for byte', () => {
    const cases: Array<[string, () => ReturnType<typeof genKey>, Body]> = [
      ['RSA 2048', () => genKey('RSA', 2048), { algorithm: 'RSA', keySize: 2048, algorithmOid: '1.2.840.113549.1.1.1', curveOid: null }],
      ['RSA 1024', () => genKey('RSA', 1024), { algorithm: 'RSA', keySize: 1024, algorithmOid: '1.2.840.113549.1.1.1', curveOid: null }],
      ['EC P-256', () => genKey('EC'), { algorithm: 'EC', keySize: null, algorithmOid: '1.2.840.10045.2.1', curveOid: '1.2.840.10045.3.1.7' }],
      ['EC secp256k1', () => genKey('EC-K1'), { algorithm: 'EC', keySize: null, algorithmOid: '1.2.840.10045.2.1', curveOid: '1.3.132.0.10' }],
      ['ED25519', () => genKey('ED'), { algorithm: 'ED', keySize: null, algorithmOid: '1.3.101.112', curveOid: null }],
      ['DSA 1024', () => genKey('DSA', 1024), { algorithm: 'DSA', keySize: 1024, algorithmOid: '1.2.840.10040.4.1', curveOid: null }],
      ['DSA 2048', () => genKey('DSA', 2048), { algorithm: 'DSA', keySize: 2048, algorithmOid: '1.2.840.10040.4.1', curveOid: null }],
    ];
    for (const [name, gen, want] of cases) {
      it(name, async () => {
        const k = gen();
        const label = `rt-${name.replace(/\W/g, '')}`;
        const imported = await w.call('POST', '/v1/key/import/plain', { label, algorithm: want.algorithm, privateKey: b64(k.pkcs8), publicKey: b64(k.spki), attributes: EXPORTABLE, password: ['p', 'w'] });
        if (refused(imported, { key: want.algorithm as string }, name)) {
          assertError(await w.call('POST', '/v1/key/export/plain', { label, password: 'pw' }), 404, 650);
          return;
        }
        assert.equal(imported.statusCode, 201, imported.body);
        const json = imported.json().json as Body;
        for (const f of ['algorithm', 'keySize', 'algorithmOid', 'curveOid'] as const) assert.equal(json[f], want[f], f);
        assert.equal(json.publicKey, b64(k.spki));
        const r = await w.call('POST', '/v1/key/export/plain', { label, password: 'pw' });
        assert.equal(r.statusCode, 200, r.body);
        const e = r.json();
        assert.ok(Buffer.from(e.privateKey as string, 'base64').equals(k.pkcs8), 'exported PKCS#8 differs from the imported one');
        assert.ok(Buffer.from(e.publicKey as string, 'base64').equals(k.spki), 'exported SPKI differs from openssl pkey -pubout');
        assert.equal(e.secretKey, null);
      });
    }

    it('AES 128/192/256 secret keys', async () => {
      for (const bytes of [16, 24, 32]) {
        const secret = Buffer.alloc(bytes, 0).map((_, i) => (i * 37 + bytes) & 0xff);
        const label = `rt-aes-${bytes}`;
        const json = await importOk({ label, algorithm: 'AES', secretKey: b64(Buffer.from(secret)), attributes: { decrypt: true, extractable: true, sensitive: false } });
        assert.equal(json.keySize, bytes * 8);
        assert.equal(json.algorithmOid, '2.16.840.1.101.3.4.1');
        assert.equal(json.publicKey, null);
        const e = (await w.call('POST', '/v1/key/export/plain', { label })).json();
        assert.deepEqual(e, { privateKey: null, publicKey: null, secretKey: b64(Buffer.from(secret)) });
      }
    });

    it('a private key alone (no publicKey) imports; the public part is derived', async () => {
      const k = genKey('EC');
      const json = await importOk({ label: 'alone-ec', algorithm: 'EC', privateKey: b64(k.pkcs8), attributes: EXPORTABLE });
      assert.equal(json.publicKey, b64(k.spki));
    });

    it('PEM armor is tolerated; RSA PKCS#1 and EC SEC1 DER are accepted and exported as PKCS#8', async () => {
      const rsa = genKey('RSA', 1024);
      await importOk({ label: 'pem-rsa', algorithm: 'RSA', privateKey: rsa.pem, attributes: EXPORTABLE });
      let e = (await w.call('POST', '/v1/key/export/plain', { label: 'pem-rsa' })).json();
      assert.equal(e.privateKey, b64(rsa.pkcs8));

      const pkcs1 = ossl(['rsa', '-in', rsa.file, '-traditional', '-outform', 'DER', '-out', 'pkcs1.der'], 'pkcs1.der');
      await importOk({ label: 'pkcs1-rsa', algorithm: 'RSA', privateKey: b64(pkcs1), attributes: EXPORTABLE });
      e = (await w.call('POST', '/v1/key/export/plain', { label: 'pkcs1-rsa' })).json();
      assert.equal(e.privateKey, b64(rsa.pkcs8));

      const ec = genKey('EC');
      const sec1 = ossl(['ec', '-in', ec.file, '-outform', 'DER', '-out', 'sec1.der'], 'sec1.der');
      await importOk({ label: 'sec1-ec', algorithm: 'EC', privateKey: b64(sec1), attributes: EXPORTABLE });
      e = (await w.call('POST', '/v1/key/export/plain', { label: 'sec1-ec' })).json();
      assert.equal(e.privateKey, b64(ec.pkcs8));
    });
  });

  describe('imported keys', () => {
    it('report alwaysSensitive=false and neverExtractable=false even when sensitive and not extractable', async () => {
      const k = genKey('EC');
      const json = await importOk({ label: 'imp-flags', algorithm: 'EC', privateKey: b64(k.pkcs8), attributes: { sign: true, decrypt: false, unwrap: false } });
      assert.equal(json.attributes.sensitive, true);
      assert.equal(json.attributes.extractable, false);
      assert.equal(json.attributes.alwaysSensitive, false);
      assert.equal(json.attributes.neverExtractable, false);
      const aes = await importOk({ label: 'imp-flags-aes', algorithm: 'AES', secretKey: b64(Buffer.alloc(16, 7)), attributes: { decrypt: true } });
      assert.equal(aes.attributes.alwaysSensitive, false);
      assert.equal(aes.attributes.neverExtractable, false);
      // … and their attestation says creation="imported"
      const att = (await w.call('POST', '/v1/key/attributes', { label: 'imp-flags' })).json();
      assert.match(att.xml as string, /creation="imported"/);
      // not extractable → export refused
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 'imp-flags' }), 400, 614);
    });

    it('keep the password given at import (char array or string)', async () => {
      const k = genKey('ED');
      await importOk({ label: 'imp-pw', algorithm: 'ED', privateKey: b64(k.pkcs8), attributes: EXPORTABLE, password: 'secret' });
      assertError(await w.call('POST', '/v1/key/export/plain', { label: 'imp-pw' }), 400, 620);
      assert.equal((await w.call('POST', '/v1/key/export/plain', { label: 'imp-pw', password: [...'secret'] })).statusCode, 200);
    });
  });

  describe('certificates and public keys', () => {
    it('imports a certificate alone: a public key with the certificate attached', async () => {
      const k = genKey('EC');
      const cert = selfSigned(k.file);
      const json = await importOk({ label: 'cert-only', algorithm: 'EC', certificate: b64(cert) });
      assert.equal(json.publicKey, b64(k.spki));
      assert.equal(json.curveOid, '1.2.840.10045.3.1.7');
      assert.equal(json.attributes.sign, false);
      assert.equal(json.attributes.decrypt, false);
      const e = (await w.call('POST', '/v1/key/export/plain', { label: 'cert-only' })).json();
      assert.deepEqual(e, { privateKey: null, publicKey: b64(k.spki), secretKey: null });
      const stats = (await w.call('GET', '/v1/keystore/statistics', undefined, 'serviceToken')).json();
      assert.match(stats.keyStoreStatistics as string, /certificates [1-9]/);
    });

    it('imports a certificate in PEM form', async () => {
      const k = genKey('RSA', 1024);
      const der = selfSigned(k.file);
      const pem = `-----BEGIN CERTIFICATE-----\n${b64(der).replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
      const json = await importOk({ label: 'cert-pem', algorithm: 'RSA', certificate: pem });
      assert.equal(json.publicKey, b64(k.spki));
    });

    it('imports a private key with its certificate; a certificate of another key → 400/625', async () => {
      const k = genKey('EC');
      const json = await importOk({ label: 'priv-cert', algorithm: 'EC', privateKey: b64(k.pkcs8), certificate: b64(selfSigned(k.file)), attributes: EXPORTABLE });
      assert.equal(json.publicKey, b64(k.spki));
      const other = genKey('EC');
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'priv-cert-2', algorithm: 'EC', privateKey: b64(k.pkcs8), certificate: b64(selfSigned(other.file)), attributes: EXPORTABLE }), 400, 625);
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'priv-pub-2', algorithm: 'EC', privateKey: b64(k.pkcs8), publicKey: b64(other.spki), attributes: EXPORTABLE }), 400, 625);
    });

    it('imports a lone public key without attributes; export gives it back', async () => {
      for (const kind of ['RSA', 'EC', 'ED', 'DSA'] as const) {
        const k = genKey(kind, 1024);
        const label = `pub-${kind}`;
        const json = await importOk({ label, algorithm: kind, publicKey: b64(k.spki) });
        assert.equal(json.publicKey, b64(k.spki));
        assert.equal(json.attributes.extractable, true);
        assert.equal(json.attributes.sensitive, false);
        assert.equal(json.attributes.alwaysSensitive, false);
        assert.equal(json.attributes.neverExtractable, false);
        const e = (await w.call('POST', '/v1/key/export/plain', { label })).json();
        assert.deepEqual(e, { privateKey: null, publicKey: b64(k.spki), secretKey: null });
      }
    });

    it('overwrite rule (§3.6): a public key/certificate replaces the public part of a public-only key (200)', async () => {
      const a = genKey('EC');
      const b = genKey('EC');
      await importOk({ label: 'ow', algorithm: 'EC', publicKey: b64(a.spki), attributes: { verify: true, destroyable: true } });
      const replaced = await importOk({ label: 'ow', algorithm: 'EC', publicKey: b64(b.spki) }, 200);
      assert.equal(replaced.publicKey, b64(b.spki));
      assert.equal(replaced.attributes.destroyable, true, 'the attributes of the existing key are kept');
      const read = (await w.call('POST', '/v1/key/attributes', { label: 'ow' })).json().json as Body;
      assert.equal(read.publicKey, b64(b.spki));
      const viaCert = await importOk({ label: 'ow', algorithm: 'EC', certificate: b64(selfSigned(a.file)) }, 200);
      assert.equal(viaCert.publicKey, b64(a.spki));
    });

    it('overwrite rule: never onto a private/secret key, never a private key onto anything (608); another algorithm → 613', async () => {
      const k = genKey('EC');
      await importOk({ label: 'ow-priv', algorithm: 'EC', privateKey: b64(k.pkcs8), attributes: EXPORTABLE });
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'ow-priv', algorithm: 'EC', publicKey: b64(genKey('EC').spki) }), 400, 608);
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'ow-priv', algorithm: 'EC', privateKey: b64(k.pkcs8), attributes: EXPORTABLE }), 400, 608);
      // the private key is untouched
      const e = (await w.call('POST', '/v1/key/export/plain', { label: 'ow-priv' })).json();
      assert.equal(e.privateKey, b64(k.pkcs8));

      await importOk({ label: 'ow-pub', algorithm: 'EC', publicKey: b64(genKey('EC').spki) });
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'ow-pub', algorithm: 'EC', privateKey: b64(k.pkcs8), attributes: EXPORTABLE }), 400, 608);
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'ow-pub', algorithm: 'ED', publicKey: b64(genKey('ED').spki) }), 400, 613);
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'attestation-key', algorithm: 'RSA', publicKey: b64(genKey('RSA', 1024).spki) }), 400, 608);
      await importOk({ label: 'ow-aes', algorithm: 'AES', secretKey: b64(Buffer.alloc(16, 1)), attributes: { decrypt: true } });
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'ow-aes', algorithm: 'AES', secretKey: b64(Buffer.alloc(16, 2)), attributes: { decrypt: true } }), 400, 608);
    });
  });

  describe('malformed imports', () => {
    const ec = genKey('EC');
    const cases: Array<[string, Body, number, number]> = [
      ['symmetric key with a privateKey', { algorithm: 'AES', privateKey: b64(ec.pkcs8), attributes: { decrypt: true } }, 400, 600],
      ['symmetric key with a publicKey', { algorithm: 'AES', publicKey: b64(ec.spki), attributes: { decrypt: true } }, 400, 600],
      ['asymmetric key with a secretKey', { algorithm: 'EC', privateKey: b64(ec.pkcs8), secretKey: 'AAAAAAAAAAAAAAAAAAAAAA==', attributes: EXPORTABLE }, 400, 600],
      ['certificate and publicKey together', { algorithm: 'EC', publicKey: b64(ec.spki), certificate: 'MIIB' }, 400, 600],
      ['no key material', { algorithm: 'EC', attributes: EXPORTABLE }, 400, 600],
      ['no secret for AES', { algorithm: 'AES', attributes: { decrypt: true } }, 400, 600],
      ['private key without attributes', { algorithm: 'EC', privateKey: b64(ec.pkcs8) }, 400, 600],
      ['attributes of the wrong type', { algorithm: 'EC', privateKey: b64(ec.pkcs8), attributes: [] }, 400, 600],
      ['privateKey not Base64', { algorithm: 'EC', privateKey: 'not base64!', attributes: EXPORTABLE }, 400, 625],
      ['secretKey with embedded newline', { algorithm: 'AES', secretKey: 'AAAAAAAA\nAAAAAAAAAAAAAA==', attributes: { decrypt: true } }, 400, 625],
      ['privateKey not a key', { algorithm: 'EC', privateKey: 'AAECAwQ=', attributes: EXPORTABLE }, 400, 407],
      ['publicKey not an SPKI', { algorithm: 'EC', publicKey: 'AAECAwQ=' }, 400, 407],
      ['EC private key sent as RSA', { algorithm: 'RSA', privateKey: b64(ec.pkcs8), attributes: EXPORTABLE }, 400, 613],
      ['EC public key sent as ED', { algorithm: 'ED', publicKey: b64(ec.spki) }, 400, 613],
      ['AES key of 10 bytes', { algorithm: 'AES', secretKey: b64(Buffer.alloc(10)), attributes: { decrypt: true } }, 400, 603],
      ['TDEA key of 16 bytes', { algorithm: 'TDEA', secretKey: b64(Buffer.alloc(16)), attributes: { decrypt: true } }, 400, 603],
      ['certificate garbage', { algorithm: 'EC', certificate: 'AAECAwQ=' }, 400, 626],
      ['certificate not Base64', { algorithm: 'EC', certificate: '%%%' }, 400, 626],
      ['unknown algorithm', { algorithm: 'XYZ', secretKey: 'AAAAAAAAAAAAAAAAAAAAAA==', attributes: { decrypt: true } }, 400, 501],
      ['missing algorithm', { secretKey: 'AAAAAAAAAAAAAAAAAAAAAA==', attributes: { decrypt: true } }, 400, 600],
      ['wrongly typed privateKey', { algorithm: 'EC', privateKey: 5, attributes: EXPORTABLE }, 400, 600],
      ['policy on a symmetric key (SKA keys are asymmetric)', { algorithm: 'AES', secretKey: 'AAAAAAAAAAAAAAAAAAAAAA==', attributes: { decrypt: true }, policy: { ruleUse: null } }, 400, 606],
      ['label with a slash', { label: 'a/b', algorithm: 'AES', secretKey: 'AAAAAAAAAAAAAAAAAAAAAA==', attributes: { decrypt: true } }, 400, 610],
    ];
    for (const [name, body, status, code] of cases) {
      it(`${name} → ${status}/${code}`, async () => {
        assertError(await w.call('POST', '/v1/key/import/plain', { label: 'bad-import', ...body }), status, code);
      });
    }

    it('RSA 512 (below 1024) → 400/603', async () => {
      const k = genKey('RSA', 512);
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'rsa512', algorithm: 'RSA', privateKey: b64(k.pkcs8), attributes: EXPORTABLE }), 400, 603);
    });

    it('EC key on a curve outside the spec table (P-192) → 400/600', async () => {
      ossl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-192', '-out', 'p192.pem'], 'p192.pem');
      const der = ossl(['pkcs8', '-topk8', '-nocrypt', '-in', 'p192.pem', '-outform', 'DER', '-out', 'p192.p8'], 'p192.p8');
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'p192', algorithm: 'EC', privateKey: b64(der), attributes: EXPORTABLE }), 400, 600);
    });

    it('nothing was stored by the failed imports', async () => {
      const labels = (await w.call('GET', '/v1/key')).json() as unknown as string[];
      for (const l of ['bad-import', 'rsa512', 'p192', 'priv-cert-2', 'priv-pub-2']) assert.ok(!labels.includes(l), l);
    });

    it('bad JSON 621, wrong role 631, missing key 416', async () => {
      assertError(await w.call('POST', '/v1/key/import/plain', '{"label":"x", }'), 400, 621);
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'x', algorithm: 'AES', secretKey: 'AAAAAAAAAAAAAAAAAAAAAA==' }, 'keyOperationToken'), 401, 631);
      assertError(await w.call('POST', '/v1/key/import/plain', { label: 'x', algorithm: 'AES', secretKey: 'AAAAAAAAAAAAAAAAAAAAAA==' }, null), 401, 416);
    });
  });
  describe('private material of a non-extractable key never leaves the keystore', () => {
    const k = genKey('EC');
    const d = () => {
      // The private scalar as the tests know it (imported): no response may contain it in any encoding.
      const jwk = createPrivateKey({ key: k.pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }) as { d: string };
      const raw = Buffer.from(jwk.d, 'base64url');
      return [b64(k.pkcs8), raw.toString('base64'), raw.toString('hex'), raw.toString('hex').toUpperCase(), jwk.d];
    };
    const replies: Reply[] = [];
    const call = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
      const r = await w.call(method, url, body);
      replies.push(r);
      return r;
    };

    it('export of an imported and of a generated non-extractable key → 400/614', async () => {
      const imp = await call('POST', '/v1/key/import/plain', { label: 'nx-imported', algorithm: 'EC', privateKey: b64(k.pkcs8), attributes: { sign: true, extractable: false } });
      assert.equal(imp.statusCode, 201, imp.body);
      const gen = await call('POST', '/v1/key', { label: 'nx-generated', algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true, extractable: false } });
      assert.equal(gen.statusCode, 201, gen.body);
      for (const label of ['nx-imported', 'nx-generated']) {
        assertError(await call('POST', '/v1/key/export/plain', { label }), 400, 614);
        // A sensitive but extractable key is not exported in plain either.
      }
      await call('POST', '/v1/key/attributes', { label: 'nx-imported' });
      await call('GET', '/v1/key');
      const sig = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(Buffer.from('x')), payloadType: 'UNSPECIFIED', signKeyName: 'nx-imported', signatureAlgorithm: 'SHA256_WITH_ECDSA', signatureType: 'DER' } }, 'keyOperationToken');
      assert.equal(sig.statusCode, 200, sig.body);
      replies.push(sig);
    });

    it('no response carried the private key (PKCS#8, scalar in Base64 or hex)', () => {
      assert.ok(replies.length >= 6);
      for (const r of replies) for (const secret of d()) assert.ok(!r.body.includes(secret), `a response contains private material: ${r.body.slice(0, 200)}`);
    });

    it('on the token: the objects are sensitive and not extractable, CKA_VALUE is refused by the token itself', { skip: !ON_TOKEN && 'PKCS#11 keystore only' }, () => {
      const token = tokenOf(w.dataDir);
      assert.ok(token, 'the runtime has a token');
      const p = softhsm();
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.label) as Buffer;
      const session = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        for (const label of ['nx-imported', 'nx-generated']) {
          p.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: label }]);
          const found = p.C_FindObjects(session, 2);
          p.C_FindObjectsFinal(session);
          assert.equal(found.length, 1, `one private key object labelled ${label}`);
          const [sensitive, extractable] = p.C_GetAttributeValue(session, found[0] as Buffer, [{ type: pkcs11js.CKA_SENSITIVE }, { type: pkcs11js.CKA_EXTRACTABLE }]);
          assert.equal((sensitive?.value as Buffer)[0], 1, `${label} CKA_SENSITIVE`);
          assert.equal((extractable?.value as Buffer)[0], 0, `${label} CKA_EXTRACTABLE`);
          assert.throws(() => p.C_GetAttributeValue(session, found[0] as Buffer, [{ type: pkcs11js.CKA_VALUE }]), /CKR_ATTRIBUTE_SENSITIVE/);
        }
      } finally {
        p.C_CloseSession(session);
      }
    });
  });
});
