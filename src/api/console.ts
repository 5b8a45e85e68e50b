// The approver console (docs/approvers.md) as static files: the Vite build in web/dist, served at
// /console without an API key (the page itself calls the API with the approver's proof of possession
// and, when configured, the approverToken). Strict CSP: the page loads nothing from anywhere else.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from '@sinclair/typebox';
import { WardenError } from '../server/errors.ts';
import type { RouteDef, RouteGroup } from './route.ts';

const DIST = fileURLToPath(new URL('../../web/dist/', import.meta.url));
const TAGS = ['Approver console'];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Only plain relative names below web/dist (Vite puts every asset in assets/): no `..`, no hidden files. */
const SAFE = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

const cache = new Map<string, Buffer>();

async function load(rel: string): Promise<Buffer | null> {
  const hit = cache.get(rel);
  if (hit) return hit;
  const file = path.join(DIST, rel);
  if (!file.startsWith(DIST)) return null;
  try {
    const data = await readFile(file);
    // Hashed assets never change; index.html is re-read so a rebuild shows without a restart.
    if (rel !== 'index.html' && cache.size < 200) cache.set(rel, data);
    return data;
  } catch {
    return null;
  }
}

const Page = Type.Unsafe<Buffer>({ description: 'A file of the approver console', content: { 'text/html': { schema: { type: 'string' } } } });
const FileParams = Type.Object({ file: Type.String({ maxLength: 255, description: 'A file name of the Vite build (hashed)' }) });

export const consoleRoutes: RouteGroup = () => {
  const serve = async (rel: string, reply: Parameters<RouteDef['handler']>[1]) => {
    if (!SAFE.test(rel)) throw new WardenError(622, 'No such console file');
    const data = await load(rel);
    if (!data) {
      if (rel === 'index.html') throw new WardenError(622, 'The approver console is not built: run `npm run build:web`');
      throw new WardenError(622, `No console file ${rel}`);
    }
    return reply
      .header('content-type', TYPES[path.extname(rel)] ?? 'application/octet-stream')
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache')
      .send(data);
  };
  return [
    {
      method: 'GET', url: '/console/', roles: 'public', audit: false, operationId: 'approverConsoleIndex', tags: TAGS,
      summary: 'The approver console page (also at /console: trailing slashes are ignored)',
      response: { 200: Page, 404: Type.Ref('ErrorBody') },
      handler: async (_req, reply) => serve('index.html', reply),
    },
    {
      method: 'GET', url: '/console/assets/:file', roles: 'public', audit: false, operationId: 'approverConsoleFile', tags: TAGS,
      summary: 'Scripts and styles of the approver console',
      params: FileParams, response: { 200: Page, 404: Type.Ref('ErrorBody') },
      handler: async (req, reply) => serve(`assets/${(req.params as Static<typeof FileParams>).file}`, reply),
    },
  ];
};
