// Asynchronous certificate requests on keys with a policy (spec api §4.12.8): /v1/certificate/selfsign,
// /v1/certificate/request and /v1/certificate/sign answer 201 with signRequestId and run once approved;
// results checked with openssl.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { approve, keyLabel, listTasks, makeApprover, policy, quorumRule, requestStatus } from './helpers/workflow.ts';

const openssl = (args: string[], cwd: string) => spawnSync('openssl', args, { cwd, encoding: 'utf8' });
const pem = (label: string, der: Buffer) => `-----BEGIN ${label}-----\n${der.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END ${label}-----\n`;

describe('workflow: asynchronous certificate requests', () => {
  let w: TestWarden;
  const a = makeApprover('ec');
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-wfcert-'));
  let ca: string;

  before(async () => {
    w = await startTestWarden({ env: { WARDEN_GENERAL_HSM_REQUESTS_TIMER_SERVICE_INTERVAL: '0' } });
    ca = keyLabel('ca');
    const r = await w.call('POST', '/v1/key', { label: ca, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: { sign: true }, policy: policy({ ruleUse: quorumRule(1, [a]) }) });
    assert.equal(r.statusCode, 201, r.body);
  });
  after(async () => w.close());

  async function run(url: string, body: unknown): Promise<string> {
    const r = await w.call('POST', url, body, 'keyOperationToken');
    assert.equal(r.statusCode, 201, r.body);
    const id = r.json().signRequestId as string;
    assert.equal((await requestStatus(w, id)).status, 'PENDING');
    const [task] = await listTasks(w, a, { requestId: id, detailLevel: 'level3' });
    assert.ok(task.signedSelfSignCertificateRequestDto || task.signedCertificateRequestRequest || task.signedSignCertificateRequest, 'the original request is shown');
    await approve(w, a, id);
    const s = await requestStatus(w, id);
    assert.equal(s.status, 'EXECUTED', JSON.stringify(s));
    return s.result as string;
  }

  it('selfsign: result "true", the CA certificate is stored with the key; synchronous calls need approvals (401)', async () => {
    const sync = await w.call('POST', '/v1/certificate/synchronous/selfsign', { signKeyName: ca, signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'Workflow CA', certificateAuthority: true }, 'keyOperationToken');
    assert.equal(sync.statusCode, 401, sync.body);
    assert.equal(sync.json().errorCode, 401);
    const result = await run('/v1/certificate/selfsign', {
      selfSignCertificateRequest: { signKeyName: ca, signatureAlgorithm: 'SHA256_WITH_ECDSA', validity: 30, commonName: 'Workflow CA', certificateAuthority: true, keyUsage: ['KEY_CERT_SIGN', 'CRL_SIGN'], metaData: null },
      requestSignature: null,
    });
    assert.equal(result, 'true');
    const cert = await w.call('GET', `/v1/certificate/${ca}`, undefined, 'keyOperationToken');
    assert.equal(cert.statusCode, 200, cert.body);
    writeFileSync(path.join(dir, 'ca.pem'), pem('CERTIFICATE', Buffer.from(cert.json().certificate, 'base64')));
    const v = openssl(['verify', '-CAfile', 'ca.pem', 'ca.pem'], dir);
    assert.equal(v.status, 0, v.stdout + v.stderr);
  });

  it('request: the result is a PEM CSR that openssl verifies', async () => {
    const csr = await run('/v1/certificate/request', {
      csrSignRequest: { signKeyName: ca, signatureAlgorithm: 'SHA256_WITH_ECDSA', validity: 30, standardCertificateAttributes: { commonName: 'ska.example' }, metaData: null },
    });
    assert.match(csr, /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----/);
    writeFileSync(path.join(dir, 'req.pem'), csr);
    const v = openssl(['req', '-in', 'req.pem', '-verify', '-noout', '-subject'], dir);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout + v.stderr, /ska\.example/);
  });

  it('sign: the CA key with a policy signs a leaf CSR; openssl verifies the chain', async () => {
    const gen = openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'leaf.key', '-subj', '/CN=leaf', '-out', 'leaf.csr'], dir);
    assert.equal(gen.status, 0, gen.stderr);
    const csrText = spawnSync('cat', [path.join(dir, 'leaf.csr')], { encoding: 'utf8' }).stdout;
    const certPem = await run('/v1/certificate/sign', {
      signCertificateRequest: { signKeyName: ca, signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'leaf.example', certificateSigningRequest: csrText, keyUsage: ['DIGITAL_SIGNATURE'] },
    });
    writeFileSync(path.join(dir, 'leaf.pem'), certPem.endsWith('\n') ? certPem : certPem + '\n');
    const v = openssl(['verify', '-CAfile', 'ca.pem', 'leaf.pem'], dir);
    assert.equal(v.status, 0, v.stdout + v.stderr);
    const bad = await w.call('POST', '/v1/certificate/sign', { signCertificateRequest: { signKeyName: ca, signatureAlgorithm: 'SHA256_WITH_ECDSA', commonName: 'x', certificateSigningRequest: 'garbage' } }, 'keyOperationToken');
    assert.equal(bad.statusCode, 400, bad.body);
  });
});
