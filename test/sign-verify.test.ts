// Every signature algorithm of the registry × every key family and curve it runs on, through the HTTP
// API: sign here → verify with the openssl CLI (or @noble for what openssl 3.0 lacks: Keccak digests,
// BIP-340), openssl-signed → /v1/verify true, a flipped bit → false; RAW and DER both ways. On the
// PKCS#11 keystore the same on the token; what it cannot sign (Schnorr, deterministic ECDSA,
// NONE_WITH_RSA_PSS, ETH) is asserted as 400/611, and verification (public-key work) still holds.
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPrivateKey, randomBytes } from 'node:crypto';
import { keccak_224, keccak_256, keccak_384, keccak_512 } from '@noble/hashes/sha3.js';
import { schnorr, secp256k1 } from '@noble/curves/secp256k1.js';
import { EC_CURVES } from '../src/crypto/curves.ts';
import { SIGNATURE_ALGORITHMS } from '../src/crypto/signatures/registry.ts';
import type { SignatureAlgorithm } from '../src/crypto/signatures/types.ts';
import { ON_POSTGRES } from './helpers/postgres.ts';
import { ON_TOKEN, assertRefusedOnToken, refusedOnToken } from './helpers/keystore-under-test.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { TempFiles, fastDataDir, importTestKey, openssl, opensslKey, pool, type TestKey } from './helpers/signature-keys.ts';

const CURVES = EC_CURVES.filter((c) => c.nodeName);
const K1 = '1.3.132.0.10';
const K1_N = secp256k1.Point.Fn.ORDER;

// --- an independent DER SEQUENCE{r,s} codec (the one under test lives in src/) ---
function intBytes(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
}
function derLen(n: number): Buffer {
  return n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
}
function rawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const parts = [raw.subarray(0, half), raw.subarray(half)].map((x) => {
    const v = intBytes(x);
    return Buffer.concat([Buffer.from([0x02]), derLen(v.length), v]);
  });
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([0x30]), derLen(body.length), body]);
}
function derToRaw(der: Buffer, size: number): Buffer {
  let pos = 1;
  let len = der[pos++];
  if (len & 0x80) pos += len & 0x7f;
  const out: Buffer[] = [];
  for (let i = 0; i < 2; i++) {
    assert.equal(der[pos++], 0x02);
    len = der[pos++];
    if (len & 0x80) {
      const n = len & 0x7f;
      len = der.readUIntBE(pos, n);
      pos += n;
    }
    const v = der.subarray(pos, pos + len);
    pos += len;
    const stripped = v[0] === 0 ? v.subarray(1) : v;
    out.push(Buffer.concat([Buffer.alloc(size - stripped.length), stripped]));
  }
  return Buffer.concat(out);
}

const KECCAK: Record<string, (m: Uint8Array) => Uint8Array> = { KECCAK224: keccak_224, KECCAK256: keccak_256, KECCAK384: keccak_384, KECCAK512: keccak_512 };
const sha = (name: string, data: Buffer) => createHash(name).update(data).digest();

/** How openssl (or noble) checks and makes one algorithm's signatures. */
interface Plan {
  payload: Buffer;
  /** Bytes openssl reads (the message for dgst, the digest for pkeyutl). */
  input: Buffer;
  tool: 'dgst' | 'pkeyutl' | 'pkeyutl-raw' | 'schnorr';
  digest?: string;
  opts: string[];
}

function planFor(alg: SignatureAlgorithm, key: TestKey): Plan {
  const msg = randomBytes(100);
  const h = alg.hash?.nodeName ?? null;
  const pssOpts = (len: number, flag: string) => [flag, 'rsa_padding_mode:pss', flag, `rsa_pss_saltlen:${len}`];
  switch (alg.name) {
    case 'NONE_WITH_RSA': {
      const p = randomBytes(48);
      return { payload: p, input: p, tool: 'pkeyutl', opts: [] };
    }
    case 'NONE_WITH_RSA_PSS': {
      const d = sha('sha384', msg);
      return { payload: d, input: d, tool: 'pkeyutl', opts: ['-pkeyopt', 'digest:sha384', ...pssOpts(48, '-pkeyopt')] };
    }
    case 'NONE_WITH_DSA':
    case 'NONE_WITH_ECDSA': {
      const d = sha(key.curveName === 'secp521r1' ? 'sha512' : 'sha256', msg);
      return { payload: d, input: d, tool: 'pkeyutl', opts: [] };
    }
    case 'DOUBLE_SHA256_WITH_ECDSA':
      return { payload: msg, input: sha('sha256', msg), tool: 'dgst', digest: 'sha256', opts: [] };
    case 'NONE_WITH_EC_SCHNORR_BIP0340': {
      const m = randomBytes(32);
      return { payload: m, input: m, tool: 'schnorr', opts: [] };
    }
    case 'EDDSA':
      return { payload: msg, input: msg, tool: 'pkeyutl-raw', opts: [] };
  }
  if (alg.hash && KECCAK[alg.hash.name]) return { payload: msg, input: Buffer.from(KECCAK[alg.hash.name](msg)), tool: 'pkeyutl', opts: [] };
  if (alg.prehashed && alg.hash) {
    const d = sha(h as string, msg);
    const opts = ['-pkeyopt', `digest:${h}`, ...(alg.scheme === 'RSA_PSS' ? pssOpts(alg.hash.length, '-pkeyopt') : [])];
    return { payload: d, input: d, tool: 'pkeyutl', opts };
  }
  const opts = alg.scheme === 'RSA_PSS' ? pssOpts((alg.hash as { length: number }).length, '-sigopt') : [];
  return { payload: msg, input: msg, tool: 'dgst', digest: h as string, opts };
}

function xOnly(spki: Buffer): Uint8Array {
  return secp256k1.Point.fromBytes(spki.subarray(spki.length - 65)).toBytes(true).subarray(1);
}
function k1Secret(key: TestKey): Uint8Array {
  const d = createPrivateKey({ key: key.pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d as string;
  return Buffer.from(d, 'base64url');
}

async function opensslVerify(files: TempFiles, plan: Plan, key: TestKey, sig: Buffer): Promise<boolean> {
  if (plan.tool === 'schnorr') return schnorr.verify(sig, plan.payload, xOnly(key.spki));
  const input = files.write(plan.input);
  const sigFile = files.write(sig);
  const args =
    plan.tool === 'dgst'
      ? ['dgst', `-${plan.digest}`, ...plan.opts, '-verify', key.publicPem, '-signature', sigFile, input]
      : ['pkeyutl', '-verify', '-pubin', '-inkey', key.publicPem, ...(plan.tool === 'pkeyutl-raw' ? ['-rawin'] : []), ...plan.opts, '-in', input, '-sigfile', sigFile];
  const r = await openssl(args);
  if (!r.ok && !/Verification failure|Signature Verification Failure/i.test(r.stdout + r.stderr)) {
    assert.fail(`openssl ${args.join(' ')} failed unexpectedly: ${r.stderr}`);
  }
  return r.ok;
}

async function opensslSign(files: TempFiles, plan: Plan, key: TestKey): Promise<Buffer> {
  if (plan.tool === 'schnorr') return Buffer.from(schnorr.sign(plan.payload, k1Secret(key), randomBytes(32)));
  const input = files.write(plan.input);
  const out = files.name();
  const args =
    plan.tool === 'dgst'
      ? ['dgst', `-${plan.digest}`, ...plan.opts, '-sign', key.privatePem, '-out', out, input]
      : ['pkeyutl', '-sign', '-inkey', key.privatePem, ...(plan.tool === 'pkeyutl-raw' ? ['-rawin'] : []), ...plan.opts, '-in', input, '-out', out];
  const r = await openssl(args);
  assert.ok(r.ok, `openssl ${args.join(' ')}: ${r.stderr}`);
  return files.read(out);
}

function flip(b: Buffer, bit = 5): Buffer {
  const c = Buffer.from(b);
  const i = Math.floor(c.length / 2);
  c[i] ^= 1 << bit;
  return c;
}

describe('signatures: every algorithm × key family × curve, cross-checked with openssl', () => {
  let w: TestWarden;
  const files = new TempFiles();
  const keys: Record<string, TestKey[]> = { RSA: [], EC: [], ED: [], DSA: [] };
  let cases = 0;

  before(async () => {
    w = await startTestWarden({ dataDir: fastDataDir() });
    const specs = [
      { algorithm: 'RSA' as const, label: 'rsa-2048' },
      { algorithm: 'ED' as const, label: 'ed25519' },
      { algorithm: 'DSA' as const, label: 'dsa-2048' },
      ...CURVES.map((c) => ({ algorithm: 'EC' as const, label: `ec-${c.name}`, curve: c.nodeName as string })),
    ];
    // A family the token cannot hold is refused at import (asserted here) and has no keys below.
    for (const spec of specs.filter((x) => refusedOnToken({ key: x.algorithm }))) {
      const k = await opensslKey(files, spec.algorithm);
      assertRefusedOnToken(await w.call('POST', '/v1/key/import/plain', { label: spec.label, algorithm: spec.algorithm, privateKey: k.pkcs8.toString('base64'), attributes: { sign: true } }), `${spec.algorithm} import`);
    }
    const made = await pool(
      specs.filter((x) => !refusedOnToken({ key: x.algorithm })),
      4,
      async (spec) => importTestKey(w, spec.label, await opensslKey(files, spec.algorithm, { curve: 'curve' in spec ? spec.curve : undefined })),
    );
    for (const k of made) keys[k.algorithm].push(k);
  });
  after(async () => {
    await w.close();
    files.remove();
    console.log(`[signatures] ${cases} algorithm × key cases cross-checked with openssl/noble`);
  });

  async function sign(alg: string, key: string, payload: Buffer, signatureType?: string, extra: Record<string, unknown> = {}) {
    const r = await w.call('POST', '/v1/synchronousSign', {
      signRequest: { payload: payload.toString('base64'), payloadType: 'UNSPECIFIED', signKeyName: key, signatureAlgorithm: alg, ...(signatureType ? { signatureType } : {}), ...extra },
    }, 'keyOperationToken');
    return r;
  }
  async function verify(alg: string, key: string, payload: Buffer, signature: Buffer, extra: Record<string, unknown> = {}): Promise<boolean> {
    const r = await w.call('POST', '/v1/verify', {
      verifySignatureRequest: { signKeyName: key, signatureAlgorithm: alg, payload: payload.toString('base64'), signature: signature.toString('base64'), ...extra },
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, r.body);
    return r.json().signatureValid;
  }

  // The classic families; PQC/BLS modules of the registry have their own tests.
  const CLASSIC = SIGNATURE_ALGORITHMS.filter((a) => a.keyAlgorithms.some((k) => ['RSA', 'EC', 'ED', 'DSA'].includes(k)));
  it('the registry holds every classic name of the spec §4.1 catalogue', () => {
    const names = CLASSIC.map((a) => a.name);
    assert.equal(names.length, 45, `RSA 21, DSA 6, EC 17, Ed25519 1: ${names.join(", ")}`);
    for (const n of ['NONE_WITH_RSA', 'NONESHA1_WITH_RSA', 'NONE_WITH_RSA_PSS', 'NONESHA512_WITH_RSA_PSS', 'SHA1_WITH_RSA_PSS', 'NONE_WITH_DSA', 'SHA512_WITH_DSA',
      'NONE_WITH_ECDSA', 'SHA3224_WITH_ECDSA', 'KECCAK512_WITH_ECDSA', 'DOUBLE_SHA256_WITH_ECDSA', 'SHA256_WITH_ECDSA_DETERMINISTIC', 'NONE_WITH_EC_SCHNORR_BIP0340', 'EDDSA']) {
      assert.ok(names.includes(n), n);
    }
  });
  for (const alg of CLASSIC) {
    it(`${alg.name}`, async () => {
      const family = alg.keyAlgorithms[0];
      if (refusedOnToken({ key: family })) {
        // No key of this family on the token (its import was refused in before()).
        const r = await sign(alg.name, `${family.toLowerCase()}-2048`, randomBytes(32));
        assert.equal(r.statusCode, 404, r.body);
        assert.equal(r.json().errorCode, 650, r.body);
        return;
      }
      const eligible = keys[family]
        .filter((k) => !alg.curves || (k.curveOid !== null && alg.curves.includes(k.curveOid)))
        // The crypto does not depend on the database: the PostgreSQL pass keeps two curves per EC algorithm.
        .filter((k) => !ON_POSTGRES || k.algorithm !== 'EC' || ['prime256v1', 'secp256k1'].includes(k.curveName as string));
      assert.ok(eligible.length > 0, `no key for ${alg.name}`);
      await pool(eligible, 4, async (key) => {
        const plan = planFor(alg, key);
        const where = `${alg.name} on ${key.label}`;
        if (refusedOnToken({ signature: alg.name })) {
          // The token cannot sign this; verifying (public-key work, in software) still holds.
          assertRefusedOnToken(await sign(alg.name, key.label, plan.payload), where);
          assert.equal(await verify(alg.name, key.label, plan.payload, await opensslSign(files, plan, key)), true, `${where}: openssl's signature`);
          cases++;
          return;
        }
        // sign here (DER) → openssl verifies
        const r = await sign(alg.name, key.label, plan.payload);
        assert.equal(r.statusCode, 200, `${where}: ${r.body}`);
        const sig = Buffer.from(r.json().signature, 'base64');
        assert.ok(await opensslVerify(files, plan, key, sig), `${where}: openssl rejects Warden's signature`);
        assert.equal(await verify(alg.name, key.label, plan.payload, sig), true, `${where}: own signature`);
        assert.equal(await verify(alg.name, key.label, plan.payload, flip(sig)), false, `${where}: flipped signature bit`);
        assert.equal(await verify(alg.name, key.label, flip(plan.payload, 0), sig), false, `${where}: flipped payload bit`);
        // openssl (noble for Schnorr) signs → Warden verifies
        const theirs = await opensslSign(files, plan, key);
        assert.equal(await verify(alg.name, key.label, plan.payload, theirs), true, `${where}: openssl's signature`);
        if (alg.scheme === 'ECDSA' || alg.scheme === 'DSA') {
          const size = key.algorithm === 'DSA' ? 32 : Math.ceil((CURVES.find((c) => c.oid === key.curveOid)?.orderBits ?? 0) / 8);
          const rr = await sign(alg.name, key.label, plan.payload, 'RAW');
          assert.equal(rr.statusCode, 200, rr.body);
          const raw = Buffer.from(rr.json().signature, 'base64');
          assert.equal(raw.length, 2 * size, `${where}: RAW is r‖s of ${size} bytes each`);
          assert.ok(await opensslVerify(files, plan, key, rawToDer(raw)), `${where}: openssl rejects the RAW signature`);
          assert.equal(await verify(alg.name, key.label, plan.payload, raw), true, `${where}: RAW verifies`);
          assert.equal(await verify(alg.name, key.label, plan.payload, derToRaw(theirs, size)), true, `${where}: openssl's signature as raw r‖s`);
          if (key.curveOid === K1) {
            const s = BigInt('0x' + raw.subarray(size).toString('hex'));
            assert.ok(s <= K1_N >> 1n, `${where}: secp256k1 signatures are low-S`);
          }
        } else {
          // RAW is the natural encoding for RSA, EdDSA and Schnorr.
          const rr = await sign(alg.name, key.label, plan.payload, 'RAW');
          assert.equal(rr.statusCode, 200, rr.body);
          assert.equal(await verify(alg.name, key.label, plan.payload, Buffer.from(rr.json().signature, 'base64')), true);
        }
        cases++;
      });
    });
  }

  it('NONESHA*_WITH_RSA(_PSS) signatures are the SHA*_WITH_RSA(_PSS) signatures of the original message', async () => {
    const msg = randomBytes(300);
    for (const [h, len] of [['sha1', 20], ['sha224', 28], ['sha256', 32], ['sha384', 48], ['sha512', 64]] as const) {
      const name = h.toUpperCase();
      const r = await sign(`NONE${name}_WITH_RSA`, 'rsa-2048', sha(h, msg));
      assert.equal(r.statusCode, 200, r.body);
      const sig = Buffer.from(r.json().signature, 'base64');
      assert.equal(await verify(`${name}_WITH_RSA`, 'rsa-2048', msg, sig), true, `NONE${name}_WITH_RSA = ${name}_WITH_RSA`);
      if (h === 'sha1') continue;
      const p = await sign(`NONE${name}_WITH_RSA_PSS`, 'rsa-2048', sha(h, msg));
      assert.equal(p.statusCode, 200, p.body);
      assert.equal(await verify(`${name}_WITH_RSA_PSS`, 'rsa-2048', msg, Buffer.from(p.json().signature, 'base64')), true);
      // NONE_WITH_RSA_PSS infers the hash from the digest length.
      const n = await sign('NONE_WITH_RSA_PSS', 'rsa-2048', sha(h, msg));
      if (refusedOnToken({ signature: 'NONE_WITH_RSA_PSS' })) {
        assertRefusedOnToken(n, 'NONE_WITH_RSA_PSS');
        continue;
      }
      assert.equal(n.statusCode, 200, n.body);
      assert.equal(await verify(`${name}_WITH_RSA_PSS`, 'rsa-2048', msg, Buffer.from(n.json().signature, 'base64')), true, `NONE_WITH_RSA_PSS over a ${len}-byte digest`);
    }
    // SHA-1 is inferred too (20 bytes).
    const s1 = await sign('NONE_WITH_RSA_PSS', 'rsa-2048', sha('sha1', msg));
    if (refusedOnToken({ signature: 'NONE_WITH_RSA_PSS' })) assertRefusedOnToken(s1, 'NONE_WITH_RSA_PSS over SHA-1');
    else {
      assert.equal(s1.statusCode, 200);
      assert.equal(await verify('SHA1_WITH_RSA_PSS', 'rsa-2048', msg, Buffer.from(s1.json().signature, 'base64')), true);
    }
  });

  it('NONE_WITH_ECDSA / NONE_WITH_DSA take every SHA-1/SHA-2 digest length, truncated as X9.62 / FIPS 186-4 say', async () => {
    const msg = randomBytes(64);
    for (const h of ['sha1', 'sha224', 'sha256', 'sha384', 'sha512']) {
      for (const key of [keys.EC.find((k) => k.curveName === 'secp224r1') as TestKey, keys.EC.find((k) => k.curveName === 'secp521r1') as TestKey, ...keys.DSA.slice(0, 1)]) {
        const alg = key.algorithm === 'DSA' ? 'NONE_WITH_DSA' : 'NONE_WITH_ECDSA';
        const d = sha(h, msg);
        const r = await sign(alg, key.label, d);
        assert.equal(r.statusCode, 200, r.body);
        const plan: Plan = { payload: d, input: d, tool: 'pkeyutl', opts: [] };
        assert.ok(await opensslVerify(files, plan, key, Buffer.from(r.json().signature, 'base64')), `${alg} ${h} on ${key.label}`);
        // The digest signed directly equals signing the message with the hash (openssl dgst).
        assert.ok(await opensslVerify(files, { payload: msg, input: msg, tool: 'dgst', digest: h, opts: [] }, key, Buffer.from(r.json().signature, 'base64')));
      }
    }
  });

  it('NONE_WITH_DSA is deterministic (RFC 6979) and SHA256_WITH_ECDSA_DETERMINISTIC too', async () => {
    const d = sha('sha256', Buffer.from('determinism'));
    if (!refusedOnToken({ key: 'DSA' })) {
      const a = await sign('NONE_WITH_DSA', 'dsa-2048', d);
      const b = await sign('NONE_WITH_DSA', 'dsa-2048', d);
      assert.equal(a.statusCode, 200, a.body);
      assert.equal(b.statusCode, 200, b.body);
      // On a token CKM_DSA picks k itself: both signatures are valid, determinism is the software keystore's.
      if (ON_TOKEN) for (const x of [a, b]) assert.equal(await verify('NONE_WITH_DSA', 'dsa-2048', d, Buffer.from(x.json().signature, 'base64')), true);
      else assert.equal(a.json().signature, b.json().signature);
    }
    for (const key of keys.EC) {
      if (refusedOnToken({ signature: 'SHA256_WITH_ECDSA_DETERMINISTIC' })) {
        assertRefusedOnToken(await sign('SHA256_WITH_ECDSA_DETERMINISTIC', key.label, Buffer.from('sample')), key.label);
        continue;
      }
      const x = await sign('SHA256_WITH_ECDSA_DETERMINISTIC', key.label, Buffer.from('sample'));
      const y = await sign('SHA256_WITH_ECDSA_DETERMINISTIC', key.label, Buffer.from('sample'));
      assert.equal(x.json().signature, y.json().signature, key.label);
    }
    const x = await sign('SHA256_WITH_ECDSA', 'ec-secp256r1', Buffer.from('sample'));
    const y = await sign('SHA256_WITH_ECDSA', 'ec-secp256r1', Buffer.from('sample'));
    assert.notEqual(x.json().signature, y.json().signature, 'plain ECDSA uses a fresh k');
  });

  it('RFC 6979 A.2.5 (P-256, SHA-256, "sample") through the API', async () => {
    const d = Buffer.from('C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721', 'hex');
    const { p256 } = await import('@noble/curves/nist.js');
    const pub = Buffer.from(p256.getPublicKey(d, false));
    const jwk = { kty: 'EC', crv: 'P-256', d: d.toString('base64url'), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') };
    const pkcs8 = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' });
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'rfc6979', algorithm: 'EC', privateKey: pkcs8.toString('base64'), attributes: { sign: true } });
    assert.equal(imp.statusCode, 201, imp.body);
    const r = await sign('SHA256_WITH_ECDSA_DETERMINISTIC', 'rfc6979', Buffer.from('sample'), 'RAW');
    if (refusedOnToken({ signature: 'SHA256_WITH_ECDSA_DETERMINISTIC' })) return assertRefusedOnToken(r, 'RFC 6979');
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(
      Buffer.from(r.json().signature, 'base64').toString('hex').toUpperCase(),
      'EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716' + 'F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8',
    );
  });

  it('BIP-340 test vectors 0 and 1 through the API (auxiliaryRandomData)', async () => {
    const vectors = [
      { sk: '0000000000000000000000000000000000000000000000000000000000000003', aux: '00'.repeat(32), msg: '00'.repeat(32), sig: 'E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0' },
      { sk: 'B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF', aux: '00'.repeat(31) + '01', msg: '243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89', sig: '6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A' },
    ];
    for (const [i, v] of vectors.entries()) {
      const d = Buffer.from(v.sk, 'hex');
      const pub = Buffer.from(secp256k1.getPublicKey(d, false));
      const jwk = { kty: 'EC', crv: 'secp256k1', d: d.toString('base64url'), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') };
      const pkcs8 = createPrivateKey({ key: jwk, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' });
      const label = `bip340-${i}`;
      assert.equal((await w.call('POST', '/v1/key/import/plain', { label, algorithm: 'EC', privateKey: pkcs8.toString('base64'), attributes: { sign: true } })).statusCode, 201);
      const r = await sign('NONE_WITH_EC_SCHNORR_BIP0340', label, Buffer.from(v.msg, 'hex'), 'DER', { auxiliaryRandomData: Buffer.from(v.aux, 'hex').toString('base64') });
      if (refusedOnToken({ signature: 'NONE_WITH_EC_SCHNORR_BIP0340' })) {
        assertRefusedOnToken(r, `BIP-340 vector ${i}`);
        // The vector's signature still verifies (public-key work).
        assert.equal(await verify('NONE_WITH_EC_SCHNORR_BIP0340', label, Buffer.from(v.msg, 'hex'), Buffer.from(v.sig, 'hex')), true);
        continue;
      }
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(Buffer.from(r.json().signature, 'base64').toString('hex').toUpperCase(), v.sig, `BIP-340 vector ${i}`);
    }
  });

  it('BIP-340/341 tweaks: taprootTweakData adds t, merkleRootData uses hash_TapTweak(x(P) ‖ h), empty root = BIP-86', async () => {
    const key = keys.EC.find((k) => k.curveOid === K1) as TestKey;
    const px = xOnly(key.spki);
    const P = schnorr.utils.lift_x(BigInt('0x' + Buffer.from(px).toString('hex')));
    const msg = randomBytes(32);
    const tweaked = (t: bigint) => P.add(schnorr.Point.BASE.multiply(t)).toBytes(true).subarray(1);
    const cases: Array<{ field: string; value: Buffer; t: bigint }> = [];
    const raw = randomBytes(32);
    cases.push({ field: 'taprootTweakData', value: raw, t: BigInt('0x' + raw.toString('hex')) % K1_N });
    const root = randomBytes(32);
    cases.push({ field: 'merkleRootData', value: root, t: BigInt('0x' + Buffer.from(schnorr.utils.taggedHash('TapTweak', px, root)).toString('hex')) });
    cases.push({ field: 'merkleRootData', value: Buffer.alloc(0), t: BigInt('0x' + Buffer.from(schnorr.utils.taggedHash('TapTweak', px)).toString('hex')) });
    if (refusedOnToken({ signature: 'NONE_WITH_EC_SCHNORR_BIP0340' })) {
      for (const c of cases) assertRefusedOnToken(await sign('NONE_WITH_EC_SCHNORR_BIP0340', key.label, msg, 'DER', { [c.field]: c.value.toString('base64') }), c.field);
      return;
    }
    for (const c of cases) {
      const r = await sign('NONE_WITH_EC_SCHNORR_BIP0340', key.label, msg, 'DER', { [c.field]: c.value.toString('base64') });
      assert.equal(r.statusCode, 200, r.body);
      const sig = Buffer.from(r.json().signature, 'base64');
      assert.ok(schnorr.verify(sig, msg, tweaked(c.t)), `${c.field} (${c.value.length} bytes): valid for the tweaked key`);
      assert.ok(!schnorr.verify(sig, msg, px), 'not valid for the internal key');
      assert.equal(await verify('NONE_WITH_EC_SCHNORR_BIP0340', key.label, msg, sig, { [c.field]: c.value.toString('base64') }), true);
      assert.equal(await verify('NONE_WITH_EC_SCHNORR_BIP0340', key.label, msg, sig), false);
    }
    const both = await sign('NONE_WITH_EC_SCHNORR_BIP0340', key.label, msg, 'DER', { taprootTweakData: raw.toString('base64'), merkleRootData: root.toString('base64') });
    assert.equal(both.statusCode, 400);
    assert.equal(both.json().errorCode, 600);
  });

  it('ETH: r‖s‖v with v = 27/28 recovering the key, only KECCAK256_WITH_ECDSA on secp256k1', async () => {
    const key = keys.EC.find((k) => k.curveOid === K1) as TestKey;
    const uncompressed = key.spki.subarray(key.spki.length - 65);
    const seen = new Set<number>();
    if (refusedOnToken({ signatureType: 'ETH' })) {
      assertRefusedOnToken(await sign('KECCAK256_WITH_ECDSA', key.label, randomBytes(77), 'ETH'), 'ETH');
      // Verification of r‖s‖v is public-key work and holds on the token too.
      const msg = randomBytes(77);
      const k1 = createPrivateKey({ key: key.pkcs8, format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }).d as string;
      const sig = secp256k1.sign(keccak_256(msg), Buffer.from(k1, 'base64url'), { prehash: false, format: 'recovered' });
      const rsv = Buffer.concat([Buffer.from(sig.subarray(1)), Buffer.from([sig[0] + 27])]);
      assert.equal(await verify('KECCAK256_WITH_ECDSA', key.label, msg, rsv), true, 'verify takes r‖s‖v');
      return;
    }
    for (let i = 0; i < 12; i++) {
      const msg = randomBytes(77);
      const r = await sign('KECCAK256_WITH_ECDSA', key.label, msg, 'ETH');
      assert.equal(r.statusCode, 200, r.body);
      const sig = Buffer.from(r.json().signature, 'base64');
      assert.equal(sig.length, 65);
      const v = sig[64];
      assert.ok(v === 27 || v === 28, `v = ${v}`);
      seen.add(v);
      const recovered = secp256k1.Signature.fromBytes(Buffer.concat([Buffer.from([v - 27]), sig.subarray(0, 64)]), 'recovered').recoverPublicKey(keccak_256(msg)).toBytes(false);
      assert.deepEqual(Buffer.from(recovered), Buffer.from(uncompressed));
      assert.ok(BigInt('0x' + sig.subarray(32, 64).toString('hex')) <= K1_N >> 1n, 'low S (EIP-2)');
      assert.equal(await verify('KECCAK256_WITH_ECDSA', key.label, msg, sig), true, 'verify takes r‖s‖v');
      const wrongV = Buffer.from(sig);
      wrongV[64] = v === 27 ? 28 : 27;
      assert.equal(await verify('KECCAK256_WITH_ECDSA', key.label, msg, wrongV), false, 'a wrong v does not verify');
      assert.equal(await verify('KECCAK256_WITH_ECDSA', key.label, msg, sig.subarray(0, 64)), true, 'r‖s alone verifies');
    }
    assert.ok(seen.size >= 1);
    const p256 = await sign('KECCAK256_WITH_ECDSA', 'ec-secp256r1', Buffer.from('x'), 'ETH');
    assert.equal(p256.statusCode, 400);
    assert.equal(p256.json().errorCode, 607);
    const other = await sign('SHA256_WITH_ECDSA', key.label, Buffer.from('x'), 'ETH');
    assert.equal(other.statusCode, 400);
    assert.equal(other.json().errorCode, 600);
    const rsa = await sign('SHA256_WITH_RSA', 'rsa-2048', Buffer.from('x'), 'ETH');
    assert.equal(rsa.statusCode, 400);
  });

  it('keys created by Warden (not imported) sign too: RSA 3072, EC P-384, Ed25519', async () => {
    for (const spec of [
      { label: 'gen-rsa', algorithm: 'RSA', keySize: 3072, alg: 'SHA384_WITH_RSA_PSS' },
      { label: 'gen-ec', algorithm: 'EC', curveOid: '1.3.132.0.34', alg: 'SHA384_WITH_ECDSA' },
      { label: 'gen-ed', algorithm: 'ED', curveOid: '1.3.101.112', alg: 'EDDSA' },
    ]) {
      const { alg, ...body } = spec;
      const c = await w.call('POST', '/v1/key', { ...body, attributes: { sign: true, decrypt: false, unwrap: false } });
      assert.equal(c.statusCode, 201, c.body);
      const spki = Buffer.from(c.json().json.publicKey, 'base64');
      const pem = files.write(`-----BEGIN PUBLIC KEY-----\n${spki.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PUBLIC KEY-----\n`, 'pem');
      const msg = randomBytes(50);
      const r = await sign(alg, spec.label, msg);
      assert.equal(r.statusCode, 200, r.body);
      const sig = files.write(Buffer.from(r.json().signature, 'base64'));
      const m = files.write(msg);
      const args = alg === 'EDDSA'
        ? ['pkeyutl', '-verify', '-pubin', '-inkey', pem, '-rawin', '-in', m, '-sigfile', sig]
        : ['dgst', '-sha384', ...(alg.endsWith('PSS') ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:48'] : []), '-verify', pem, '-signature', sig, m];
      const v = await openssl(args);
      assert.ok(v.ok, `${alg}: ${v.stderr}${v.stdout}`);
    }
  });

  it('public-key and certificate imports verify but do not sign', async () => {
    const key = keys.EC.find((k) => k.curveName === 'prime256v1') as TestKey;
    const imp = await w.call('POST', '/v1/key/import/plain', { label: 'pub-only', algorithm: 'EC', publicKey: key.spki.toString('base64') });
    assert.equal(imp.statusCode, 201, imp.body);
    const msg = randomBytes(20);
    const r = await sign('SHA256_WITH_ECDSA', key.label, msg);
    const sig = Buffer.from(r.json().signature, 'base64');
    assert.equal(await verify('SHA256_WITH_ECDSA', 'pub-only', msg, sig), true);
    const s = await sign('SHA256_WITH_ECDSA', 'pub-only', msg);
    assert.equal(s.statusCode, 400);
    assert.equal(s.json().errorCode, 614);
    // a self-signed certificate made by openssl, imported alone
    const certFile = files.name('pem');
    const c = await openssl(['req', '-x509', '-new', '-key', key.privatePem, '-subj', '/CN=warden-test', '-days', '2', '-out', certFile, '-outform', 'DER']);
    assert.ok(c.ok, c.stderr);
    const ci = await w.call('POST', '/v1/key/import/plain', { label: 'cert-only', algorithm: 'EC', certificate: files.read(certFile).toString('base64') });
    assert.equal(ci.statusCode, 201, ci.body);
    assert.equal(await verify('SHA256_WITH_ECDSA', 'cert-only', msg, sig), true);
    assert.equal(await verify('SHA256_WITH_ECDSA', 'cert-only', msg, flip(sig)), false);
  });

  it('malformed signatures are 200 false, never an error', async () => {
    const msg = Buffer.from('hello');
    const garbage = [Buffer.alloc(0), Buffer.from([0x30]), Buffer.from([0x30, 0x80, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00, 0x00]), randomBytes(1), randomBytes(64), randomBytes(600), Buffer.alloc(64, 0xff), Buffer.alloc(256)];
    const held = ([, key]: string[]) => !(key === 'dsa-2048' && refusedOnToken({ key: 'DSA' }));
    for (const [alg, key] of [['SHA256_WITH_ECDSA', 'ec-secp256r1'], ['SHA256_WITH_RSA', 'rsa-2048'], ['SHA256_WITH_RSA_PSS', 'rsa-2048'], ['NONE_WITH_RSA', 'rsa-2048'], ['SHA256_WITH_DSA', 'dsa-2048'], ['EDDSA', 'ed25519'], ['KECCAK256_WITH_ECDSA', 'ec-secp256k1'], ['SHA256_WITH_ECDSA_DETERMINISTIC', 'ec-brainpool320r1']].filter(held)) {
      for (const g of garbage) assert.equal(await verify(alg, key, msg, g), false, `${alg} with ${g.length} garbage bytes`);
    }
    const d = sha('sha256', msg);
    for (const [alg, key] of [['NONE_WITH_ECDSA', 'ec-secp521r1'], ['NONE_WITH_DSA', 'dsa-2048'], ['NONESHA256_WITH_RSA', 'rsa-2048'], ['NONE_WITH_RSA_PSS', 'rsa-2048'], ['NONE_WITH_EC_SCHNORR_BIP0340', 'ec-secp256k1']].filter(held)) {
      for (const g of garbage) assert.equal(await verify(alg, key, d, g), false, `${alg} with ${g.length} garbage bytes`);
    }
  });
});
