// Mutual TLS on a real HTTPS listener (spec multi-authorization §6.4, README decision 4), driven by
// node's https client and by curl: `need` fails the handshake without a trusted certificate (none,
// untrusted, expired); chains through an intermediate are accepted; `want` lets the chain answer 401/402;
// the certificate lands in the audit trail; certificate→role mapping; PKCS#12 server key store.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import tls from 'node:tls';
import { createPki, type CertFiles, type Pki } from './helpers/pki.ts';
import { curl, httpsRequest, startWarden, type RunningWarden } from './helpers/tls-warden.ts';
import { ROLE_KEYS, tempDataDir } from './helpers/runtime.ts';
import { httpsOptions } from '../src/server/tls.ts';

const SV = { 'x-api-key': ROLE_KEYS.serviceToken };
const KM = { 'x-api-key': ROLE_KEYS.keyManagementToken };
const client = (c: CertFiles) => ({ cert: c.chain, key: c.key });
const fingerprint = (c: CertFiles) => 'sha256:' + new X509Certificate(readFileSync(c.crt)).fingerprint256.replace(/:/g, '').toLowerCase();

// One PKI and one data directory for the whole file (key generation is the slow part of a start).
let pki: Pki;
let dataDir: string;
before(async () => {
  pki = await createPki();
  dataDir = tempDataDir();
});
after(() => {
  pki?.cleanup();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});
const start = (config: Record<string, unknown>) => startWarden(config, { dataDir });

function tlsConfig(pki: Pki, clientAuthentication: 'need' | 'want' | 'none', extra: Record<string, unknown> = {}) {
  return {
    tls: {
      enabled: true,
      certificate: pki.server.chain,
      privateKey: pki.server.key,
      clientAuthentication,
      trustedCertificates: [pki.root.crt],
      ...extra,
    },
  };
}

describe('mTLS: clientAuthentication need', () => {
  let w: RunningWarden;
  before(async () => {
    w = await start(tlsConfig(pki, 'need'));
  });
  after(async () => w?.close());

  it('accepts a client certificate issued through the intermediate (node https)', async () => {
    const r = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client), headers: SV });
    assert.equal(r.status, 200, r.body);
  });

  it('accepts the same certificate with curl, and one issued by the root directly', async () => {
    const r = await curl(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client), headers: SV });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.status, 200, r.body);
    const direct = await curl(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.clientRoot), headers: SV });
    assert.equal(direct.status, 200, direct.stderr);
  });

  it('still requires the API key of the route (every enabled method must pass)', async () => {
    const none = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client) });
    assert.equal(none.status, 401);
    assert.equal(none.json().errorCode, 416);
    const wrong = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client), headers: KM });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json().errorCode, 631);
  });

  for (const [what, pick] of [
    ['no certificate', () => null],
    ['an untrusted certificate', (p: Pki) => client(p.untrusted)],
    ['an expired certificate', (p: Pki) => client(p.expired)],
  ] as const) {
    it(`fails the handshake for ${what} (node https and curl)`, async () => {
      const c = pick(pki);
      await assert.rejects(httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: c, headers: SV }), (e: NodeJS.ErrnoException) => {
        assert.match(String(e.code ?? e.message), /ECONNRESET|EPIPE|ERR_SSL|alert|socket hang up/i);
        return true;
      });
      const r = await curl(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: c, headers: SV });
      assert.notEqual(r.code, 0, `curl should fail: ${r.status} ${r.body}`);
      assert.equal(r.status, 0);
    });
  }

  it('records the certificate subject and fingerprint as the principal in the audit trail', async () => {
    const r = await httpsRequest(`${w.url}/v1/key/attributes`, {
      ca: pki.root.crt, client: client(pki.client), headers: KM, method: 'POST', body: JSON.stringify({ label: 'mtls-audit-probe' }),
    });
    assert.equal(r.status, 404, r.body);
    const entries = await w.runtime.services.audit.query({ limit: 1000 });
    const e = entries.reverse().find((x) => x.key_label === 'mtls-audit-probe');
    assert.ok(e, 'audit entry written');
    assert.equal(e.principal, `mtls:CN=warden-client;${fingerprint(pki.client)} apiKey:keyManagementToken#0`);
    const details = JSON.parse(e.details ?? '{}');
    assert.deepEqual(details.auth, ['mtls', 'apiKey']);
    assert.equal(details.certificateFingerprint, fingerprint(pki.client));
  });

  it('speaks TLS 1.2 and 1.3 only', async () => {
    assert.equal(httpsOptions({ ...w.runtime.services.config.tls }).minVersion, 'TLSv1.2');
    const proto = await new Promise<string | null>((resolve, reject) => {
      const s = tls.connect({ port: w.port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(pki.root.crt), cert: readFileSync(pki.client.chain), key: readFileSync(pki.client.key) }, () => {
        resolve(s.getProtocol());
        s.end();
      });
      s.on('error', reject);
    });
    assert.equal(proto, 'TLSv1.3');
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tls.connect({ port: w.port, host: '127.0.0.1', servername: 'localhost', ca: readFileSync(pki.root.crt), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' }, () => resolve(s));
        s.on('error', reject);
      }),
    );
  });
});

describe('mTLS: clientAuthentication want', () => {
  let w: RunningWarden;
  before(async () => {
    w = await start(tlsConfig(pki, 'want'));
  });
  after(async () => w?.close());

  it('accepts a call without a certificate (API key alone) and one with a trusted certificate', async () => {
    const none = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, headers: SV });
    assert.equal(none.status, 200, none.body);
    const withCert = await curl(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client), headers: SV });
    assert.equal(withCert.status, 200, withCert.stderr);
  });

  for (const [what, pick] of [
    ['an untrusted', (p: Pki) => client(p.untrusted)],
    ['an expired', (p: Pki) => client(p.expired)],
  ] as const) {
    it(`answers 401/402 to ${what} certificate`, async () => {
      const r = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: pick(pki), headers: SV });
      assert.equal(r.status, 401, r.body);
      assert.equal(r.json().errorCode, 402);
      const c = await curl(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: pick(pki), headers: SV });
      assert.equal(c.status, 401);
      assert.equal(JSON.parse(c.body).errorCode, 402);
    });
  }
});

describe('mTLS: certificate → role mapping, intermediates in the trust list, PKCS#12', () => {
  let w: RunningWarden;
  before(async () => {
    // API keys off: the certificate mapping alone authorizes. The intermediate is listed too, so a client
    // may send its bare certificate.
    w = await start({
      ...tlsConfig(pki, 'need', {
        keyStore: pki.p12(pki.server, 'p12-secret'),
        keyStorePassword: 'p12-secret',
        certificate: undefined,
        privateKey: undefined,
        trustedCertificates: [pki.root.crt, pki.inter.crt],
        clientCertificateRoles: { [fingerprint(pki.client)]: ['keyManagementToken'], 'CN=second-client': ['serviceToken', 'keyOperationToken'] },
      }),
      apiAuthentication: { enabled: false },
    });
  });
  after(async () => w?.close());

  it('maps by fingerprint: the key-management certificate reaches /v1/key but not /v1/versionInfo', async () => {
    const ok = await httpsRequest(`${w.url}/v1/key`, { ca: pki.root.crt, client: client(pki.client) });
    assert.equal(ok.status, 200, ok.body);
    const no = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client) });
    assert.equal(no.status, 401);
    assert.equal(no.json().errorCode, 402);
  });

  it('maps by CN, and refuses a trusted but unmapped certificate', async () => {
    const second = pki.issueClient('second-client');
    const ok = await curl(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(second) });
    assert.equal(ok.status, 200, ok.stderr + ok.body);
    const third = pki.issueClient('third-client');
    const no = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(third) });
    assert.equal(no.status, 401);
    assert.equal(no.json().errorCode, 402);
  });

  it('completes a bare client certificate from the intermediate in the trust list', async () => {
    const bare = { cert: pki.client.crt, key: pki.client.key };
    const r = await curl(`${w.url}/v1/key`, { ca: pki.root.crt, client: bare });
    assert.equal(r.status, 200, r.stderr + r.body);
  });
});

describe('mTLS: trust list with the root only', () => {
  it('refuses a bare certificate whose intermediate is neither sent nor listed', async () => {
    const w = await start(tlsConfig(pki, 'need'));
    try {
      await assert.rejects(httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: { cert: pki.client.crt, key: pki.client.key }, headers: SV }));
      const ok = await httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client), headers: SV });
      assert.equal(ok.status, 200);
    } finally {
      await w.close();
    }
  });
});

describe('TLS config errors fail the start naming the property', () => {
  it('missing certificate, unreadable trust file, empty trust list', async () => {
    await assert.rejects(start({ tls: { enabled: true, privateKey: pki.server.key } }), /tls\.certificate/);
    const base = tlsConfig(pki, 'need').tls as Parameters<typeof httpsOptions>[0];
    assert.throws(() => httpsOptions({ ...base, trustedCertificates: ['/nonexistent/ca.pem'] }), /tls\.trustedCertificates\[0\].*ENOENT/);
    assert.throws(() => httpsOptions({ ...base, trustedCertificates: [] }), /tls\.trustedCertificates/);
    assert.throws(() => httpsOptions({ ...base, keyStore: 'x.p12' }), /either keyStore or certificate/);
  });
});
