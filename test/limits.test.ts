// Limits (issue 11, docs/operations.md): the per-client token bucket, concurrent requests per client and
// failed authentications per IP (429 with the spec error body and Retry-After), and the listener's
// header-size limit and timeouts against slow clients (slowloris), tested on a real loopback socket.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../src/server/app.ts';
import { ClientLimiter, jsonDepthExceeds, type LimitsConfig } from '../src/server/limits.ts';
import type { RouteDef } from '../src/api/route.ts';
import { ROLE_KEYS, startTestWarden, type TestWarden } from './helpers/runtime.ts';

const BASE: LimitsConfig = {
  rateLimit: { enabled: true, requestsPerSecond: 2, burst: 3 },
  maxConcurrentPerClient: 0,
  authFailuresPerMinute: 0,
  maxTrackedClients: 100,
  requestTimeoutMs: 300000,
  headersTimeoutMs: 20000,
  keepAliveTimeoutMs: 72000,
  socketIdleTimeoutMs: 0,
  maxHeaderSizeBytes: 16384,
  maxHeadersCount: 100,
  maxJsonDepth: 64,
  connectionsCheckingIntervalMs: 2000,
};

function assert429(r: { statusCode: number; headers: Record<string, unknown>; json(): unknown }): void {
  assert.equal(r.statusCode, 429);
  const b = r.json() as Record<string, unknown>;
  assert.equal(b.errorCode, 429);
  assert.equal(b.reason, 'res.error.too.many.requests');
  assert.equal(typeof b.message, 'string');
  assert.match(String(r.headers['retry-after']), /^[1-9]\d*$/);
}

describe('ClientLimiter (fake clock)', () => {
  it('token bucket: burst at once, then requestsPerSecond; the wait is in whole seconds', () => {
    let t = 0;
    const l = new ClientLimiter(BASE, () => t);
    assert.deepEqual([l.take('a'), l.take('a'), l.take('a')], [0, 0, 0]);
    assert.equal(l.take('a'), 1);
    assert.equal(l.take('b'), 0, 'another client has its own bucket');
    t += 500; // one token back at 2/s
    assert.equal(l.take('a'), 0);
    assert.equal(l.take('a'), 1);
    t += 10_000;
    assert.deepEqual([l.take('a'), l.take('a'), l.take('a'), l.take('a')], [0, 0, 0, 1], 'refills to the burst, not beyond');
  });

  it('off: never refuses', () => {
    const l = new ClientLimiter({ ...BASE, rateLimit: { ...BASE.rateLimit, enabled: false } });
    for (let i = 0; i < 1000; i++) assert.equal(l.take('a'), 0);
  });

  it('concurrency: enter/leave per client', () => {
    const l = new ClientLimiter({ ...BASE, maxConcurrentPerClient: 2 });
    assert.equal(l.enter('a'), true);
    assert.equal(l.enter('a'), true);
    assert.equal(l.enter('a'), false);
    assert.equal(l.enter('b'), true);
    l.leave('a');
    assert.equal(l.inFlight('a'), 1);
    assert.equal(l.enter('a'), true);
    l.leave('a');
    l.leave('a');
    assert.equal(l.inFlight('a'), 0);
  });

  it('failed authentications per IP in a one-minute window', () => {
    let t = 0;
    const l = new ClientLimiter({ ...BASE, authFailuresPerMinute: 3 }, () => t);
    for (let i = 0; i < 2; i++) l.authFailed('1.2.3.4');
    assert.equal(l.authBlocked('1.2.3.4'), 0);
    l.authFailed('1.2.3.4');
    assert.equal(l.authBlocked('1.2.3.4'), 60);
    assert.equal(l.authBlocked('5.6.7.8'), 0);
    t += 45_000;
    assert.equal(l.authBlocked('1.2.3.4'), 15);
    t += 15_000;
    assert.equal(l.authBlocked('1.2.3.4'), 0, 'the window ends');
  });

  it('memory stays bounded under a flood of distinct clients', () => {
    const l = new ClientLimiter({ ...BASE, maxTrackedClients: 100, authFailuresPerMinute: 1 });
    for (let i = 0; i < 10_000; i++) {
      l.take(`ip:${i}`);
      l.authFailed(`10.0.${i >> 8}.${i & 255}`);
    }
    assert.equal(l.trackedClients, 100);
  });
});

describe('JSON nesting depth', () => {
  const nest = (n: number) => JSON.parse('['.repeat(n - 1) + '{}' + ']'.repeat(n - 1)) as unknown;
  it('counts arrays and objects without recursion (200,000 levels)', () => {
    assert.equal(jsonDepthExceeds(nest(64), 64), false);
    assert.equal(jsonDepthExceeds(nest(65), 64), true);
    assert.equal(jsonDepthExceeds({ a: [{ b: { c: [1, 'x', null] } }] }, 5), false);
    assert.equal(jsonDepthExceeds({ a: [{ b: { c: [1, 'x', null] } }] }, 4), true);
    assert.equal(jsonDepthExceeds(nest(200_000), 64), true);
  });

  it('through the API: 64 levels in an ignored field are fine, 65 are 400/600 before any handler', async () => {
    const w = await startTestWarden();
    try {
      const body = (n: number) => `{"label":"no-such-key","ignored":${'['.repeat(n - 1)}{}${']'.repeat(n - 1)}}`;
      const ok = await w.call('POST', '/v1/key/attributes', body(63));
      assert.equal(ok.statusCode, 404, ok.body);
      const deep = await w.call('POST', '/v1/key/attributes', body(64));
      assert.equal(deep.statusCode, 400);
      assert.equal(deep.json().errorCode, 600);
      assert.match(deep.json().message, /nests deeper than 64 levels/);
    } finally {
      await w.close();
    }
  });
});

describe('limits through the API', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden({
      env: { WARDEN_LIMITS_RATE_LIMIT_ENABLED: 'true', WARDEN_LIMITS_RATE_LIMIT_REQUESTS_PER_SECOND: '0.001', WARDEN_LIMITS_RATE_LIMIT_BURST: '3' },
    });
  });
  after(async () => w.close());

  it('rate limit per API key: 429/429 with Retry-After once the burst is spent; other keys unaffected; not audited', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await w.call('GET', '/v1/licenseInfo', undefined, 'serviceToken')).statusCode, 200);
    const refused = await w.call('GET', '/v1/licenseInfo', undefined, 'serviceToken');
    assert429(refused);
    assert.equal((await w.call('GET', '/v1/key', undefined, 'keyManagementToken')).statusCode, 200, 'another client');
    const log = await w.call('GET', '/v1/key', undefined, 'keyManagementToken');
    assert.equal(log.statusCode, 200);
    const metrics = await w.call('GET', '/metrics', undefined, null);
    assert.match(metrics.body, /^warden_limit_refusals_total\{reason="rate"\} 1$/m);
    assert.match(metrics.body, /^warden_http_errors_total\{route="\/v1\/licenseInfo",error_code="429",reason="res.error.too.many.requests"\} 1$/m);
  });

  it('an invented API key never reaches the limiter (401/631 from the auth chain, no bucket per key)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await w.app.inject({ method: 'GET', url: '/v1/licenseInfo', headers: { 'x-api-key': `made-up-${i}` } });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().errorCode, 631);
    }
  });

  it('anonymous (public) routes count per IP address', async () => {
    const from = (ip: string) => w.app.inject({ method: 'GET', url: '/v3/api-docs', remoteAddress: ip });
    for (let i = 0; i < 3; i++) assert.equal((await from('192.0.2.1')).statusCode, 200);
    assert429(await from('192.0.2.1'));
    assert.equal((await from('192.0.2.2')).statusCode, 200);
  });

  it('health probes and scrapes are exempt', async () => {
    for (let i = 0; i < 10; i++) {
      assert.equal((await w.app.inject({ method: 'GET', url: '/health/live', remoteAddress: '192.0.2.9' })).statusCode, 200);
      assert.equal((await w.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '192.0.2.9' })).statusCode, 200);
    }
  });
});

describe('concurrent requests per client', () => {
  it('the (N+1)th request in flight of one client is 429; a slot frees when a response leaves', async () => {
    const w = await startTestWarden({ env: { WARDEN_LIMITS_MAX_CONCURRENT_PER_CLIENT: '2' } });
    const gates: Array<() => void> = [];
    const slow: RouteDef = {
      method: 'GET', url: '/v1/key/limits-test/slow', roles: ['keyManagementToken'], operationId: 'limitsTestSlow', summary: 'test', tags: ['test'], audit: false,
      response: {},
      handler: () => new Promise((resolve) => gates.push(() => resolve({ ok: true }))),
    };
    const app = await buildApp(w.runtime.services, { extraRoutes: [slow] });
    try {
      const call = (role: keyof typeof ROLE_KEYS = 'keyManagementToken') => app.inject({ method: 'GET', url: '/v1/key/limits-test/slow', headers: { 'x-api-key': ROLE_KEYS[role] } });
      const a = call();
      const b = call();
      while (gates.length < 2) await new Promise((r) => setTimeout(r, 5));
      assert429(await call());
      gates.shift()?.();
      assert.equal((await a).statusCode, 200);
      await new Promise((r) => setImmediate(r));
      const c = call();
      while (gates.length < 2) await new Promise((r) => setTimeout(r, 5));
      gates.splice(0).forEach((g) => g());
      assert.equal((await b).statusCode, 200);
      assert.equal((await c).statusCode, 200);
      assert.equal(app.limiter.inFlight('sub:apiKey:keyManagementToken#0'), 0, 'every slot released');
    } finally {
      await app.close();
      await w.close();
    }
  });
});

describe('failed authentications per IP', () => {
  it('after authFailuresPerMinute 401s an address gets 429 even with a good key; other addresses are unaffected', async () => {
    const w = await startTestWarden({ env: { WARDEN_LIMITS_AUTH_FAILURES_PER_MINUTE: '3' } });
    try {
      const from = (ip: string, key: string) => w.app.inject({ method: 'GET', url: '/v1/key', remoteAddress: ip, headers: { 'x-api-key': key } });
      for (let i = 0; i < 3; i++) assert.equal((await from('198.51.100.7', `guess-${i}`)).statusCode, 401);
      assert429(await from('198.51.100.7', ROLE_KEYS.keyManagementToken));
      assert.equal((await from('198.51.100.8', ROLE_KEYS.keyManagementToken)).statusCode, 200);
      assert.match((await w.call('GET', '/metrics', undefined, null)).body, /^warden_limit_refusals_total\{reason="auth-failures"\} 1$/m);
    } finally {
      await w.close();
    }
  });
});

/** Raw HTTP/1.1 over a socket: resolves with what the server sent and how long until it closed. */
function rawExchange(port: number, send: (s: net.Socket) => void | Promise<void>, maxMs = 10_000): Promise<{ text: string; ms: number; closed: boolean }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, ms: Date.now() - started, closed });
    };
    const timer = setTimeout(() => done(false), maxMs);
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('close', () => done(true));
    s.on('error', () => undefined);
    s.on('connect', () => void send(s));
  });
}

describe('listener limits (loopback)', () => {
  let w: TestWarden;
  let port: number;
  before(async () => {
    w = await startTestWarden({
      env: {
        WARDEN_LIMITS_MAX_HEADER_SIZE_BYTES: '2048',
        WARDEN_LIMITS_HEADERS_TIMEOUT_MS: '600',
        WARDEN_LIMITS_REQUEST_TIMEOUT_MS: '1200',
        WARDEN_LIMITS_KEEP_ALIVE_TIMEOUT_MS: '300',
        WARDEN_LIMITS_CONNECTIONS_CHECKING_INTERVAL_MS: '100',
      },
    });
    await w.app.listen({ host: '127.0.0.1', port: 0 });
    port = (w.app.server.address() as AddressInfo).port;
  });
  after(async () => w.close());

  it('headers larger than maxHeaderSizeBytes: 431 and the connection closed', async () => {
    const r = await rawExchange(port, (s) => void s.write(`GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`));
    assert.match(r.text, /^HTTP\/1\.1 431 /);
    assert.equal(r.closed, true);
    const ok = await fetch(`http://127.0.0.1:${port}/health/live`, { headers: { 'x-small': 'a'.repeat(1000) } });
    assert.equal(ok.status, 200);
  });

  it('slowloris: headers trickling in are cut off after headersTimeoutMs (408, closed)', async () => {
    const r = await rawExchange(port, async (s) => {
      s.write('GET /health/live HTTP/1.1\r\nHost: x\r\n');
      for (let i = 0; i < 40 && !s.destroyed; i++) {
        await new Promise((res) => setTimeout(res, 100));
        if (!s.destroyed) s.write(`X-Slow-${i}: a\r\n`);
      }
    });
    assert.equal(r.closed, true);
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.ok(r.ms < 2500, `closed after ${r.ms} ms`);
  });

  it('a body that never finishes is cut off after requestTimeoutMs (408, closed); the server keeps serving', async () => {
    const r = await rawExchange(port, (s) => {
      s.write(`POST /v1/key/attributes HTTP/1.1\r\nHost: x\r\nX-API-KEY: ${ROLE_KEYS.keyManagementToken}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"label":`);
    });
    assert.equal(r.closed, true);
    assert.match(r.text, /^HTTP\/1\.1 408 /);
    assert.ok(r.ms < 3500, `closed after ${r.ms} ms`);
    assert.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 200);
  });

  it('an idle keep-alive connection is closed after keepAliveTimeoutMs', async () => {
    const r = await rawExchange(port, (s) => void s.write('GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.match(r.text, /^HTTP\/1\.1 200 /);
    assert.equal(r.closed, true);
    assert.ok(r.ms < 2000, `closed after ${r.ms} ms`);
  });
});
