// OCSP for mTLS client certificates (spec multi-authorization §6.5, README decision 4) against a real
// `openssl ocsp` responder: good passes; revoked (next request with cacheSeconds 0), unknown, badly
// signed, replayed, malformed → 401/402; responder down or slow → 401/402 unless failOpen; the cache and
// single-flight keep it to one OCSP call per certificate.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { OcspChecker, OcspError } from '../src/auth/ocsp.ts';
import { createPki, type CertFiles, type OcspResponder, type Pki } from './helpers/pki.ts';
import { ROLE_KEYS, tempDataDir } from './helpers/runtime.ts';
import { curl, httpsRequest, startWarden, type RunningWarden } from './helpers/tls-warden.ts';

const SV = { 'x-api-key': ROLE_KEYS.serviceToken };
const client = (c: CertFiles) => ({ cert: c.chain, key: c.key });
const x509 = (file: string) => new X509Certificate(readFileSync(file));

let pki: Pki;
let dataDir: string;
let responder: OcspResponder | null = null;
before(async () => {
  pki = await createPki();
  dataDir = tempDataDir();
});
after(async () => {
  await responder?.stop();
  pki?.cleanup();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function restartResponder(signer: 'delegated' | 'issuer' | 'rogue' | null = 'delegated'): Promise<void> {
  await responder?.stop();
  responder = signer ? await pki.startOcsp({ signer }) : null;
}

function startWithOcsp(ocsp: Record<string, unknown>): Promise<RunningWarden> {
  return startWarden(
    {
      tls: {
        enabled: true, certificate: pki.server.chain, privateKey: pki.server.key, clientAuthentication: 'need',
        trustedCertificates: [pki.root.crt], ocsp: { enabled: true, timeoutMs: 1500, ...ocsp },
      },
    },
    { dataDir },
  );
}

async function call(w: RunningWarden, cert: CertFiles) {
  return httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(cert), headers: SV });
}

async function assertRefused(w: RunningWarden, cert: CertFiles, message: RegExp): Promise<void> {
  const r = await call(w, cert);
  assert.equal(r.status, 401, r.body);
  assert.equal(r.json().errorCode, 402, r.body);
  assert.match(String(r.json().message), message);
}

describe('OCSP fail-closed, cacheSeconds 0', () => {
  let w: RunningWarden;
  const requests = () => w.app.authChain.mtls?.ocsp?.requests ?? -1;
  before(async () => {
    await restartResponder('delegated');
    w = await startWithOcsp({ cacheSeconds: 0 });
  });
  after(async () => w?.close());

  it('passes a good certificate, asking the responder named in its AIA on every request', async () => {
    const before = requests();
    assert.equal((await call(w, pki.client)).status, 200);
    const r = await curl(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: client(pki.client), headers: SV });
    assert.equal(r.status, 200, r.stderr);
    assert.equal(requests() - before, 2);
  });

  it('accepts a response signed by the issuing CA itself', async () => {
    await restartResponder('issuer');
    assert.equal((await call(w, pki.client)).status, 200);
  });

  it('refuses a response signed by an unrelated key', async () => {
    await restartResponder('rogue');
    await assertRefused(w, pki.client, /not signed by the issuer or an authorised responder/);
  });

  it('refuses a certificate the responder does not know', async () => {
    await restartResponder('delegated');
    const stray = pki.issueClient('not-in-index', { viaCa: false });
    await assertRefused(w, stray, /unknown to its OCSP responder/);
  });

  it('refuses the certificate on the very next request once it is revoked', async () => {
    const victim = pki.issueClient('to-be-revoked');
    await restartResponder('delegated'); // openssl ocsp reads index.txt at start
    assert.equal((await call(w, victim)).status, 200);
    pki.revoke(victim);
    await restartResponder('delegated');
    await assertRefused(w, victim, /revoked/);
  });

  it('refuses every certificate while the responder is down (fail-closed)', async () => {
    await restartResponder(null);
    await assertRefused(w, pki.client, /unavailable.*unreachable/);
  });
});

describe('OCSP failOpen', () => {
  let w: RunningWarden;
  before(async () => {
    w = await startWithOcsp({ cacheSeconds: 0, failOpen: true });
  });
  after(async () => w?.close());

  it('accepts a good certificate while the responder is down', async () => {
    await restartResponder(null);
    assert.equal((await call(w, pki.client)).status, 200);
  });

  it('still refuses revoked and badly signed answers: fail-open covers unreachable only', async () => {
    const victim = pki.issueClient('revoked-fail-open');
    pki.revoke(victim);
    await restartResponder('delegated');
    await assertRefused(w, victim, /revoked/);
    await restartResponder('rogue');
    await assertRefused(w, pki.client, /not signed/);
    await restartResponder('delegated');
  });
});

describe('OCSP cache and single-flight (cacheSeconds 300)', () => {
  let w: RunningWarden;
  const ocsp = () => w.app.authChain.mtls?.ocsp as OcspChecker;
  before(async () => {
    await restartResponder('delegated');
    w = await startWithOcsp({ cacheSeconds: 300 });
  });
  after(async () => w?.close());

  it('sends one OCSP request for 20 concurrent first requests, none for the next ones', async () => {
    const cert = pki.issueClient('cached-client');
    await restartResponder('delegated');
    const before = ocsp().requests;
    const results = await Promise.all(Array.from({ length: 20 }, () => call(w, cert)));
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
    assert.equal(ocsp().requests - before, 1);
    for (let i = 0; i < 5; i++) assert.equal((await call(w, cert)).status, 200);
    assert.equal(ocsp().requests - before, 1);
  });

  it('keeps a cached good answer until it lapses, then sees the revocation', async () => {
    const cert = pki.issueClient('cached-then-revoked');
    await restartResponder('delegated');
    assert.equal((await call(w, cert)).status, 200);
    pki.revoke(cert);
    await restartResponder('delegated');
    assert.equal((await call(w, cert)).status, 200, 'still within the cache window');
    ocsp().clear();
    await assertRefused(w, cert, /revoked/);
  });
});

// ---- the checker alone, against misbehaving responders ------------------------------------------

/** An HTTP server on port 0 that answers OCSP POSTs with `respond(requestBody)`. */
async function fakeResponder(respond: (body: Buffer, res: http.ServerResponse) => void | Promise<void>): Promise<{ url: string; close(): Promise<void> }> {
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void respond(Buffer.concat(chunks), res));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`,
    close: () => new Promise<void>((r) => {
      srv.closeAllConnections();
      srv.close(() => r());
    }),
  };
}

/** Forwards to the real responder. */
async function forward(body: Buffer): Promise<Buffer> {
  const res = await fetch(`http://127.0.0.1:${pki.ocspPort}`, { method: 'POST', body, headers: { 'content-type': 'application/ocsp-request' } });
  return Buffer.from(await res.arrayBuffer());
}

describe('OcspChecker against misbehaving responders', () => {
  let leaf: X509Certificate;
  let issuer: X509Certificate;
  const checker = (url: string, extra: Partial<ConstructorParameters<typeof OcspChecker>[0]> = {}) =>
    new OcspChecker({ responderUrl: url, timeoutMs: 1000, cacheSeconds: 0, requireNonce: true, cacheSize: 10, ...extra });
  const expectError = async (p: Promise<unknown>, kind: 'invalid' | 'unavailable', message: RegExp) =>
    assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof OcspError, String(e));
      assert.equal(e.kind, kind, e.message);
      assert.match(e.message, message);
      return true;
    });

  before(async () => {
    await restartResponder('delegated');
    leaf = x509(pki.client.crt);
    issuer = x509(pki.inter.crt);
  });

  it('answers good through a transparent proxy (the baseline for the cases below)', async () => {
    const proxy = await fakeResponder(async (body, res) => {
      res.end(await forward(body));
    });
    try {
      assert.equal((await checker(proxy.url).query(leaf, issuer)).status, 'good');
    } finally {
      await proxy.close();
    }
  });

  it('refuses a response whose signature was tampered with', async () => {
    const proxy = await fakeResponder(async (body, res) => {
      const resp = await forward(body);
      resp[resp.length - 40] ^= 0x01; // inside the delegated certificate or the signature: either breaks verification
      res.end(resp);
    });
    try {
      await expectError(checker(proxy.url).query(leaf, issuer), 'invalid', /not signed|malformed/);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a replayed response (nonce echo mismatch)', async () => {
    let first: Buffer | null = null;
    const proxy = await fakeResponder(async (body, res) => {
      first ??= await forward(body);
      res.end(first);
    });
    try {
      const c = checker(proxy.url);
      assert.equal((await c.query(leaf, issuer)).status, 'good');
      await expectError(c.query(leaf, issuer), 'invalid', /different nonce/);
    } finally {
      await proxy.close();
    }
  });

  it('treats a silent responder as unavailable after timeoutMs', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const t0 = Date.now();
      await expectError(checker(`http://127.0.0.1:${(silent.address() as net.AddressInfo).port}`, { timeoutMs: 300 }).query(leaf, issuer), 'unavailable', /timed out after 300 ms/);
      assert.ok(Date.now() - t0 < 3000);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
  });

  it('HTTP 500 and tryLater are unavailable; garbage and malformedRequest are invalid', async () => {
    const cases: [string, (res: http.ServerResponse) => void, 'invalid' | 'unavailable', RegExp][] = [
      ['HTTP 500', (res) => res.writeHead(500).end(), 'unavailable', /HTTP 500/],
      ['tryLater', (res) => res.end(Buffer.from('30030a0103', 'hex')), 'unavailable', /tryLater/],
      ['malformedRequest', (res) => res.end(Buffer.from('30030a0101', 'hex')), 'invalid', /responseStatus 1/],
      ['garbage', (res) => res.end(Buffer.from('not an OCSP response')), 'invalid', /malformed/],
    ];
    for (const [name, respond, kind, message] of cases) {
      const fake = await fakeResponder((_b, res) => respond(res));
      try {
        await expectError(checker(fake.url).query(leaf, issuer), kind, message);
      } finally {
        await fake.close();
      }
      assert.ok(name);
    }
  });

  it('caches for min(nextUpdate, cacheSeconds): a response with nextUpdate in 5 min is re-asked after 6', async () => {
    let offset = 0;
    const c = new OcspChecker({ responderUrl: null, timeoutMs: 1000, cacheSeconds: 3600, requireNonce: true, cacheSize: 10, now: () => Date.now() + offset });
    await c.status(leaf, issuer);
    await c.status(leaf, issuer);
    assert.equal(c.requests, 1);
    offset = 6 * 60 * 1000;
    await c.status(leaf, issuer);
    assert.equal(c.requests, 2);
  });
});
