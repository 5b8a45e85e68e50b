// Observability (issue 11, docs/operations.md): Prometheus /metrics (public or behind a bearer token),
// request counts and latencies by route template and status, errors and authentication failures by
// wire errorCode, key operations by algorithm, workflow gauges read at scrape time, request ids, and
// the health endpoints (/health/live, /health/ready with 503 and the error body when not ready).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rawDb } from './helpers/postgres.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { createEcKey, keyLabel, makeApprover, P256, policy, quorumRule, SIGN_ONLY } from './helpers/workflow.ts';

/** Parses the Prometheus text format into `name{labels}` → value. */
function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(w: TestWarden): Promise<Map<string, number>> {
  const r = await w.call('GET', '/metrics', undefined, null);
  assert.equal(r.statusCode, 200, r.body);
  return parseMetrics(r.body);
}

function assertErrorBody(r: { statusCode: number; json(): unknown }, status: number, code: number): void {
  assert.equal(r.statusCode, status);
  const b = r.json() as { errorCode: unknown; reason: unknown; message: unknown };
  assert.equal(b.errorCode, code);
  assert.match(String(b.reason), /^res\.error\./);
  assert.equal(typeof b.message, 'string');
}

describe('/metrics', () => {
  let w: TestWarden;
  before(async () => {
    w = await startTestWarden();
  });
  after(async () => w.close());

  it('is public by default, in the Prometheus text format, with process metrics and the build info', async () => {
    const r = await w.call('GET', '/metrics', undefined, null);
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^# HELP warden_http_requests_total /m);
    assert.match(r.body, /^# TYPE warden_http_request_duration_seconds histogram$/m);
    assert.match(r.body, /^process_resident_memory_bytes \d+/m);
    assert.match(r.body, /^nodejs_eventloop_lag_p99_seconds /m);
    assert.equal(parseMetrics(r.body).get(`warden_build_info{version="${w.runtime.services.version}"}`), 1);
  });

  it('counts requests by method, route template and status, and observes their latency', async () => {
    const label = keyLabel('m');
    assert.equal((await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: SIGN_ONLY })).statusCode, 201);
    for (let i = 0; i < 3; i++) assert.equal((await w.call('GET', `/v1/key/${label}/attributes`)).statusCode, 200);
    assert.equal((await w.call('GET', '/v1/key/no-such-key/attributes')).statusCode, 404);
    const m = await scrape(w);
    assert.equal(m.get('warden_http_requests_total{method="GET",route="/v1/key/:keyName/attributes",status="200"}'), 3);
    assert.equal(m.get('warden_http_requests_total{method="GET",route="/v1/key/:keyName/attributes",status="404"}'), 1);
    assert.equal(m.get('warden_http_requests_total{method="POST",route="/v1/key",status="201"}'), 1);
    assert.equal(m.get('warden_http_request_duration_seconds_count{method="GET",route="/v1/key/:keyName/attributes",status_class="2xx"}'), 3);
    assert.equal(m.get('warden_http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/v1/key/:keyName/attributes",status_class="2xx"}'), 3);
    assert.ok((m.get('warden_http_request_duration_seconds_sum{method="GET",route="/v1/key/:keyName/attributes",status_class="2xx"}') ?? 0) > 0);
    assert.equal(m.get('warden_http_errors_total{route="/v1/key/:keyName/attributes",error_code="650",reason="res.error.key.not.existent"}'), 1);
  });

  it('unknown paths share one route label (bounded cardinality)', async () => {
    for (const p of ['/nope/1', '/nope/2', '/v1/zzz']) assert.equal((await w.call('GET', p)).statusCode, 404);
    const m = await scrape(w);
    assert.ok((m.get('warden_http_requests_total{method="GET",route="unmatched",status="404"}') ?? 0) >= 3);
    assert.equal([...m.keys()].some((k) => k.includes('/nope/')), false);
  });

  it('counts authentication failures by errorCode: 416 missing, 631 wrong API key', async () => {
    const before = await scrape(w);
    const missing = await w.app.inject({ method: 'GET', url: '/v1/key' });
    assertErrorBody(missing, 401, 416);
    for (let i = 0; i < 2; i++) assertErrorBody(await w.app.inject({ method: 'GET', url: '/v1/key', headers: { 'x-api-key': 'wrong' } }), 401, 631);
    assertErrorBody(await w.call('GET', '/v1/key', undefined, 'keyOperationToken'), 401, 631);
    const m = await scrape(w);
    const d = (k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(d('warden_auth_failures_total{error_code="416",reason="res.error.missing.api.key"}'), 1);
    assert.equal(d('warden_auth_failures_total{error_code="631",reason="res.error.invalid.api.key"}'), 3);
  });

  it('counts key operations by operationId, key algorithm and outcome', async () => {
    const ec = keyLabel('m-ec');
    const aes = keyLabel('m-aes');
    assert.equal((await w.call('POST', '/v1/key', { label: ec, algorithm: 'EC', curveOid: P256, attributes: SIGN_ONLY })).statusCode, 201);
    const r = await w.call('POST', '/v1/key', { label: aes, algorithm: 'AES', keySize: 256, attributes: { encrypt: true, decrypt: true, sign: false, unwrap: false, destroyable: true } });
    assert.equal(r.statusCode, 201, r.body);
    const before = await scrape(w);
    for (let i = 0; i < 2; i++) {
      const s = await w.call('POST', '/v1/synchronousSign', { signRequest: { payload: 'AAAA', signKeyName: ec, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken');
      assert.equal(s.statusCode, 200, s.body);
    }
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: aes })).statusCode, 200);
    assert.equal((await w.call('POST', '/v1/key/attributes', { label: 'no-such-key-m' })).statusCode, 404);
    // Key operations are counted after the response has left (onResponse): scrape until they land.
    const signKey = 'warden_key_operations_total{operation="synchronousSign",algorithm="EC",outcome="success"}';
    const missKey = 'warden_key_operations_total{operation="getKeyAttributes",algorithm="unknown",outcome="error"}';
    let m = await scrape(w);
    for (let i = 0; i < 50 && ((m.get(signKey) ?? 0) - (before.get(signKey) ?? 0) < 2 || (m.get(missKey) ?? 0) - (before.get(missKey) ?? 0) < 1); i++) {
      await new Promise((r) => setTimeout(r, 100));
      m = await scrape(w);
    }
    const d = (k: string) => (m.get(k) ?? 0) - (before.get(k) ?? 0);
    assert.equal(d(signKey), 2);
    assert.equal(d('warden_key_operations_total{operation="getKeyAttributes",algorithm="AES",outcome="success"}'), 1);
    assert.equal(d('warden_key_operations_total{operation="getKeyAttributes",algorithm="unknown",outcome="error"}'), 1);
  });

  it('reads pending requests and open approval tasks from the workflow tables at scrape time', async () => {
    const approver = makeApprover('ec');
    const label = keyLabel('m-ska');
    assert.equal((await createEcKey(w, label, policy({ ruleUse: quorumRule(1, [approver]) }))).statusCode, 201);
    const before = await scrape(w);
    for (const s of ['PENDING', 'APPROVED', 'EXECUTED', 'FAILED', 'EXPIRED', 'REJECTED', 'CANCELLED']) assert.ok(before.has(`warden_workflow_requests{status="${s}"}`), s);
    assert.ok(before.has('warden_approval_tasks{state="open"}'));
    const r = await w.call('POST', '/v1/sign', { signRequest: { payload: 'AAAA', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA' } }, 'keyOperationToken');
    assert.equal(r.statusCode, 201, r.body);
    const m = await scrape(w);
    assert.equal((m.get('warden_workflow_requests{status="PENDING"}') ?? 0) - (before.get('warden_workflow_requests{status="PENDING"}') ?? 0), 1);
    assert.equal((m.get('warden_approval_tasks{state="open"}') ?? 0) - (before.get('warden_approval_tasks{state="open"}') ?? 0), 1);
  });

  it('mirrors the limiter, OCSP and JWKS counters (0 when the method is off)', async () => {
    const m = await scrape(w);
    for (const reason of ['rate', 'concurrency', 'auth-failures']) assert.equal(m.get(`warden_limit_refusals_total{reason="${reason}"}`), 0);
    for (const n of ['warden_ocsp_requests_total', 'warden_ocsp_cache_hits_total', 'warden_jwks_fetches_total', 'warden_jwt_cache_hits_total']) assert.equal(m.get(n), 0, n);
  });

  it('gives every response an X-Request-Id (the reqId of its log lines)', async () => {
    const a = await w.call('GET', '/v1/key');
    const b = await w.call('GET', '/v1/key', undefined, null);
    for (const r of [a, b]) assert.match(String(r.headers['x-request-id']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.notEqual(a.headers['x-request-id'], b.headers['x-request-id']);
  });

  it('scrapes and probes are neither audited nor in the OpenAPI document', async () => {
    await w.call('GET', '/metrics', undefined, null);
    await w.call('GET', '/health/ready', undefined, null);
    await w.call('GET', '/health/live', undefined, null);
    const logAfter = await w.call('GET', '/v1/hsm/log?limit=10000', undefined, 'serviceToken');
    assert.equal(logAfter.statusCode, 200);
    assert.match(logAfter.body, /\/v1\/key/, 'the log has entries of earlier calls');
    assert.equal(logAfter.body.includes('/metrics') || logAfter.body.includes('/health/'), false);
    const doc = (await w.call('GET', '/v3/api-docs', undefined, null)).json() as { paths: Record<string, unknown> };
    assert.equal(Object.keys(doc.paths).some((p) => p === '/metrics' || p.startsWith('/health')), false);
  });
});

describe('/metrics with metrics.token', () => {
  const token = 'scrape-token-0123456789';
  it('needs Authorization: Bearer <token> (406 missing, 617 wrong); sha256:<hex> works too', async () => {
    for (const configured of [token, `sha256:${createHash('sha256').update(token).digest('hex')}`]) {
      const w = await startTestWarden({ env: { WARDEN_METRICS_TOKEN: configured } });
      try {
        assertErrorBody(await w.app.inject({ method: 'GET', url: '/metrics' }), 401, 406);
        assertErrorBody(await w.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer nope' } }), 401, 617);
        // An API key is not a metrics token.
        assertErrorBody(await w.call('GET', '/metrics', undefined, 'serviceToken'), 401, 406);
        const ok = await w.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
        assert.equal(ok.statusCode, 200);
        assert.match(ok.body, /warden_http_requests_total/);
      } finally {
        await w.close();
      }
    }
  });

  it('metrics.enabled: false → /metrics is an unknown path (404/622)', async () => {
    const w = await startTestWarden({ env: { WARDEN_METRICS_ENABLED: 'false', WARDEN_METRICS_PROCESS_METRICS: 'false' } });
    try {
      assertErrorBody(await w.call('GET', '/metrics', undefined, null), 404, 622);
    } finally {
      await w.close();
    }
  });
});

describe('/health', () => {
  it('live: 200 UP without a credential; ready: database and keystore UP', async () => {
    const w = await startTestWarden();
    try {
      const live = await w.call('GET', '/health/live', undefined, null);
      assert.equal(live.statusCode, 200);
      assert.deepEqual(live.json(), { status: 'UP' });
      const ready = await w.call('GET', '/health/ready', undefined, null);
      assert.equal(ready.statusCode, 200);
      assert.deepEqual(ready.json(), { status: 'UP', checks: { database: 'UP', keystore: 'UP' } });
    } finally {
      await w.close();
    }
  });

  it('ready: 503/503 naming the keystore when the attestation key no longer opens (edited row), 200 again once repaired', async () => {
    const w = await startTestWarden();
    const db = await rawDb(w.config.database.url);
    try {
      const label = w.config.hsm.attestationKeyName;
      const [row] = await db.all<{ attributes: string }>('select attributes from keys where label = ?', [label]);
      await db.run('update keys set attributes = ? where label = ?', [row.attributes.replace('"sign":true', '"sign":false'), label]);
      const r = await w.call('GET', '/health/ready', undefined, null);
      assertErrorBody(r, 503, 503);
      assert.match((r.json() as { message: string }).message, /^Not ready: keystore: /);
      assert.equal((await w.call('GET', '/health/live', undefined, null)).statusCode, 200, 'live stays UP');
      await db.run('update keys set attributes = ? where label = ?', [row.attributes, label]);
      assert.equal((await w.call('GET', '/health/ready', undefined, null)).statusCode, 200);
    } finally {
      await db.close();
      await w.close();
    }
  });

  it('ready: 503/503 naming the database when it cannot be read', async () => {
    const w = await startTestWarden();
    try {
      await w.runtime.store.close();
      const r = await w.call('GET', '/health/ready', undefined, null);
      assertErrorBody(r, 503, 503);
      assert.match((r.json() as { message: string }).message, /^Not ready: database: /);
      assert.equal((await w.call('GET', '/health/live', undefined, null)).statusCode, 200);
    } finally {
      await w.app.close();
    }
  });
});
