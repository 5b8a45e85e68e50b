// OpenAPI 3.1 at /v3/api-docs generated from the route registry (issue 2 scope 9): every registered
// route is documented with its operationId, summary, tags, error responses and examples, and
// Swagger UI is served from the npm package (no CDN).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ROUTE_GROUPS } from '../src/api/registry.ts';
import type { RouteDef } from '../src/api/route.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';

type Json = Record<string, unknown>;
const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;

/** True when `node` (with $refs into components resolved) carries an `example` or non-empty `examples`. */
function hasExample(node: unknown, components: Json, seen = new Set<string>()): boolean {
  if (Array.isArray(node)) return node.some((n) => hasExample(n, components, seen));
  if (!node || typeof node !== 'object') return false;
  const o = node as Json;
  if (o.example !== undefined) return true;
  if (Array.isArray(o.examples) ? o.examples.length > 0 : o.examples && typeof o.examples === 'object') return true;
  if (typeof o.$ref === 'string') {
    const name = o.$ref.replace('#/components/schemas/', '');
    if (seen.has(name)) return false;
    seen.add(name);
    return hasExample((components.schemas as Json)?.[name], components, seen);
  }
  return Object.values(o).some((v) => hasExample(v, components, seen));
}

describe('OpenAPI and Swagger UI', () => {
  let w: TestWarden;
  let doc: Json;
  let routes: RouteDef[];
  const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

  before(async () => {
    w = await startTestWarden();
    routes = ROUTE_GROUPS.flatMap((g) => g(w.runtime.services));
    const r = await w.app.inject({ method: 'GET', url: '/v3/api-docs' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    doc = r.json();
  });
  after(async () => w.close());

  const op = (r: RouteDef) => ((doc.paths as Record<string, Json>)[openapiPath(r.url)]?.[r.method.toLowerCase()] ?? null) as Json | null;

  it('is OpenAPI 3.1 with Warden info and the API-key security scheme', () => {
    assert.match(doc.openapi as string, /^3\.1\./);
    const info = doc.info as Json;
    assert.equal(info.version, VERSION);
    assert.match(info.title as string, /Warden/);
    const schemes = (doc.components as Json).securitySchemes as Json;
    assert.deepEqual(schemes.apiKey, { type: 'apiKey', in: 'header', name: 'X-API-KEY' });
    assert.deepEqual(doc.security, [{ apiKey: [] }]);
  });

  it('needs no credential (documentation is public)', async () => {
    const r = await w.call('GET', '/v3/api-docs', undefined, null);
    assert.equal(r.statusCode, 200);
  });

  it('documents every route of the registry, and nothing that is not a route', () => {
    assert.ok(routes.length >= 20, `${routes.length} routes`);
    const missing = routes.filter((r) => !op(r)).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(missing, []);
    const documented: string[] = [];
    for (const [p, item] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const m of Object.keys(item)) if (['get', 'post', 'put', 'delete', 'patch'].includes(m)) documented.push(`${m.toUpperCase()} ${p}`);
    }
    const registered = new Set(routes.map((r) => `${r.method} ${openapiPath(r.url)}`));
    assert.deepEqual(documented.filter((d) => !registered.has(d)), [], 'documented paths without a registered route');
    assert.equal(documented.length, registered.size);
  });

  it('every operation has the operationId, summary, tags and deprecation of its route; operationIds are unique', () => {
    const ids = new Set<string>();
    for (const r of routes) {
      const o = op(r) as Json;
      const where = `${r.method} ${r.url}`;
      assert.equal(o.operationId, r.operationId, where);
      assert.ok(!ids.has(r.operationId), `duplicate operationId ${r.operationId}`);
      ids.add(r.operationId);
      assert.equal(o.summary, r.summary, where);
      assert.ok((o.summary as string).length > 5, where);
      assert.deepEqual(o.tags, r.tags, where);
      assert.equal(o.deprecated === true, r.deprecated === true, where);
      if (r.roles !== 'public') assert.match(o.description as string, /Role|role/, `${where}: the description names the role`);
    }
  });

  it('every protected operation documents its error responses with the ErrorBody schema', () => {
    for (const r of routes) {
      if (r.roles === 'public') continue;
      const responses = (op(r) as Json).responses as Record<string, Json>;
      for (const status of ['400', '401']) {
        const schema = ((responses[status]?.content as Json)?.['application/json'] as Json)?.schema as Json;
        assert.equal(schema?.$ref, '#/components/schemas/ErrorBody', `${r.method} ${r.url} ${status}`);
      }
      assert.ok(Object.keys(responses).some((s) => s.startsWith('2')), `${r.method} ${r.url} has a success response`);
    }
    const errorBody = ((doc.components as Json).schemas as Json).ErrorBody as Json;
    assert.deepEqual(Object.keys(errorBody.properties as Json).sort(), ['errorCode', 'message', 'reason']);
  });

  it('every request-bodied operation carries an example of its request body', () => {
    const without = routes
      .filter((r) => r.body)
      .filter((r) => !hasExample((op(r) as Json).requestBody, doc.components as Json))
      .map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(without, []);
  });

  it('every operation has at least one example in its request, parameters or responses', () => {
    const without = routes.filter((r) => !hasExample(op(r), doc.components as Json)).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(without, []);
  });

  it('the key-management operations of spec §3 are all there, with their success status', () => {
    const expect: Array<[string, string, string]> = [
      ['post', '/v1/key', '201'], ['get', '/v1/key', '200'], ['post', '/v1/key/attributes', '200'], ['get', '/v1/key/{keyName}/attributes', '200'],
      ['delete', '/v1/key/{keyName}', '200'], ['post', '/v1/key/deleteKey', '200'], ['post', '/v1/key/export/plain', '200'],
      ['get', '/v1/key/{keyName}/export/plain', '200'], ['post', '/v1/key/import/plain', '201'], ['post', '/v1/key/changePassword', '200'],
      ['post', '/v1/key/keyAttestation', '200'], ['get', '/v1/attestation/certificate', '200'], ['post', '/v1/attestation/key', '200'],
      ['post', '/v1/dataObject', '201'], ['get', '/v1/dataObject/{dataObjectName}', '200'], ['delete', '/v1/dataObject/{dataObjectName}', '200'],
      ['get', '/v1/versionInfo', '200'], ['get', '/v1/licenseInfo', '200'], ['get', '/v1/keystore/statistics', '200'], ['get', '/v1/hsm/log', '200'],
      ['get', '/v1/hsm/log/{id}', '200'],
    ];
    for (const [m, p, status] of expect) {
      const o = (doc.paths as Record<string, Json>)[p]?.[m] as Json | undefined;
      assert.ok(o, `${m} ${p}`);
      assert.ok((o.responses as Json)[status], `${m} ${p} ${status}`);
    }
    const zip = (doc.paths as Record<string, Json>)['/v1/key/keyAttestation'].post as Json;
    assert.ok(((zip.responses as Json)['200'] as Json).content && (((zip.responses as Json)['200'] as Json).content as Json)['application/zip'], 'the zip download is documented as application/zip');
  });

  describe('Swagger UI', () => {
    it('/swagger-ui/index.html redirects to the UI page, which is HTML from the package (no CDN)', async () => {
      const r = await w.call('GET', '/swagger-ui/index.html', undefined, null);
      assert.equal(r.statusCode, 302);
      assert.equal(r.headers.location, '/swagger-ui/');
      const page = await w.call('GET', r.headers.location as string, undefined, null);
      assert.equal(page.statusCode, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.body, /<div id="swagger-ui"><\/div>/);
      assert.match(page.body, /swagger-ui-bundle\.js/);
      assert.doesNotMatch(page.body, /https?:\/\//, 'no absolute (CDN) URLs in the page');
      assert.doesNotMatch(page.body, /unpkg|jsdelivr|cdnjs|cloudflare/i);
      const root = await w.call('GET', '/', undefined, null);
      assert.equal(root.statusCode, 302);
    });

    it('serves its scripts and styles itself, and points at this server\'s document', async () => {
      for (const asset of ['swagger-ui-bundle.js', 'swagger-ui-standalone-preset.js', 'swagger-ui.css', 'swagger-initializer.js']) {
        const r = await w.call('GET', `/swagger-ui/static/${asset}`, undefined, null);
        assert.equal(r.statusCode, 200, asset);
        assert.ok(r.body.length > 100, asset);
      }
      const init = (await w.call('GET', '/swagger-ui/static/swagger-initializer.js', undefined, null)).body;
      assert.doesNotMatch(init, /url:\s*["'`]https?:/, 'the initializer loads no document from elsewhere');
      const json = await w.call('GET', '/swagger-ui/json', undefined, null);
      assert.equal(json.statusCode, 200);
      assert.deepEqual(Object.keys(json.json().paths).sort(), Object.keys(doc.paths as Json).sort());
    });
  });
});
