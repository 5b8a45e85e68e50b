// `warden keystore migrate --from software --to pkcs11` end to end: keys made on the software keystore,
// the command run (dry run, real run, re-run) against a fresh SoftHSM token, then Warden restarted on
// the token: migrated keys sign on the token (openssl verifies), keep label, attributes and certificate;
// non-extractable, policy, password-protected and system keys are refused and left in place untouched.
// warden-test-db: sqlite-only
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pkcs11js from 'pkcs11js';
import { rawDb } from './helpers/postgres.ts';
import { startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import { openssl, TempFiles } from './helpers/signature-keys.ts';
import { provisionToken, softhsm, SOFTHSM_LIBRARY, type TestToken } from './helpers/softhsm.ts';

const BIN = fileURLToPath(new URL('../bin/warden.mjs', import.meta.url));
const P256 = '1.2.840.10045.3.1.7';
const TOKEN_SEAL_VERSION = 2;
const skip = SOFTHSM_LIBRARY ? false : 'SoftHSM is not installed';

type Outcome = { label: string; result: string; reason?: string };
interface Report { outcomes: Outcome[]; migrated: number; refused: number; alreadyOnToken: number; dryRun: boolean }

function warden(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const clean: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('WARDEN_')) clean[k] = v;
    execFile(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...clean, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

const byLabel = (r: Report) => new Map(r.outcomes.map((o) => [o.label, o]));

describe('warden keystore migrate --from software --to pkcs11', { skip }, () => {
  const dataDir = tempDataDir();
  const files = new TempFiles();
  let token: TestToken;
  let cliEnv: Record<string, string>;
  let certificate: Buffer;
  const sealedVersion = async (label: string) => {
    const db = await rawDb(`sqlite:${dataDir}/warden.db`);
    try {
      const rows = await db.all<{ sealed: Buffer }>('select sealed from keys where label = ?', [label]);
      return rows.length === 0 ? null : Buffer.from(rows[0]?.sealed as Buffer)[0];
    } finally {
      await db.close();
    }
  };

  before(async () => {
    // The software side: keys of every eligibility class, made through the API.
    const w = await startTestWarden({ dataDir, env: { WARDEN_KEYSTORE_TYPE: 'software', WARDEN_DATABASE_URL: `sqlite:${dataDir}/warden.db` } });
    const mk = async (body: Record<string, unknown>) => {
      const r = await w.call('POST', '/v1/key', body);
      assert.equal(r.statusCode, 201, r.body);
    };
    await mk({ label: 'mig-ec', algorithm: 'EC', curveOid: P256, attributes: { sign: true, extractable: true } });
    await mk({ label: 'mig-rsa', algorithm: 'RSA', keySize: 2048, attributes: { sign: true, extractable: true } });
    await mk({ label: 'mig-aes', algorithm: 'AES', keySize: 256, attributes: { encrypt: true, decrypt: true, extractable: true } });
    await mk({ label: 'stay-nonext', algorithm: 'EC', curveOid: P256, attributes: { sign: true, extractable: false } });
    await mk({ label: 'stay-pw', algorithm: 'EC', curveOid: P256, password: 'secret', attributes: { sign: true, extractable: true } });
    await mk({ label: 'stay-policy', algorithm: 'EC', curveOid: P256, attributes: { sign: true }, policy: { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null, keyStatus: { blocked: false } } });
    // A certificate on a migrated key (any DER certificate: the keystore stores it as metadata).
    const keyPem = files.name('pem');
    const certDer = files.name('der');
    const r = await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyPem, '-subj', '/CN=migrate', '-days', '1', '-outform', 'DER', '-out', certDer]);
    assert.ok(r.ok, r.stderr);
    certificate = files.read(certDer);
    await w.runtime.services.keystore.setCertificate('mig-ec', certificate);
    await w.close(false);
    token = provisionToken();
    cliEnv = { WARDEN_DATA_DIR: dataDir, WARDEN_DATABASE_URL: `sqlite:${dataDir}/warden.db`, ...token.env };
  });
  after(() => files.remove());

  it('--dry-run reports what would move and what is refused, and changes nothing', async () => {
    const r = await warden(['keystore', 'migrate', '--from', 'software', '--to', 'pkcs11', '--dry-run', '--json'], cliEnv);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    const o = byLabel(report);
    assert.equal(report.dryRun, true);
    for (const l of ['mig-ec', 'mig-rsa', 'mig-aes']) assert.equal(o.get(l)?.result, 'would-migrate', l);
    assert.match(o.get('stay-nonext')?.reason ?? '', /not extractable/);
    assert.match(o.get('stay-pw')?.reason ?? '', /password/);
    assert.match(o.get('stay-policy')?.reason ?? '', /policy/);
    assert.notEqual(o.get('attestation-key')?.result, 'would-migrate', 'system keys never move');
    for (const l of ['mig-ec', 'mig-rsa', 'mig-aes', 'stay-nonext']) assert.notEqual(await sealedVersion(l), TOKEN_SEAL_VERSION, `${l} is still a software row`);
    // Opening the token to look must not replace the system keys of a directory that may stay on software.
    const attestation = await sealedVersion('attestation-key');
    assert.notEqual(attestation, null, 'the dry run left the attestation key in place');
    assert.notEqual(attestation, TOKEN_SEAL_VERSION);
  });

  it('moves the eligible keys; a second run finds them on the token and does nothing', async () => {
    const r = await warden(['keystore', 'migrate', '--from', 'software', '--to', 'pkcs11', '--json'], cliEnv);
    assert.equal(r.code, 0, r.stderr);
    const first = JSON.parse(r.stdout) as Report;
    const o = byLabel(first);
    for (const l of ['mig-ec', 'mig-rsa', 'mig-aes']) {
      assert.equal(o.get(l)?.result, 'migrated', l);
      assert.equal(await sealedVersion(l), TOKEN_SEAL_VERSION, `${l} is sealed by the token now`);
    }
    for (const l of ['stay-nonext', 'stay-pw', 'stay-policy']) {
      assert.equal(o.get(l)?.result, 'refused', l);
      assert.notEqual(await sealedVersion(l), TOKEN_SEAL_VERSION, `${l} left in software`);
    }
    assert.equal(first.migrated, 3);
    const again = await warden(['keystore', 'migrate', '--from', 'software', '--to', 'pkcs11', '--json'], cliEnv);
    assert.equal(again.code, 0, again.stderr);
    const second = JSON.parse(again.stdout) as Report;
    assert.equal(second.migrated, 0);
    for (const l of ['mig-ec', 'mig-rsa', 'mig-aes']) assert.equal(byLabel(second).get(l)?.result, 'already-on-token', l);
    assert.equal(second.refused, first.refused, 'the same keys are refused again');
  });

  describe('Warden on the token afterwards', () => {
    let w: TestWarden;
    before(async () => {
      w = await startTestWarden({ dataDir, env: cliEnv });
    });
    after(async () => {
      await w.close();
      token.wipe();
    });

    it('a migrated key signs on the token and openssl verifies the signature', async () => {
      const payload = randomBytes(200);
      for (const [label, alg] of [['mig-ec', 'SHA256_WITH_ECDSA'], ['mig-rsa', 'SHA256_WITH_RSA']]) {
        const s = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: payload.toString('base64'), payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: alg, signatureType: 'DER' } }, 'keyOperationToken');
        assert.equal(s.statusCode, 200, s.body);
        const attrs = await w.call('POST', '/v1/key/attributes', { label });
        assert.equal(attrs.statusCode, 200, attrs.body);
        const json = attrs.json().json as { publicKey: string; attributes: Record<string, boolean>; label: string };
        assert.equal(json.label, label);
        assert.equal(json.attributes.extractable, true);
        assert.equal(json.attributes.sign, true);
        const pub = files.write(Buffer.from(json.publicKey, 'base64'), 'der');
        const v = await openssl(['dgst', '-sha256', '-keyform', 'DER', '-verify', pub, '-signature', files.write(Buffer.from(s.json().signature, 'base64')), files.write(payload)]);
        assert.ok(v.ok && /Verified OK/.test(v.stdout), `${label}: ${v.stdout}${v.stderr}`);
      }
    });

    it('the certificate came along, and the key material is on the token', async () => {
      const r = await w.call('POST', '/v1/key/attributes', { label: 'mig-ec' });
      assert.equal(r.statusCode, 200, r.body);
      const ks = w.runtime.services.keystore;
      assert.equal(ks.type, 'pkcs11');
      assert.deepEqual((await ks.peek('mig-ec'))?.certificate, certificate);
      // Private EC, private RSA and the AES secret are objects on the token.
      const p = softhsm();
      const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.label) as Buffer;
      const s = p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
      try {
        p.C_Login(s, pkcs11js.CKU_USER, token.pin);
      } catch (e) {
        if (!(e as Error).message.startsWith('CKR_USER_ALREADY_LOGGED_IN')) throw e;
      }
      const count = (cls: number) => {
        p.C_FindObjectsInit(s, [{ type: pkcs11js.CKA_CLASS, value: cls }, { type: pkcs11js.CKA_TOKEN, value: true }]);
        const n = p.C_FindObjects(s, 1000).length;
        p.C_FindObjectsFinal(s);
        return n;
      };
      assert.ok(count(pkcs11js.CKO_PRIVATE_KEY) >= 2, 'EC and RSA private keys on the token');
      assert.ok(count(pkcs11js.CKO_SECRET_KEY) >= 1, 'the AES key on the token');
      p.C_CloseSession(s);
    });

    it("Warden's own system keys are new ones on the token, not copies", async () => {
      assert.equal(await sealedVersion('attestation-key'), TOKEN_SEAL_VERSION);
      const r = await w.call('GET', '/v1/attestation/certificate');
      assert.equal(r.statusCode, 200, r.body);
      assert.ok(r.rawPayload.length > 100, 'a certificate of the new attestation key');
    });

    it('a refused key is still the software row it was (not copied, not deleted)', async () => {
      const db = await rawDb(`sqlite:${dataDir}/warden.db`);
      try {
        const rows = await db.all<{ label: string }>("select label from keys where label like 'stay-%' order by label");
        assert.deepEqual(rows.map((r) => r.label), ['stay-nonext', 'stay-policy', 'stay-pw']);
      } finally {
        await db.close();
      }
      for (const l of ['stay-nonext', 'stay-pw', 'stay-policy']) assert.notEqual(await sealedVersion(l), TOKEN_SEAL_VERSION, l);
    });
  });
});
