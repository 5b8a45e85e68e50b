// Fault injection, remote dependencies (issue 11): a JWKS endpoint and an OCSP responder that accept the
// connection and never answer. Calls must still be answered within the configured timeouts (401 with the
// spec error body: 617 for the token, 402 for the certificate; 200 with OCSP fail-open), concurrent calls
// must not pile up one timeout each, and the process keeps serving other requests meanwhile.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import { createPki, type Pki } from './helpers/pki.ts';
import { ROLE_KEYS, startTestWarden, tempDataDir, type TestWarden } from './helpers/runtime.ts';
import { httpsRequest, startWarden, type RunningWarden } from './helpers/tls-warden.ts';

/** Runs of each scenario (scripts/fault-injection.ts --repeat N sets it). */
const REPEAT = Number(process.env.WARDEN_FAULT_REPEAT ?? 1);
const runs = Array.from({ length: REPEAT }, (_, i) => i + 1);

/** A TCP server that accepts connections and never sends a byte (a hung upstream). */
async function silentServer(): Promise<{ url: string; connections: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let count = 0;
  const srv = net.createServer((s) => {
    count++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => count,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      srv.close(() => resolve());
    }),
  };
}

describe('a hanging JWKS endpoint', () => {
  let w: TestWarden;
  let jwks: Awaited<ReturnType<typeof silentServer>>;
  let token: string;
  before(async () => {
    jwks = await silentServer();
    w = await startTestWarden({
      env: {
        WARDEN_JWT_ENABLED: 'true',
        WARDEN_JWT_JWKS_URL: `${jwks.url}/jwks.json`,
        WARDEN_JWT_ISSUER: 'https://idp.test',
        WARDEN_JWT_AUDIENCE: 'warden',
        WARDEN_JWT_JWKS_TIMEOUT_MS: '400',
        WARDEN_JWT_JWKS_COOLDOWN_SECONDS: '0',
      },
    });
    const { privateKey } = await generateKeyPair('ES256');
    token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://idp.test')
      .setAudience('warden')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  });
  after(async () => {
    await w.close();
    await jwks.close();
  });

  const call = () => w.app.inject({ method: 'GET', url: '/v1/key', headers: { authorization: `Bearer ${token}`, 'x-api-key': ROLE_KEYS.keyManagementToken } });

  for (const run of runs) it(`run ${run}/${REPEAT}: answers 401/617 within the JWKS timeout, for one call and for ten at once; other routes keep serving`, async () => {
    let t0 = Date.now();
    const r = await call();
    let ms = Date.now() - t0;
    assert.equal(r.statusCode, 401, r.body);
    assert.equal(r.json().errorCode, 617);
    assert.match(r.json().reason, /^res\.error\.invalid\.access\.token$/);
    assert.ok(ms < 2500, `first call answered after ${ms} ms`);
    t0 = Date.now();
    const [many, live] = await Promise.all([Promise.all(Array.from({ length: 10 }, () => call())), w.app.inject({ method: 'GET', url: '/health/live' })]);
    ms = Date.now() - t0;
    assert.equal(live.statusCode, 200);
    for (const x of many) assert.equal(x.json().errorCode, 617);
    assert.ok(ms < 4000, `ten concurrent calls answered after ${ms} ms`);
    assert.ok(jwks.connections() >= 1);
    process.stdout.write(`# hanging JWKS: 401/617 after ${ms} ms for 10 concurrent calls, ${jwks.connections()} connection(s) to the endpoint\n`);
  });
});

describe('a hanging OCSP responder', () => {
  let pki: Pki;
  let ocsp: Awaited<ReturnType<typeof silentServer>>;
  const dataDir = tempDataDir();
  const SV = { 'X-API-KEY': ROLE_KEYS.serviceToken };
  before(async () => {
    pki = await createPki();
    ocsp = await silentServer();
  });
  after(async () => {
    await ocsp.close();
    pki.cleanup();
  });

  const start = (failOpen: boolean): Promise<RunningWarden> =>
    startWarden(
      {
        tls: {
          enabled: true, certificate: pki.server.chain, privateKey: pki.server.key, clientAuthentication: 'need', trustedCertificates: [pki.root.crt],
          ocsp: { enabled: true, responderUrl: ocsp.url, timeoutMs: 500, cacheSeconds: 0, failOpen },
        },
      },
      { dataDir },
    );
  const call = (w: RunningWarden) => httpsRequest(`${w.url}/v1/versionInfo`, { ca: pki.root.crt, client: { cert: pki.client.chain, key: pki.client.key }, headers: SV });

  for (const run of runs) it(`run ${run}/${REPEAT}: fail-closed: 401/402 within the OCSP timeout`, async () => {
    const w = await start(false);
    try {
      const t0 = Date.now();
      const r = await call(w);
      const ms = Date.now() - t0;
      assert.equal(r.status, 401, r.body);
      assert.equal(r.json().errorCode, 402);
      assert.ok(ms < 2500, `answered after ${ms} ms`);
      const five = Date.now();
      const all = await Promise.all(Array.from({ length: 5 }, () => call(w)));
      for (const x of all) assert.equal(x.json().errorCode, 402);
      const fiveMs = Date.now() - five;
      assert.ok(fiveMs < 4000, `five concurrent calls answered after ${fiveMs} ms`);
      process.stdout.write(`# hanging OCSP (fail-closed): 401/402 after ${ms} ms; 5 concurrent after ${fiveMs} ms\n`);
    } finally {
      await w.close();
    }
  });

  for (const run of runs) it(`run ${run}/${REPEAT}: fail-open: 200 within the OCSP timeout`, async () => {
    const w = await start(true);
    try {
      const t0 = Date.now();
      const r = await call(w);
      const ms = Date.now() - t0;
      assert.equal(r.status, 200, r.body);
      assert.ok(ms < 2500, `answered after ${ms} ms`);
    } finally {
      await w.close();
    }
  });
});
