// JWT bearer tokens (spec multi-authorization §6.3, README decision 3) against a local JWKS server on
// port 0: the attack suite (alg none, HS256 with the RSA public key, wrong signature, expired, nbf,
// iss, aud, unknown kid, tampered payload, jku/x5u/x5c/jwk, unknown crit, missing exp) → 401/617,
// missing → 401/406; RS256, PS256, ES256 and EdDSA accepted; a rotated JWKS key picked up without a
// restart; roles and tenant claims; static PEM/JWK keys; approver endpoints ignore JWTs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Type } from '@sinclair/typebox';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../src/server/app.ts';
import type { RouteDef } from '../src/api/route.ts';
import { ROLE_KEYS, startTestWarden, type TestWarden } from './helpers/runtime.ts';

const ISS = 'https://idp.warden.test';
const AUD = 'warden';

interface TestKey {
  alg: 'RS256' | 'PS256' | 'ES256' | 'EdDSA';
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(alg: TestKey['alg'], kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, jwk };
}

/** A JWKS endpoint whose key list the test can change; counts fetches. */
async function jwksServer(keys: () => JWK[]): Promise<{ url: string; fetches: number; close(): Promise<void> }> {
  const state = { url: '', fetches: 0, close: async () => {} };
  const srv = http.createServer((_req, res) => {
    state.fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: keys() }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/.well-known/jwks.json`;
  state.close = () => new Promise<void>((r) => {
    srv.closeAllConnections();
    srv.close(() => r());
  });
  return state;
}

const now = () => Math.floor(Date.now() / 1000);

function token(key: TestKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', iss: ISS, aud: AUD, iat: now(), exp: now() + 600, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS made by hand, so headers jose would refuse to produce can be tested. */
function rawJws(header: Record<string, unknown>, payload: Record<string, unknown>, sign: (data: Buffer) => Buffer): string {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${sign(Buffer.from(input)).toString('base64url')}`;
}

const validClaims = () => ({ iss: ISS, aud: AUD, sub: 'mallory', iat: now(), exp: now() + 600 });

function assertError(r: LightMyRequestResponse, status: number, code: number, what: string): void {
  assert.equal(r.statusCode, status, `${what}: ${r.body}`);
  assert.equal(r.json().errorCode, code, `${what}: ${r.body}`);
}

function probeRoute(url: string): RouteDef {
  return {
    method: 'POST', url, roles: ['approverToken'], operationId: 'jwtProbe', summary: 'probe', tags: ['Test'], audit: false,
    response: { 200: Type.Object({ ok: Type.Boolean() }) },
    handler: async () => ({ ok: true }),
  };
}

describe('JWT via a JWKS URL', () => {
  let w: TestWarden;
  let jwks: Awaited<ReturnType<typeof jwksServer>>;
  let attackerJwks: Awaited<ReturnType<typeof jwksServer>>;
  let keys: TestKey[];
  let served: JWK[];
  let attacker: TestKey;
  let attackerNode: KeyObject;

  const get = (authorization?: string, url = '/v1/versionInfo', apiKey: string | null = ROLE_KEYS.serviceToken) =>
    w.app.inject({ method: 'GET', url, headers: { ...(authorization !== undefined ? { authorization } : {}), ...(apiKey ? { 'x-api-key': apiKey } : {}) } });
  const bearer = (t: string) => `Bearer ${t}`;

  before(async () => {
    keys = await Promise.all([makeKey('RS256', 'rs-1'), makeKey('PS256', 'ps-1'), makeKey('ES256', 'es-1'), makeKey('EdDSA', 'ed-1')]);
    served = keys.map((k) => k.jwk);
    jwks = await jwksServer(() => served);
    attacker = await makeKey('RS256', 'attacker-1');
    attackerNode = createPrivateKey({ key: (await exportJWK(attacker.privateKey)) as JsonWebKey, format: 'jwk' });
    attackerJwks = await jwksServer(() => [attacker.jwk]);
    w = await startTestWarden({
      env: {
        WARDEN_JWT_ENABLED: 'true',
        WARDEN_JWT_JWKS_URL: jwks.url,
        WARDEN_JWT_ISSUER: ISS,
        WARDEN_JWT_AUDIENCE: AUD,
        WARDEN_JWT_ALGORITHMS: 'RS256,PS256,ES256,EdDSA',
        WARDEN_JWT_JWKS_COOLDOWN_SECONDS: '0',
      },
    });
  });
  after(async () => {
    await w?.close();
    await jwks?.close();
    await attackerJwks?.close();
  });

  for (const alg of ['RS256', 'PS256', 'ES256', 'EdDSA'] as const) {
    it(`accepts ${alg}`, async () => {
      const key = keys.find((k) => k.alg === alg) as TestKey;
      const r = await get(bearer(await token(key)));
      assert.equal(r.statusCode, 200, r.body);
    });
  }

  it('still needs the API key of the route, and records jwt + apiKey as the principal', async () => {
    const t = await token(keys[0]);
    assertError(await get(bearer(t), '/v1/versionInfo', null), 401, 416, 'no api key');
    const r = await w.app.inject({
      method: 'POST', url: '/v1/key/attributes',
      headers: { authorization: bearer(t), 'x-api-key': ROLE_KEYS.keyManagementToken, 'content-type': 'application/json' },
      payload: JSON.stringify({ label: 'jwt-audit-probe' }),
    });
    assert.equal(r.statusCode, 404, r.body);
    const e = (await w.runtime.services.audit.query({ limit: 1000 })).reverse().find((x) => x.key_label === 'jwt-audit-probe');
    assert.equal(e?.principal, 'jwt:alice apiKey:keyManagementToken#0');
    assert.deepEqual(JSON.parse(e?.details ?? '{}').auth, ['jwt', 'apiKey']);
  });

  it('answers 401/406 without a token and 401/617 to a malformed one', async () => {
    assertError(await get(undefined), 401, 406, 'missing');
    assertError(await get('Basic YWxpY2U6c2VjcmV0'), 401, 406, 'basic');
    assertError(await get('Bearer'), 401, 617, 'empty bearer');
    assertError(await get('Bearer not.a.jwt'), 401, 617, 'garbage');
    assertError(await get('Bearer a.b'), 401, 617, 'two parts');
  });

  describe('attack suite: every forged or invalid token is 401/617', () => {
    const cases: [string, RegExp, () => Promise<string>][] = [
      ['alg none', /algorithm 'none' not allowed/, async () => `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(validClaims())}.`],
      ['alg none with the trusted kid', /algorithm 'none' not allowed/, async () => `${b64u({ alg: 'none', kid: 'rs-1' })}.${b64u(validClaims())}.`],
      ['HS256 signed with the RSA public key (PEM)', /'HS256' not allowed/, async () =>
        new SignJWT(validClaims()).setProtectedHeader({ alg: 'HS256', kid: 'rs-1' }).sign(new TextEncoder().encode(await exportSPKI(keys[0].publicKey)))],
      ['HS256 signed with the RSA modulus', /'HS256' not allowed/, async () =>
        new SignJWT(validClaims()).setProtectedHeader({ alg: 'HS256', kid: 'rs-1' }).sign(Buffer.from(keys[0].jwk.n as string, 'base64url'))],
      ['wrong signature (attacker key, trusted kid)', /signature does not verify/, async () =>
        new SignJWT(validClaims()).setProtectedHeader({ alg: 'RS256', kid: 'rs-1' }).sign(attacker.privateKey)],
      ['expired', /token expired/, async () => token(keys[0], { exp: now() - 3600 })],
      ['expired beyond the 30 s tolerance', /token expired/, async () => token(keys[0], { exp: now() - 45 })],
      ['not yet valid (nbf in an hour)', /not yet valid/, async () => token(keys[0], { nbf: now() + 3600 })],
      ['wrong issuer', /unexpected issuer/, async () => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'rs-1' }).setIssuer('https://evil.test').setAudience(AUD).setExpirationTime('5m').sign(keys[0].privateKey)],
      ['wrong audience', /unexpected audience/, async () => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'rs-1' }).setIssuer(ISS).setAudience('other-service').setExpirationTime('5m').sign(keys[0].privateKey)],
      ['no exp claim', /claim exp: missing/, async () => new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'rs-1' }).setIssuer(ISS).setAudience(AUD).sign(keys[0].privateKey)],
      ['unknown kid', /no trusted key matches/, async () => token(attacker)],
      ['tampered payload', /signature does not verify/, async () => {
        const [h, , s] = (await token(keys[0])).split('.');
        return `${h}.${b64u({ ...validClaims(), sub: 'admin' })}.${s}`;
      }],
      ['jku pointing at the attacker JWKS', /header 'jku'/, async () =>
        new SignJWT(validClaims()).setProtectedHeader({ alg: 'RS256', kid: 'attacker-1', jku: attackerJwks.url }).sign(attacker.privateKey)],
      ['x5u pointing at the attacker', /header 'x5u'/, async () =>
        new SignJWT(validClaims()).setProtectedHeader({ alg: 'RS256', kid: 'attacker-1', x5u: attackerJwks.url }).sign(attacker.privateKey)],
      ['jku on an otherwise valid token', /header 'jku'/, async () => token(keys[0], {}, { jku: attackerJwks.url })],
      ['embedded jwk header', /header 'jwk'/, async () =>
        rawJws({ alg: 'RS256', jwk: attacker.jwk }, validClaims(), (d) => cryptoSign('sha256', d, attackerNode))],
      ['x5c header', /header 'x5c'/, async () => rawJws({ alg: 'RS256', kid: 'rs-1', x5c: ['MIIB'] }, validClaims(), (d) => cryptoSign('sha256', d, attackerNode))],
      ['unknown crit extension', /unsupported token feature.*not recognized/, async () => {
        const rs = createPrivateKey({ key: (await exportJWK(keys[0].privateKey)) as JsonWebKey, format: 'jwk' });
        return rawJws({ alg: 'RS256', kid: 'rs-1', crit: ['urn:x-warden:unknown'], 'urn:x-warden:unknown': true }, validClaims(), (d) => cryptoSign('sha256', d, rs));
      }],
      ['algorithm outside the allow-list (RS512)', /'RS512' not allowed/, async () => {
        const rs = createPrivateKey({ key: (await exportJWK(keys[0].privateKey)) as JsonWebKey, format: 'jwk' });
        return rawJws({ alg: 'RS512', kid: 'rs-1' }, validClaims(), (d) => cryptoSign('sha512', d, rs));
      }],
    ];
    for (const [name, message, make] of cases) {
      it(name, async () => {
        const r = await get(bearer(await make()));
        assertError(r, 401, 617, name);
        assert.match(r.json().message, message);
      });
    }
    it('never fetched the attacker JWKS (jku/x5u are not followed)', () => assert.equal(attackerJwks.fetches, 0));
  });

  it('accepts a token 20 s past exp (inside the clock tolerance)', async () => {
    assert.equal((await get(bearer(await token(keys[2], { exp: now() - 20 })))).statusCode, 200);
  });

  it('picks up a rotated JWKS key without a restart', async () => {
    const next = await makeKey('ES256', 'es-2');
    const t = await token(next);
    assertError(await get(bearer(t)), 401, 617, 'before rotation');
    served = [...served.filter((k) => k.kid !== 'es-1'), next.jwk];
    const before = jwks.fetches;
    assert.equal((await get(bearer(t))).statusCode, 200);
    assert.ok(jwks.fetches > before, 'the unknown kid triggered a refetch');
  });

  it('caches verified tokens by hash', async () => {
    const jwt = w.app.authChain.jwt;
    assert.ok(jwt);
    const t = await token(keys[0], { jti: 'cache-probe' });
    const n = jwt.cachedTokens;
    assert.equal((await get(bearer(t))).statusCode, 200);
    assert.equal((await get(bearer(t))).statusCode, 200);
    assert.equal(jwt.cachedTokens, n + 1);
  });

  it('ignores JWTs on approver task endpoints (decision 3)', async () => {
    const app = await buildApp(w.runtime.services, { extraRoutes: [probeRoute('/v1/filteredJwtProbeApprovalTask')] });
    try {
      for (const authorization of [undefined, 'Bearer garbage.token.here']) {
        const r = await app.inject({
          method: 'POST', url: '/v1/filteredJwtProbeApprovalTask',
          headers: { 'x-api-key': ROLE_KEYS.approverToken, 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
          payload: '{}',
        });
        assert.equal(r.statusCode, 200, r.body);
      }
    } finally {
      await app.close();
    }
  });
});

describe('JWT: roles and tenant claims, static keys, optional tokens', () => {
  let dir: string;
  let rs: TestKey;
  let es: TestKey;
  let w: TestWarden;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'warden-jwt-'));
    rs = await makeKey('RS256', 'unused');
    es = await makeKey('ES256', 'es-static');
    writeFileSync(path.join(dir, 'rs.pem'), await exportSPKI(rs.publicKey));
    writeFileSync(path.join(dir, 'es.jwk'), JSON.stringify(es.jwk));
    // API keys off: the roles claim alone authorizes (a token listing a role satisfies it like its key).
    w = await startTestWarden({
      env: {
        WARDEN_API_AUTHENTICATION_ENABLED: 'false',
        WARDEN_JWT_ENABLED: 'true',
        WARDEN_JWT_PUBLIC_KEYS: `file:${path.join(dir, 'rs.pem')},${path.join(dir, 'es.jwk')}`,
        WARDEN_JWT_ISSUER: ISS,
        WARDEN_JWT_AUDIENCE: AUD,
        WARDEN_JWT_ROLES_CLAIM: 'realm_access.roles',
        WARDEN_JWT_TENANT_CLAIM: 'tenant',
      },
    });
  });
  after(async () => {
    await w?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const call = (url: string, t: string) => w.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t}` } });

  it('authorizes by the roles claim and records the tenant', async () => {
    const t = await token(rs, { tenant: 'acme', realm_access: { roles: ['serviceToken', 'notARole'] } });
    assert.equal((await call('/v1/versionInfo', t)).statusCode, 200);
    assertError(await call('/v1/key', t), 401, 617, 'role not granted');
    const km = await token(es, { tenant: 'acme', realm_access: { roles: ['keyManagementToken'] } });
    const r = await w.app.inject({
      method: 'POST', url: '/v1/key/attributes', headers: { authorization: `Bearer ${km}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ label: 'tenant-audit-probe' }),
    });
    assert.equal(r.statusCode, 404, r.body);
    const e = (await w.runtime.services.audit.query({ limit: 1000 })).reverse().find((x) => x.key_label === 'tenant-audit-probe');
    assert.equal(e?.principal, 'jwt:alice@acme');
    assert.equal(JSON.parse(e?.details ?? '{}').tenant, 'acme');
  });

  it('refuses a token without the tenant claim or without roles', async () => {
    assertError(await call('/v1/versionInfo', await token(rs, { realm_access: { roles: ['serviceToken'] } })), 401, 617, 'no tenant');
    assertError(await call('/v1/versionInfo', await token(rs, { tenant: 'acme' })), 401, 617, 'no roles');
  });

  it('verifies with a static PEM key (no kid) and a JWK file (kid); refuses HS256 keyed with the PEM', async () => {
    const claims = { tenant: 't1', realm_access: { roles: ['serviceToken'] } };
    assert.equal((await call('/v1/versionInfo', await token({ ...rs, kid: 'anything' }, claims))).statusCode, 200);
    assert.equal((await call('/v1/versionInfo', await token(es, claims))).statusCode, 200);
    const hs = await new SignJWT({ ...validClaims(), ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(await exportSPKI(rs.publicKey)));
    assertError(await call('/v1/versionInfo', hs), 401, 617, 'HS256');
  });
});

describe('JWT: optional tokens and configuration errors', () => {
  it('jwt.required false: no token passes on the API key, a bad token is still refused', async () => {
    const jwks = await jwksServer(() => []);
    const w = await startTestWarden({
      env: { WARDEN_JWT_ENABLED: 'true', WARDEN_JWT_REQUIRED: 'false', WARDEN_JWT_JWKS_URL: jwks.url, WARDEN_JWT_ISSUER: ISS, WARDEN_JWT_AUDIENCE: AUD },
    });
    try {
      assert.equal((await w.call('GET', '/v1/versionInfo', undefined, 'serviceToken')).statusCode, 200);
      const bad = await w.app.inject({ method: 'GET', url: '/v1/versionInfo', headers: { 'x-api-key': ROLE_KEYS.serviceToken, authorization: 'Bearer x.y.z' } });
      assertError(bad, 401, 617, 'bad optional token');
    } finally {
      await w.close();
      await jwks.close();
    }
  });

  it('fails the start without issuer, audience or keys, and on a private JWK', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warden-jwt-'));
    try {
      const k = await makeKey('ES256', 'p');
      writeFileSync(path.join(dir, 'private.jwk'), JSON.stringify(await exportJWK(k.privateKey)));
      const base = { WARDEN_JWT_ENABLED: 'true', WARDEN_JWT_JWKS_URL: 'http://127.0.0.1:9/jwks', WARDEN_JWT_ISSUER: ISS, WARDEN_JWT_AUDIENCE: AUD };
      const attempts: [Record<string, string>, RegExp][] = [
        [{ ...base, WARDEN_JWT_ISSUER: '' }, /jwt\.issuer/],
        [{ ...base, WARDEN_JWT_AUDIENCE: '' }, /jwt\.audience/],
        [{ WARDEN_JWT_ENABLED: 'true', WARDEN_JWT_ISSUER: ISS, WARDEN_JWT_AUDIENCE: AUD }, /neither jwt\.jwksUrl nor jwt\.publicKeys/],
        [{ ...base, WARDEN_JWT_PUBLIC_KEYS: path.join(dir, 'private.jwk') }, /only public keys/],
        [{ ...base, WARDEN_JWT_ALGORITHMS: 'HS256' }, /jwt\.algorithms/],
      ];
      for (const [env, message] of attempts) {
        await assert.rejects(startTestWarden({ env }), message);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
