// Wycheproof signature and HMAC vectors through the HTTP API: each group's key is imported with
// /v1/key/import/plain (publicKey = the group's publicKeyDer; HMAC keys as secretKey) and every vector
// goes through POST /v1/verify. "valid" must verify, "invalid" must not, "acceptable" may do either
// (recorded). Counts of ran/skipped vectors are printed and asserted per file.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ON_POSTGRES } from './helpers/postgres.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { fastDataDir, pool } from './helpers/signature-keys.ts';
import { VectorCounter, checkVector, hasWycheproof, hex, loadWycheproof, type WycheproofGroup } from './helpers/wycheproof.ts';

/**
 * The PostgreSQL pass of `npm test` repeats only the first vectors of each group: the verification
 * code is the same on both dialects and the SQLite pass runs every vector; the rest count as skipped.
 */
const PG_SAMPLE = 8;

/** Wycheproof "sha" names → the hash part of our wire names. */
const HASH: Record<string, string> = { 'SHA-1': 'SHA1', 'SHA-224': 'SHA224', 'SHA-256': 'SHA256', 'SHA-384': 'SHA384', 'SHA-512': 'SHA512', 'SHA3-224': 'SHA3224', 'SHA3-256': 'SHA3256', 'SHA3-384': 'SHA3384', 'SHA3-512': 'SHA3512' };

interface SignatureFile {
  file: string;
  keyAlgorithm: 'EC' | 'ED' | 'RSA' | 'DSA';
  /** Wire algorithm for a group, or a skip reason. */
  algorithm(group: WycheproofGroup): string | { skip: string };
}

const ecdsa = (file: string): SignatureFile => ({ file, keyAlgorithm: 'EC', algorithm: (g) => `${HASH[g.sha as string]}_WITH_ECDSA` });
const dsa = (file: string): SignatureFile => ({ file, keyAlgorithm: 'DSA', algorithm: (g) => `${HASH[g.sha as string]}_WITH_DSA` });

const FILES: SignatureFile[] = [
  ecdsa('ecdsa_secp256r1_sha256_test.json'),
  ecdsa('ecdsa_secp256r1_sha256_p1363_test.json'),
  ecdsa('ecdsa_secp384r1_sha384_test.json'),
  ecdsa('ecdsa_secp384r1_sha384_p1363_test.json'),
  ecdsa('ecdsa_secp521r1_sha512_test.json'),
  ecdsa('ecdsa_secp521r1_sha512_p1363_test.json'),
  ecdsa('ecdsa_secp256k1_sha256_test.json'),
  ecdsa('ecdsa_secp256k1_sha256_p1363_test.json'),
  ecdsa('ecdsa_secp256k1_sha3_256_test.json'),
  { file: 'ed25519_test.json', keyAlgorithm: 'ED', algorithm: () => 'EDDSA' },
  { file: 'rsa_signature_2048_sha256_test.json', keyAlgorithm: 'RSA', algorithm: (g) => `${HASH[g.sha as string]}_WITH_RSA` },
  {
    file: 'rsa_pss_2048_sha256_mgf1_32_test.json', keyAlgorithm: 'RSA',
    // Warden's PSS: MGF1 with the message hash and salt length = digest length (docs/decisions.md).
    algorithm: (g) => {
      const h = HASH[g.sha as string];
      const hLen = { SHA1: 20, SHA224: 28, SHA256: 32, SHA384: 48, SHA512: 64 }[h as 'SHA256'];
      if (g.mgf !== 'MGF1' || g.mgfSha !== g.sha || g.sLen !== hLen) return { skip: 'PSS parameters other than MGF1(same hash), salt = digest length' };
      return `${h}_WITH_RSA_PSS`;
    },
  },
  dsa('dsa_2048_256_sha256_test.json'),
  dsa('dsa_2048_256_sha256_p1363_test.json'),
];

describe('Wycheproof vectors through the HTTP API', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden({ dataDir: fastDataDir() });
  });
  after(async () => {
    await w.close();
  });

  async function verify(label: string, algorithm: string, msg: Buffer, sig: Buffer): Promise<boolean> {
    const r = await w.call('POST', '/v1/verify', {
      verifySignatureRequest: { signKeyName: label, signatureAlgorithm: algorithm, payload: msg.toString('base64'), signature: sig.toString('base64') },
    }, 'keyOperationToken');
    assert.equal(r.statusCode, 200, `a verify call must never fail: ${r.body}`);
    return r.json().signatureValid as boolean;
  }

  for (const spec of FILES) {
    it(spec.file, { skip: !hasWycheproof(spec.file) && 'vector file not present' }, async () => {
      const data = loadWycheproof(spec.file);
      const counter = new VectorCounter(spec.file);
      let rejectedKeys = 0;
      for (const [gi, group] of data.testGroups.entries()) {
        const algorithm = spec.algorithm(group);
        if (typeof algorithm !== 'string') {
          counter.skip(algorithm.skip, group.tests.length);
          continue;
        }
        const label = `wp-${spec.file.replace(/_test\.json$/, '')}-${gi}`;
        const imp = await w.call('POST', '/v1/key/import/plain', { label, algorithm: spec.keyAlgorithm, publicKey: hex(group.publicKeyDer).toString('base64') });
        if (imp.statusCode !== 201) {
          // A public key Warden refuses to import can verify nothing: every vector of the group counts as rejected.
          assert.equal(imp.statusCode, 400, imp.body);
          rejectedKeys++;
          for (const test of group.tests) checkVector(counter, test, false, '(public key refused at import)');
          continue;
        }
        const tests = ON_POSTGRES ? group.tests.slice(0, PG_SAMPLE) : group.tests;
        if (tests.length < group.tests.length) counter.skip('PostgreSQL pass (all vectors run in the SQLite pass)', group.tests.length - tests.length);
        // Calls overlap (async crypto on the threadpool, database round trips on PostgreSQL); results are checked per vector.
        await pool(tests, 8, async (test) => checkVector(counter, test, await verify(label, algorithm, hex(test.msg), hex(test.sig)), `[${algorithm}, group ${gi}]`));
      }
      counter.report(data.numberOfTests);
      if (rejectedKeys) console.log(`[wycheproof] ${spec.file}: ${rejectedKeys} group keys refused at import`);
    });
  }

  it('hmac_sha256_test.json (verifyHmacRequest and synchronousHmac)', { skip: !hasWycheproof('hmac_sha256_test.json') && 'vector file not present' }, async () => {
    const data = loadWycheproof('hmac_sha256_test.json');
    const counter = new VectorCounter('hmac_sha256_test.json');
    for (const [gi, group] of data.testGroups.entries()) {
      // Warden's HMAC is the full 32-byte tag: truncated-tag groups test another algorithm.
      if (group.tagSize !== 256) {
        counter.skip(`truncated tags (${group.tagSize} bits)`, group.tests.length);
        continue;
      }
      const tests = ON_POSTGRES ? group.tests.slice(0, PG_SAMPLE) : group.tests;
      if (tests.length < group.tests.length) counter.skip('PostgreSQL pass (all vectors run in the SQLite pass)', group.tests.length - tests.length);
      for (const test of tests) {
        // Every HMAC vector carries its own key: one imported key per vector.
        const label = `wp-hmac-${gi}-${test.tcId}`;
        const imp = await w.call('POST', '/v1/key/import/plain', { label, algorithm: 'HMACSHA256', secretKey: hex(test.key).toString('base64'), attributes: { sign: true, verify: true } });
        if (imp.statusCode !== 201) {
          // HMACSHA256 keys are 16, 24, 32, 48 or 64 bytes (docs/decisions.md); other sizes are not importable.
          assert.equal(imp.json().errorCode, 603, imp.body);
          counter.skip(`key size ${group.keySize} bits not accepted for HMACSHA256 keys`);
          continue;
        }
        const msg = hex(test.msg);
        const tag = hex(test.tag);
        const v = await w.call('POST', '/v1/verify', { verifyHmacRequest: { keyName: label, payload: msg.toString('base64'), signature: tag.toString('base64') } }, 'keyOperationToken');
        assert.equal(v.statusCode, 200, v.body);
        const m = await w.call('POST', '/v1/synchronousHmac', { hmacRequest: { keyName: label, payload: msg.toString('base64') } }, 'keyOperationToken');
        assert.equal(m.statusCode, 200, m.body);
        const computedMatches = m.json().keyedHash === tag.toString('base64');
        assert.equal(computedMatches, v.json().signatureValid, `tcId ${test.tcId}: synchronousHmac and verify agree`);
        checkVector(counter, test, v.json().signatureValid);
      }
    }
    counter.report(data.numberOfTests);
  });
});
