// Stateful hash-based keys through the HTTP API (issue 5 §2): LMS (HSS, L = 1) and XMSS create →
// attributes (remainingSignatures) → sign → verify; every signature carries a fresh index, 50 concurrent
// requests never share one, an exhausted key answers 614, the index survives a restart; stateful keys
// never leave the keystore (export, wrap) and their private keys cannot be imported; a tampered state
// fails the integrity check (701).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hssSignatureIndex, hssVerify } from '../src/crypto/pqc/lms.ts';
import { decodeSpki } from '../src/crypto/pqc/asn1.ts';
import { xmssSignatureIndex, xmssVerify } from '../src/crypto/pqc/xmss.ts';
import { fastDataDir } from './helpers/signature-keys.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const SIGN = { sign: true, decrypt: false, unwrap: false, destroyable: true, extractable: true, sensitive: false };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
let w: TestWarden;
let dataDir: string | undefined;

before(async () => {
  dataDir = fastDataDir();
  w = await startTestWarden({ dataDir });
});
after(async () => {
  await w.close();
});

async function sign(label: string, alg: string, msg: Buffer) {
  return w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: label, signatureAlgorithm: alg } }, 'keyOperationToken');
}
async function remaining(label: string): Promise<number> {
  const r = await w.call('POST', '/v1/key/attributes', { label });
  assert.equal(r.statusCode, 200, r.body);
  return r.json().json.remainingSignatures;
}

describe('LMS (HSS-LMS)', () => {
  it('keySize 5 = the TSB sample key: 32 signatures of 8688 bytes, indices 0..31, then 614 exhausted', async () => {
    const r = await w.call('POST', '/v1/key', { label: 'lms5', algorithm: 'LMS', keySize: 5, attributes: SIGN });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().json.algorithm, 'HSS-LMS');
    assert.equal(r.json().json.algorithmOid, '1.2.840.113549.1.9.16.3.17');
    assert.equal(r.json().json.keySize, 5);
    assert.equal(r.json().json.remainingSignatures, 32, 'reported on create too');
    const pk = decodeSpki(Buffer.from(r.json().json.publicKey, 'base64')).raw;
    assert.equal(await remaining('lms5'), 32);
    const seen: number[] = [];
    for (let i = 0; i < 32; i++) {
      const msg = Buffer.from(`message ${i}`);
      const s = await sign('lms5', 'LMS', msg);
      assert.equal(s.statusCode, 200, s.body);
      const sig = Buffer.from(s.json().signature, 'base64');
      assert.equal(sig.length, 8688);
      assert.ok(hssVerify(pk, msg, sig));
      seen.push(hssSignatureIndex(sig));
      if (i % 8 === 0) {
        const v = await w.call('POST', '/v1/verify', { verifySignatureRequest: { payload: b64(msg), signKeyName: 'lms5', signatureAlgorithm: 'LMS', signature: s.json().signature } }, 'keyOperationToken');
        assert.equal(v.json().signatureValid, true);
      }
    }
    assert.deepEqual(seen, Array.from({ length: 32 }, (_, i) => i));
    assert.equal(await remaining('lms5'), 0);
    const ex = await sign('lms5', 'LMS', Buffer.from('one more'));
    assert.equal(ex.statusCode, 400);
    assert.equal(ex.json().errorCode, 614);
    assert.match(ex.json().message, /exhausted/);
  });

  it('50 concurrent requests on one key get 50 different indices (default keySize 10: 1024 signatures of 2512 bytes)', async () => {
    const r = await w.call('POST', '/v1/key', { label: 'lms10', algorithm: 'LMS', attributes: SIGN });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().json.keySize, 10);
    const pk = decodeSpki(Buffer.from(r.json().json.publicKey, 'base64')).raw;
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => sign('lms10', 'LMS', Buffer.from(`c${i}`))));
    const idx = results.map((s, i) => {
      assert.equal(s.statusCode, 200, s.body);
      const sig = Buffer.from(s.json().signature, 'base64');
      assert.equal(sig.length, 2512);
      assert.ok(hssVerify(pk, Buffer.from(`c${i}`), sig));
      return hssSignatureIndex(sig);
    });
    assert.equal(new Set(idx).size, 50);
    assert.equal(await remaining('lms10'), 1024 - 50);
  });

  it('never leaves the keystore: export 614, wrap 614; private keys are not imported (611); public-key imports verify only', async () => {
    assert.equal((await w.call('POST', '/v1/key/export/plain', { label: 'lms10' })).json().errorCode, 614);
    await w.call('POST', '/v1/key', { label: 'kek', algorithm: 'AES', keySize: 256, attributes: { decrypt: false, sign: false, unwrap: true, wrap: true } });
    assert.equal((await w.call('POST', '/v1/wrap', { wrapKeyRequest: { keyToBeWrapped: 'lms10', wrapKeyName: 'kek', wrapMethod: 'AES_WRAP_PAD' } }, 'keyOperationToken')).json().errorCode, 614);
    const pub = (await w.call('POST', '/v1/key/attributes', { label: 'lms10' })).json().json.publicKey;
    assert.equal((await w.call('POST', '/v1/key/import/plain', { label: 'lms-priv', algorithm: 'LMS', privateKey: pub, attributes: SIGN })).json().errorCode, 611);
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'lms-pub', algorithm: 'LMS', publicKey: pub });
    assert.equal(imp.statusCode, 201, imp.body);
    const s = await sign('lms10', 'LMS', Buffer.from('x'));
    const v = await w.call('POST', '/v1/verify', { verifySignatureRequest: { payload: b64(Buffer.from('x')), signKeyName: 'lms-pub', signatureAlgorithm: 'LMS', signature: s.json().signature } }, 'keyOperationToken');
    assert.equal(v.json().signatureValid, true);
    assert.equal((await sign('lms-pub', 'LMS', Buffer.from('x'))).json().errorCode, 614, 'a public-key import cannot sign');
    assert.equal((await w.call('POST', '/v1/key', { label: 'lms-bad', algorithm: 'LMS', keySize: 15, attributes: SIGN })).json().errorCode, 603);
  });

  it('a tampered (rolled back or foreign) state fails the integrity check instead of reusing an index', async () => {
    const db = w.runtime.store.db;
    const lms5 = await db.selectFrom('keys').select('state').where('label', '=', 'lms5').executeTakeFirstOrThrow();
    // the exhausted key's sealed state moved onto another key: AAD mismatch → 701
    await db.updateTable('keys').set({ state: lms5.state }).where('label', '=', 'lms10').execute();
    const s = await sign('lms10', 'LMS', Buffer.from('x'));
    assert.equal(s.statusCode, 500);
    assert.equal(s.json().errorCode, 701);
    await db.updateTable('keys').set({ state: null }).where('label', '=', 'lms10').execute();
    assert.equal((await sign('lms10', 'LMS', Buffer.from('x'))).json().errorCode, 701);
  });
});

describe('XMSS', () => {
  it('XMSS-SHA256_10_256 and XMSS-SHAKE256_10_256: create → attributes → sign → verify, fresh indices, 607 across parameter sets', async () => {
    for (const name of ['XMSS-SHA256_10_256', 'XMSS-SHAKE256_10_256']) {
      const label = `x-${name}`;
      const r = await w.call('POST', '/v1/key', { label, algorithm: name, attributes: SIGN });
      assert.equal(r.statusCode, 201, r.body);
      assert.equal(r.json().json.algorithm, 'XMSS');
      assert.equal(r.json().json.algorithmOid, '0.4.0.127.0.15.1.1.13.0');
      const pk = decodeSpki(Buffer.from(r.json().json.publicKey, 'base64')).raw;
      assert.equal(pk.readUInt32BE(0), name.includes('SHAKE') ? 0x10 : 0x01, 'RFC 8391 / SP 800-208 OID');
      assert.equal(await remaining(label), 1024);
      const idx: number[] = [];
      for (let i = 0; i < 3; i++) {
        const msg = Buffer.from(`xmss ${i}`);
        const s = await sign(label, name, msg);
        assert.equal(s.statusCode, 200, s.body);
        const sig = Buffer.from(s.json().signature, 'base64');
        assert.equal(sig.length, 2500);
        assert.ok(xmssVerify(pk, msg, sig));
        idx.push(xmssSignatureIndex(sig));
        const v = await w.call('POST', '/v1/verify', { verifySignatureRequest: { payload: b64(msg), signKeyName: label, signatureAlgorithm: name, signature: s.json().signature } }, 'keyOperationToken');
        assert.equal(v.json().signatureValid, true);
      }
      assert.deepEqual(idx, [0, 1, 2]);
      assert.equal(await remaining(label), 1021);
      const other = name.includes('SHAKE') ? 'XMSS-SHA256_10_256' : 'XMSS-SHAKE256_10_256';
      assert.equal((await sign(label, other, Buffer.from('x'))).json().errorCode, 607);
      assert.equal((await sign(label, 'LMS', Buffer.from('x'))).json().errorCode, 607);
    }
  });
});

describe('restart', () => {
  it('the next index is durable: after closing and reopening the runtime, signing continues where it stopped', async () => {
    const s1 = await sign('lms10', 'LMS', Buffer.from('r'));
    // lms10's state was nulled above: it stays refused across the restart, lms5 stays exhausted
    assert.equal(s1.json().errorCode, 701);
    const x = await sign('x-XMSS-SHA256_10_256', 'XMSS-SHA256_10_256', Buffer.from('before restart'));
    const last = xmssSignatureIndex(Buffer.from(x.json().signature, 'base64'));
    await w.close(false);
    w = await startTestWarden({ dataDir: w.dataDir });
    const y = await sign('x-XMSS-SHA256_10_256', 'XMSS-SHA256_10_256', Buffer.from('after restart'));
    assert.equal(y.statusCode, 200, y.body);
    assert.equal(xmssSignatureIndex(Buffer.from(y.json().signature, 'base64')), last + 1);
    assert.equal((await sign('lms5', 'LMS', Buffer.from('x'))).json().errorCode, 614);
  });
});

describe('asynchronous signing (multi-authorization) of PQC keys', () => {
  it('an SKA LMS key signs through /v1/sign after approval with a fresh index; an SKA ML-DSA key keeps its context', async () => {
    const { approve, makeApprover, policy, quorumRule, requestStatus, signRequest } = await import('./helpers/workflow.ts');
    const a = makeApprover('ec');
    const pol = policy({ ruleUse: quorumRule(1, [a]) });
    const lms = await w.call('POST', '/v1/key', { label: 'ska-lms', algorithm: 'LMS', keySize: 5, attributes: { sign: true, decrypt: false, unwrap: false }, policy: pol });
    assert.equal(lms.statusCode, 201, lms.body);
    const pk = decodeSpki(Buffer.from(lms.json().json.publicKey, 'base64')).raw;
    const indices: number[] = [];
    for (let i = 0; i < 2; i++) {
      const msg = Buffer.from(`async ${i}`);
      const id = await signRequest(w, 'ska-lms', msg, { signatureAlgorithm: 'LMS' });
      assert.equal((await requestStatus(w, id)).status, 'PENDING');
      await approve(w, a, id);
      const done = await requestStatus(w, id);
      assert.equal(done.status, 'EXECUTED', JSON.stringify(done));
      const sig = Buffer.from(done.result as string, 'base64');
      assert.ok(hssVerify(pk, msg, sig));
      indices.push(hssSignatureIndex(sig));
    }
    assert.deepEqual(indices, [0, 1]);
    const ml = await w.call('POST', '/v1/key', { label: 'ska-mldsa', algorithm: 'ML-DSA-44', attributes: { sign: true, decrypt: false, unwrap: false }, policy: pol });
    assert.equal(ml.statusCode, 201, ml.body);
    const msg = Buffer.from('async ml-dsa');
    const id = await signRequest(w, 'ska-mldsa', msg, { signatureAlgorithm: 'ML_DSA', context: b64(Buffer.from('ctx')) });
    await approve(w, a, id);
    const done = await requestStatus(w, id);
    assert.equal(done.status, 'EXECUTED', JSON.stringify(done));
    const v = await w.call('POST', '/v1/verify', { verifySignatureRequest: { payload: b64(msg), signKeyName: 'ska-mldsa', signatureAlgorithm: 'ML_DSA', signature: done.result, context: b64(Buffer.from('ctx')) } }, 'keyOperationToken');
    assert.equal(v.json().signatureValid, true);
    // without approvals the synchronous call is refused by the keystore
    assert.equal((await sign('ska-lms', 'LMS', Buffer.from('x'))).json().errorCode, 401);
  });
});
