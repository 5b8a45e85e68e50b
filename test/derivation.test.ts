// Hierarchical deterministic keys through the HTTP API (spec §2.3, §2.7, §3.7, §3.8): every SLIP-0010
// vector (secp256k1 = BIP-32, nist256p1, ed25519) and the BIP-32 serialized vectors 1–3 by seed import
// (/v1/importedKey) and temporary derivation in key names (attributes: public key + derivationValue;
// plain export: private key), persisted derived keys inheriting password and policy, signing with a
// path in signKeyName, the Ed25519 hardened-only rule (400) and the refusals; the BIP-340 test vectors
// (test-vectors.csv 0–14) through /v1/synchronousSign and /v1/verify, as used by BIP-32-derived keys.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, verify as nodeVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HDKey } from '@scure/bip32';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { materialOf } from '../src/crypto/derivation/keys.ts';
import { fastDataDir } from './helpers/signature-keys.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

const CURVE_OID = { secp256k1: '1.3.132.0.10', nist256p1: '1.2.840.10045.3.1.7', ed25519: '1.3.101.112' } as const;
const EXPORTABLE = { sign: true, decrypt: false, unwrap: false, derive: true, extractable: true, sensitive: false, destroyable: true };
const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
const apiPath = (p: string) => p.replace(/^m\/?/, '').replaceAll('H', "'");

interface Slip10Case { curve: keyof typeof CURVE_OID; seed: string; path: string; fingerprint: string; chainCode: string; privateKey: string; publicKey: string }
interface Bip32Case { seed: string; path: string; xpub: string; xprv: string }

let w: TestWarden;
before(async () => {
  w = await startTestWarden({ dataDir: fastDataDir() });
});
after(async () => {
  await w.close();
});

/** The raw public key of an SPKI in the vectors' form: compressed point, or 0x00 ‖ key for Ed25519. */
function publicOf(spkiB64: string): string {
  const jwk = createPublicKey({ key: Buffer.from(spkiB64, 'base64'), format: 'der', type: 'spki' }).export({ format: 'jwk' });
  const x = Buffer.from(jwk.x as string, 'base64url');
  if (jwk.kty === 'OKP') return '00' + x.toString('hex');
  const y = Buffer.from(jwk.y as string, 'base64url');
  return ((y[y.length - 1] & 1) === 0 ? '02' : '03') + x.toString('hex');
}
function privateOf(pkcs8B64: string): string {
  const jwk = createPrivateKey({ key: Buffer.from(pkcs8B64, 'base64'), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });
  return Buffer.from(jwk.d as string, 'base64url').toString('hex');
}

const masters = new Map<string, string>();
async function masterFor(curve: keyof typeof CURVE_OID, seed: string): Promise<string> {
  const id = `${curve}:${seed}`;
  let label = masters.get(id);
  if (!label) {
    label = `hd-${curve}-${masters.size}`;
    const r = await w.call('POST', '/v1/importedKey', { label, seed: b64(Buffer.from(seed, 'hex')), curveOid: CURVE_OID[curve], attributes: EXPORTABLE });
    assert.equal(r.statusCode, 201, r.body);
    masters.set(id, label);
  }
  return label;
}

describe('published vectors through the API', () => {
  it('SLIP-0010 (secp256k1 = BIP-32 1–2, nist256p1 with its retries, ed25519): public key, chain code, private key', async () => {
    const v = JSON.parse(readFileSync(new URL('./vectors/slip10.json', import.meta.url), 'utf8')) as { cases: Slip10Case[] };
    let ran = 0;
    for (const c of v.cases) {
      const master = await masterFor(c.curve, c.seed);
      const path = apiPath(c.path);
      const label = path ? `${master}/${path}` : master;
      const a = await w.call('POST', '/v1/key/attributes', { label });
      assert.equal(a.statusCode, 200, `${c.curve} ${c.path}: ${a.body}`);
      const json = a.json().json;
      assert.equal(json.label, label);
      assert.equal(publicOf(json.publicKey), c.publicKey, `${c.curve} ${c.path} public key`);
      assert.deepEqual(json.derivedAttributes, { derivationType: c.curve === 'ed25519' ? 'ADA/SLIP-10' : 'SLIP-10', derivationValue: c.chainCode.toUpperCase() }, `${c.curve} ${c.path}`);
      const ex = await w.call('POST', '/v1/key/export/plain', { label });
      assert.equal(ex.statusCode, 200, ex.body);
      assert.equal(privateOf(ex.json().privateKey), c.privateKey, `${c.curve} ${c.path} private key`);
      ran++;
    }
    console.log(`[slip10] ran ${ran} vectors through /v1/importedKey + /v1/key/attributes + export, skipped 0`);
    assert.equal(ran, 39);
  });

  it('BIP-32 test vectors 1–3: the API keys serialize to the published xprv/xpub', async () => {
    const v = JSON.parse(readFileSync(new URL('./vectors/bip32.json', import.meta.url), 'utf8')) as { cases: Bip32Case[] };
    let ran = 0;
    for (const c of v.cases) {
      const master = await masterFor('secp256k1', c.seed);
      const path = apiPath(c.path);
      const label = path ? `${master}/${path}` : master;
      const json = (await w.call('POST', '/v1/key/attributes', { label })).json().json;
      const priv = privateOf((await w.call('POST', '/v1/key/export/plain', { label })).json().privateKey);
      const expected = HDKey.fromExtendedKey(c.xprv);
      assert.equal(priv, Buffer.from(expected.privateKey as Uint8Array).toString('hex'), `${c.path} private key`);
      assert.equal(json.derivedAttributes.derivationValue, Buffer.from(expected.chainCode as Uint8Array).toString('hex').toUpperCase());
      assert.equal(publicOf(json.publicKey), Buffer.from(HDKey.fromExtendedKey(c.xpub).publicKey as Uint8Array).toString('hex'));
      ran++;
    }
    console.log(`[bip32] ran ${ran} vectors (test vectors 1, 2, 3), skipped 0`);
  });
});

describe('derivation rules', () => {
  const SIGN = { sign: true, decrypt: false, unwrap: false, derive: true };

  it('Ed25519 (SLIP-10) derives hardened children only: a plain index is 400/634, anywhere in the path', async () => {
    await w.call('POST', '/v1/importedKey', { label: 'ed-master', seed: b64(Buffer.alloc(32, 7)), curveOid: CURVE_OID.ed25519, attributes: SIGN });
    for (const path of ['0', "44'/0", "44'/0'/1"]) {
      const r = await w.call('POST', '/v1/key/attributes', { label: `ed-master/${path}` });
      assert.equal(r.statusCode, 400, path);
      assert.equal(r.json().errorCode, 634, path);
      const d = await w.call('POST', '/v1/derivedKey', { masterKeyLabel: 'ed-master', derivationPath: path });
      assert.equal(d.json().errorCode, 634);
    }
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: "ed-master/44'/0'" })).statusCode, 200);
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: 'ed-master/44h/0H' })).statusCode, 200, "h and H spell hardened too");
  });

  it('signing with a path in signKeyName: the signature verifies against the derived public key (EC and ED)', async () => {
    await w.call('POST', '/v1/importedKey', { label: 'k1-master', seed: b64(Buffer.alloc(32, 1)), curveOid: CURVE_OID.secp256k1, attributes: SIGN });
    for (const [label, alg] of [["k1-master/44'/60'/0'/0/7", 'SHA256_WITH_ECDSA'], ["ed-master/44'/1'", 'EDDSA']] as const) {
      const pub = (await w.call('POST', '/v1/key/attributes', { label })).json().json.publicKey;
      const msg = Buffer.from('derived signing');
      const s = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(msg), signKeyName: label, signatureAlgorithm: alg } }, 'keyOperationToken');
      assert.equal(s.statusCode, 200, s.body);
      const key = createPublicKey({ key: Buffer.from(pub, 'base64'), format: 'der', type: 'spki' });
      assert.ok(nodeVerify(alg === 'EDDSA' ? null : 'sha256', msg, key, Buffer.from(s.json().signature, 'base64')), label);
      const v = await w.call('POST', '/v1/verify', { verifySignatureRequest: { payload: b64(msg), signKeyName: label, signatureAlgorithm: alg, signature: s.json().signature } }, 'keyOperationToken');
      assert.equal(v.json().signatureValid, true);
    }
    // temporary keys are not stored
    assert.ok(!(await w.call('GET', '/v1/key')).json().some((l: string) => l.includes("44'/60'")));
  });

  it('POST /v1/derivedKey persists master/path with the master password and policy; attributes default to the master', async () => {
    let r = await w.call('POST', '/v1/importedKey', { label: 'pw-master', password: 'm-pass', seed: b64(Buffer.alloc(16, 2)), curveOid: CURVE_OID.nist256p1, attributes: { ...SIGN, destroyable: true }, policy: { ruleUse: null } });
    assert.equal(r.statusCode, 201, r.body);
    const masterPolicy = r.json().json.policy;
    assert.ok(masterPolicy);
    r = await w.call('POST', '/v1/derivedKey', { masterKeyLabel: 'pw-master', masterKeyPassword: 'wrong', derivationPath: "0'/5" });
    assert.equal(r.json().errorCode, 620);
    r = await w.call('POST', '/v1/derivedKey', { masterKeyLabel: 'pw-master', masterKeyPassword: ['m', '-', 'p', 'a', 's', 's'], derivationPath: "m/0h/5" });
    assert.equal(r.statusCode, 201, r.body);
    const child = r.json().json;
    assert.equal(child.label, "pw-master/0'/5", 'stored under the canonical path');
    assert.deepEqual(child.policy, masterPolicy, 'policy inherited');
    assert.equal(child.attributes.destroyable, true, 'attributes copied from the master');
    assert.equal(child.derivedAttributes.derivationType, 'SLIP-10');
    assert.ok((await w.call('GET', '/v1/key')).json().includes("pw-master/0'/5"));
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: "pw-master/0'/5" })).json().errorCode, 620, 'the master password protects it');
    const a = await w.call('POST', '/v1/key/attributes', { label: "pw-master/0'/5", password: 'm-pass' });
    assert.equal(a.statusCode, 200);
    const temp = await w.call('POST', '/v1/key/attributes', { label: "pw-master/0'/5/1", password: 'm-pass' });
    assert.equal(temp.statusCode, 200, 'deeper paths are derived on the fly from the master');
    // the persisted child equals the temporary derivation of the same path
    assert.equal(a.json().json.publicKey, (await w.call('POST', '/v1/key/attributes', { label: 'pw-master/0h/5', password: 'm-pass' })).json().json.publicKey);
    r = await w.call('POST', '/v1/derivedKey', { masterKeyLabel: 'pw-master', masterKeyPassword: 'm-pass', derivationPath: "0'/5" });
    assert.equal(r.json().errorCode, 608, 'already exists');
    r = await w.call('POST', '/v1/derivedKey', { masterKeyLabel: 'pw-master', masterKeyPassword: 'm-pass', derivationPath: "0'/6", attributes: { sign: false, decrypt: false, unwrap: false, derive: true, destroyable: true } });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().json.attributes.sign, false, 'given attributes win');
    const del = await w.call('POST', '/v1/key/deleteKey', { label: "pw-master/0'/6", password: 'm-pass' });
    assert.equal(del.statusCode, 200, del.body);
  });

  it('refusals: derive=false 614, a key without bip32/slip10 634, bip32 on P-384 606, unknown master 650, bad path 600, bad seed size 600', async () => {
    await w.call('POST', '/v1/key', { label: 'plain-ec', algorithm: 'EC', curveOid: CURVE_OID.secp256k1, attributes: { sign: true, decrypt: false, unwrap: false, derive: true } });
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: 'plain-ec/0' })).json().errorCode, 634);
    await w.call('POST', '/v1/key', { label: 'noderive', algorithm: 'EC', curveOid: CURVE_OID.secp256k1, attributes: { sign: true, decrypt: false, unwrap: false } });
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: 'noderive/0' })).json().errorCode, 614);
    const p384 = await w.call('POST', '/v1/key', { label: 'p384', algorithm: 'EC', curveOid: '1.3.132.0.34', attributes: { sign: true, decrypt: false, unwrap: false, derive: true, bip32: true } });
    assert.equal(p384.json().errorCode, 606);
    assert.equal((await w.call('POST', '/v1/derivedKey', { masterKeyLabel: 'nope', derivationPath: '0' })).json().errorCode, 650);
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: 'k1-master/x1' })).json().errorCode, 600);
    assert.equal((await w.call('POST', '/v1/importedKey', { label: 's', seed: b64(Buffer.alloc(8)), curveOid: CURVE_OID.secp256k1, attributes: SIGN })).json().errorCode, 600);
    assert.equal((await w.call('POST', '/v1/importedKey', { label: 's', seed: b64(Buffer.alloc(16)), curveOid: '1.3.132.0.34', attributes: SIGN })).json().errorCode, 600);
    assert.equal((await w.call('POST', '/v1/importedKey', { label: 's', seed: b64(Buffer.alloc(16)), curveOid: CURVE_OID.secp256k1, attributes: { ...SIGN, derive: false } })).json().errorCode, 606);
  });

  it('a key created with derive + bip32 is a SLIP-10 master with a random chain code; derived children differ per path', async () => {
    const r = await w.call('POST', '/v1/key', { label: 'gen-master', algorithm: 'EC', curveOid: CURVE_OID.secp256k1, attributes: { ...SIGN, bip32: true } });
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json().json.derivedAttributes.derivationType, 'SLIP-10');
    assert.match(r.json().json.derivedAttributes.derivationValue, /^[0-9A-F]{64}$/);
    assert.ok(r.json().xml.includes(`<derivation_value type="SLIP-10">${r.json().json.derivedAttributes.derivationValue}</derivation_value>`), 'attestation XML');
    const a = (await w.call('POST', '/v1/key/attributes', { label: 'gen-master/1' })).json().json.publicKey;
    const b = (await w.call('POST', '/v1/key/attributes', { label: 'gen-master/2' })).json().json.publicKey;
    assert.notEqual(a, b);
    const ed = await w.call('POST', '/v1/key', { label: 'ada', algorithm: 'ED', attributes: { ...SIGN, bip32: true } });
    assert.equal(ed.json().json.derivedAttributes.derivationType, 'ADA');
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: "ada/0'" })).json().errorCode, 611, 'ADA (Cardano) derivation is not offered');
  });
});

describe('BIP-340 Schnorr test vectors through the API', () => {
  it('test-vectors.csv 0–14: signing vectors reproduce the signature, verification vectors give the listed result', async () => {
    const rows = readFileSync(new URL('./vectors/bip340.csv', import.meta.url), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    let ran = 0;
    for (const [index, secret, pub, aux, msg, sig, result] of rows) {
      const label = `bip340-${index}`;
      const expected = result === 'TRUE';
      if (secret) {
        const m = materialOf({ curve: 'secp256k1', privateKey: Buffer.from(secret, 'hex') });
        const imp = await w.call('POST', '/v1/key/import/plain', { label, algorithm: 'EC', privateKey: b64(m.privateKey as Buffer), attributes: { sign: true, decrypt: false, unwrap: false } });
        assert.equal(imp.statusCode, 201, imp.body);
        const s = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: b64(Buffer.from(msg, 'hex')), signKeyName: label, signatureAlgorithm: 'NONE_WITH_EC_SCHNORR_BIP0340', auxiliaryRandomData: b64(Buffer.from(aux, 'hex')) } }, 'keyOperationToken');
        assert.equal(s.statusCode, 200, s.body);
        assert.equal(Buffer.from(s.json().signature, 'base64').toString('hex').toUpperCase(), sig, `vector ${index}`);
      } else {
        // The x-only key as the even-y point; an x that is not on the curve or ≥ p cannot be imported.
        let spki: Buffer | null = null;
        try {
          const p = secp256k1.Point.fromBytes(Buffer.concat([Buffer.from([2]), Buffer.from(pub, 'hex')])).toBytes(false);
          spki = createPublicKey({ key: { kty: 'EC', crv: 'secp256k1', x: Buffer.from(p.subarray(1, 33)).toString('base64url'), y: Buffer.from(p.subarray(33)).toString('base64url') }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
        } catch {
          spki = null;
        }
        if (!spki) {
          assert.equal(expected, false, `vector ${index}: the key is invalid`);
          ran++;
          continue;
        }
        const imp = await w.call('POST', '/v1/key/import/plain', { label, algorithm: 'EC', publicKey: b64(spki) });
        assert.equal(imp.statusCode, 201, imp.body);
      }
      const v = await w.call('POST', '/v1/verify', { verifySignatureRequest: { payload: b64(Buffer.from(msg, 'hex')), signKeyName: label, signatureAlgorithm: 'NONE_WITH_EC_SCHNORR_BIP0340', signature: b64(Buffer.from(sig, 'hex')) } }, 'keyOperationToken');
      assert.equal(v.statusCode, 200, v.body);
      assert.equal(v.json().signatureValid, expected, `vector ${index} (${rows[Number(index)][7] || 'valid'})`);
      ran++;
    }
    console.log(`[bip340] ran ${ran} vectors (4 signing, ${ran - 4} verification-only), skipped 0`);
    assert.equal(ran, 15);
  });
});
