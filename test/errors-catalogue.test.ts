// Pins docs/errors.md against the one catalogue in code (ERROR_REASONS, statusForCode): every code
// is documented with its reason and HTTP status, nothing extra is documented, and the real error
// handler answers each code with that status and body.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { ERROR_REASONS, WardenError, statusForCode, type ErrorCode } from '../src/server/errors.ts';
import { buildApp } from '../src/server/app.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

interface DocRow {
  code: number;
  reason: string;
  status: number;
  meaning: string;
}

function parseDoc(): DocRow[] {
  const text = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
  const section = text.split(/^## Codes\s*$/m)[1];
  assert.ok(section, 'docs/errors.md has a "## Codes" section');
  const rows: DocRow[] = [];
  for (const line of section.split('\n')) {
    const m = /^\|\s*(\d+)\s*\|\s*`([^`]+)`\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|\s*$/.exec(line);
    if (m) rows.push({ code: Number(m[1]), reason: m[2], status: Number(m[3]), meaning: m[4] });
    else if (/^\|\s*\d/.test(line)) assert.fail(`docs/errors.md: cannot parse table row: ${line}`);
  }
  return rows;
}

const codes = Object.keys(ERROR_REASONS).map(Number) as ErrorCode[];

describe('docs/errors.md', () => {
  const rows = parseDoc();

  it('lists every code of ERROR_REASONS exactly once, in order, and nothing else', () => {
    assert.deepEqual(rows.map((r) => r.code), codes);
  });

  it('gives each code its reason key and the HTTP status of statusForCode', () => {
    for (const r of rows) {
      const code = r.code as ErrorCode;
      assert.equal(r.reason, ERROR_REASONS[code], `reason of ${code}`);
      assert.equal(r.status, statusForCode(code), `status of ${code}`);
      assert.ok(r.meaning.length >= 10, `meaning of ${code}`);
    }
  });
});

describe('status rule (spec README decision 1)', () => {
  it('maps the documented groups', () => {
    for (const c of [401, 402, 406, 416, 617, 631] as const) assert.equal(statusForCode(c), 401, String(c));
    for (const c of [450, 451] as const) assert.equal(statusForCode(c), 403);
    for (const c of [650, 651, 652, 653] as const) assert.equal(statusForCode(c), 404);
    for (const c of [1, 2, 700, 701, 702, 703, 704] as const) assert.equal(statusForCode(c), 500);
    for (const c of [100, 101, 102, 103] as const) assert.equal(statusForCode(c), 501);
    for (const c of [407, 500, 501, 600, 603, 608, 614, 620, 621, 635] as const) assert.equal(statusForCode(c), 400, String(c));
  });

  it('no 5xx outside 1, 2, 1xx, 503 and 7xx', () => {
    for (const c of codes) {
      if (statusForCode(c) >= 500) assert.ok(c === 1 || c === 2 || (c >= 100 && c < 200) || c === 503 || (c >= 700 && c < 800), String(c));
    }
  });

  it('reason keys are unique and all start with res.error.', () => {
    const reasons = Object.values(ERROR_REASONS);
    assert.equal(new Set(reasons).size, reasons.length);
    for (const r of reasons) assert.match(r, /^res\.error\.[a-z.A-Z]+$/);
  });
});

describe('the error handler answers every code with its status and body', () => {
  let w: TestWarden;
  let app: FastifyInstance;
  before(async () => {
    w = await startTestWarden();
    app = await buildApp(w.runtime.services, {
      extraRoutes: [
        {
          method: 'GET', url: '/v1/key/:keyName/test-error', roles: ['keyManagementToken'], operationId: 'testError', summary: 'test', tags: ['test'], audit: false,
          params: Type.Object({ keyName: Type.String() }),
          response: { 200: Type.Object({}) },
          handler: async (req) => {
            const code = Number((req.params as { keyName: string }).keyName) as ErrorCode;
            throw new WardenError(code, `thrown ${code}`);
          },
        },
      ],
    });
    await app.ready();
  });
  after(async () => {
    await app.close();
    await w.close();
  });

  it('for all codes', async () => {
    for (const code of codes) {
      const r = await app.inject({ method: 'GET', url: `/v1/key/${code}/test-error`, headers: { 'x-api-key': 'test-km-key' } });
      assert.equal(r.statusCode, statusForCode(code), `code ${code}`);
      assert.deepEqual(r.json(), { errorCode: code, reason: ERROR_REASONS[code], message: `thrown ${code}` });
    }
  });

  it('an unexpected exception is 500/1 naming the request id, without its message', async () => {
    const app2 = await buildApp(w.runtime.services, {
      extraRoutes: [{
        method: 'GET', url: '/v1/key/:keyName/test-bug', roles: ['keyManagementToken'], operationId: 'testBug', summary: 'test', tags: ['test'], audit: false,
        params: Type.Object({ keyName: Type.String() }), response: { 200: Type.Object({}) },
        handler: async () => {
          throw new Error('secret internal detail');
        },
      }],
    });
    try {
      const r = await app2.inject({ method: 'GET', url: '/v1/key/x/test-bug', headers: { 'x-api-key': 'test-km-key' } });
      assert.equal(r.statusCode, 500);
      const b = r.json();
      assert.equal(b.errorCode, 1);
      assert.equal(b.reason, 'res.error.technical');
      assert.doesNotMatch(b.message, /secret internal detail/);
      assert.match(b.message, /request [0-9a-f-]{36}/);
    } finally {
      await app2.close();
    }
  });

  it('unknown endpoints are 404/622 with the same body shape', async () => {
    const r = await w.call('GET', '/v1/no-such-endpoint');
    assert.equal(r.statusCode, 404);
    assert.equal(r.json().errorCode, 622);
    assert.equal(r.json().reason, 'res.error.resource.not.found');
  });

  it('a body over server.bodyLimitBytes is 413 with code 600', async () => {
    const big = JSON.stringify({ label: 'x'.repeat(w.config.server.bodyLimitBytes + 10) });
    const r = await w.call('POST', '/v1/key', big);
    assert.equal(r.statusCode, 413);
    assert.equal(r.json().errorCode, 600);
  });
});
