// Builds the fastify app: JSON parsing with the spec's error codes, the auth chain, the audit hook,
// every route of the registry (each must name its roles), OpenAPI + Swagger UI, and the one error mapper.
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyServerFactory } from 'fastify';
import type { Logger } from 'pino';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import multipart from '@fastify/multipart';
import { ROUTE_GROUPS } from '../api/registry.ts';
import type { RouteDef } from '../api/route.ts';
import { ErrorBodySchema, AttributesRequestSchema, isBase64 } from '../api/wire.ts';
import { KeyAttributesJsonSchema, SignedKeyAttributesSchema } from '../api/key-view.ts';
import { authChain } from '../auth/chain.ts';
import { principalAuditDetails, type Principal } from '../auth/principal.ts';
import type { RoleName } from '../config/schema.ts';
import { WardenError } from './errors.ts';
import { healthPlugin } from './health.ts';
import { limitsPlugin } from './limits.ts';
import { metricsPlugin } from './metrics.ts';
import { storeError, storeUnavailable } from '../store/errors.ts';
import type { Services } from './services.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /** Key (or object) the request acted on, for the audit trail. */
    auditLabel: string | null;
  }
  interface FastifyContextConfig {
    roles?: readonly RoleName[] | 'public';
    audit?: boolean;
    operationId?: string;
  }
}

export interface AppOptions {
  /** The pino logger for request logs; none in tests. */
  loggerInstance?: Logger;
  /** Extra routes for tests (still subject to the role check). */
  extraRoutes?: RouteDef[];
  /** Builds the listener (src/server/tls.ts: HTTPS with client certificates when tls.enabled). */
  serverFactory?: FastifyServerFactory;
}

function validationError(err: FastifyError): WardenError {
  const first = err.validation?.[0];
  const where = (first?.instancePath || '').replace(/^\//, '').replace(/\//g, '.') || err.validationContext || 'body';
  const isEnum = err.validation?.some((v) => v.keyword === 'enum' || v.keyword === 'const');
  if (isEnum) {
    const allowed = (first?.params as { allowedValues?: unknown[] })?.allowedValues;
    return new WardenError(501, `${where}: value is not one of the allowed values${allowed ? ` (${allowed.join(', ')})` : ''}`);
  }
  const msg = first?.keyword === 'required' ? `${(first.params as { missingProperty: string }).missingProperty} is required` : (first?.message ?? 'is invalid');
  return new WardenError(600, `${where}: ${msg}`);
}

export function toWardenError(err: unknown): WardenError | null {
  if (err instanceof WardenError) return err;
  const fe = err as FastifyError;
  if (fe?.validation) return validationError(fe);
  switch (fe?.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new WardenError(600, 'Request body is too large', { status: 413 });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new WardenError(600, 'Unsupported Content-Type: send application/json', { status: 415 });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new WardenError(621, 'Request body is empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new WardenError(600, 'Invalid Content-Length');
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_ASYNC_CONSTRAINT':
      return new WardenError(600, 'Malformed URL');
    default:
      return storeError(err);
  }
}

/**
 * A non-JSON success body (zip, PKCS#10, octet-stream) is declared on the 2xx responses only, so the
 * error responses of the same route stay documented as application/json ErrorBody (a route-wide
 * `produces` would label them with the file's content type).
 */
function producesOnSuccess(response: RouteDef['response'], contentType: string): Record<number, unknown> {
  return Object.fromEntries(
    Object.entries(response).map(([status, schema]) =>
      Number(status) < 300 && !('content' in schema) ? [status, { description: schema.description ?? contentType, content: { [contentType]: { schema } } }] : [status, schema],
    ),
  );
}

export async function buildApp(services: Services, opts: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    ...(opts.loggerInstance ? { loggerInstance: opts.loggerInstance as FastifyBaseLogger } : { logger: false }),
    bodyLimit: config.server.bodyLimitBytes,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    ...(opts.serverFactory ? { serverFactory: opts.serverFactory } : {}),
    ajv: {
      customOptions: { coerceTypes: false, removeAdditional: false, useDefaults: false, allErrors: false },
      // After ajv-formats: Base64 fields are checked by the same rule decodeB64 applies (src/api/wire.ts).
      onCreate: (ajv: { addFormat(name: string, f: (s: string) => boolean): unknown }) => ajv.addFormat('byte', isBase64),
    },
    routerOptions: { ignoreDuplicateSlashes: true, ignoreTrailingSlash: true, maxParamLength: 1024 },
    // Router-level failures (undecodable %-escapes, over-long path parameters) bypass the error
    // handler; without this they would leave with fastify's own body instead of {errorCode, reason, message}.
    frameworkErrors: (err, _req, reply) => {
      const we = toWardenError(err) ?? new WardenError(600, 'Malformed request URL');
      void (reply as FastifyReply).code(we.status).send(we.toBody());
    },
  });

  app.decorateRequest('principal', null as unknown as Principal);
  app.decorateRequest('auditLabel', null);

  // JSON for every body (the Go client sends Content-Type: application/json even on GET/DELETE);
  // malformed JSON is 400/621 (spec README decision 1).
  app.removeAllContentTypeParsers();
  const parseJson = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void) => {
    const text = (body as string).trim();
    if (text === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new WardenError(621, 'Request body is not valid JSON'), undefined);
    }
  };
  app.addContentTypeParser('*', { parseAs: 'string' }, parseJson);
  // The same parser under its own name: fastify caches the lookup of a named type, while a '*' match
  // re-parses the Content-Type header on every request (~4 µs of a ~120 µs call).
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseJson);
  // Per-client limits and listener timeouts (src/server/limits.ts); before every route (docs included)
  // and before the auth chain, so an address that keeps failing to authenticate is refused first.
  await app.register(limitsPlugin, { limits: config.limits });
  // multipart/form-data (file encryption, spec §4.9) wins over '*': its routes stream the parts themselves.
  await app.register(multipart, { limits: { fileSize: config.server.fileUploadLimitBytes } });

  for (const s of [ErrorBodySchema, AttributesRequestSchema, KeyAttributesJsonSchema, SignedKeyAttributesSchema]) app.addSchema(s);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Warden — Transaction Security Broker REST API v1',
        version: services.version,
        description: 'Open re-implementation of the TSB REST API v1. Errors are {errorCode, reason, message}; see docs/errors.md.',
      },
      components: { securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'X-API-KEY' } } },
      security: [{ apiKey: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (json.$id as string) ?? `def-${i}` },
  });
  if (config.swaggerUI.enabled) {
    await app.register(swaggerUi, { routePrefix: '/swagger-ui', staticCSP: true, uiConfig: { docExpansion: 'list', deepLinking: true } });
    app.get('/swagger-ui/index.html', { schema: { hide: true } }, (_req, reply) => reply.redirect('/swagger-ui/'));
    app.get('/', { schema: { hide: true } }, (_req, reply) => reply.redirect('/swagger-ui/'));
  }
  app.get('/v3/api-docs', { schema: { hide: true } }, async () => app.swagger());

  // Authentication chain (src/auth/chain.ts): mTLS (+OCSP) → JWT → API key, and the role table that
  // gives every route registered below its roles (a route the table does not cover fails the boot).
  await app.register(authChain, { config, logger: services.logger });

  // Audit: written before the response leaves; if it cannot be written the caller gets an error.
  app.addHook('onSend', async (req, reply, payload) => {
    const cfg = req.routeOptions.config;
    if (!cfg?.roles || cfg.roles === 'public' || cfg.audit === false) return payload;
    if (reply.statusCode === 401 || reply.statusCode === 429 || reply.statusCode === 404 && !req.routeOptions.url) return payload;
    try {
      await services.audit.append({
        requestId: req.id,
        principal: req.principal?.subject ?? null,
        details: principalAuditDetails(req.principal),
        method: req.method,
        route: req.routeOptions.url ?? req.url,
        action: cfg.operationId ?? 'unknown',
        keyLabel: req.auditLabel,
        outcome: reply.statusCode < 400 ? 'success' : `error ${reply.statusCode}`,
      });
    } catch (e) {
      req.log.error({ err: e }, 'audit log write failed');
      const we = storeUnavailable(e) ?? new WardenError(703, 'The audit log could not be written; the outcome of this call is not recorded');
      reply.code(we.status).header('content-type', 'application/json; charset=utf-8');
      return JSON.stringify(we.toBody());
    }
    return payload;
  });

  // Prometheus /metrics and /health/live|ready (src/server/metrics.ts, health.ts); after the audit hook,
  // so the metrics see the final status of a response whose audit write failed.
  await app.register(metricsPlugin, { services });
  await app.register(healthPlugin, { services });

  const routes = [...ROUTE_GROUPS.flatMap((g) => g(services)), ...(opts.extraRoutes ?? [])];
  for (const r of routes) {
    if (!r.roles || (r.roles !== 'public' && r.roles.length === 0)) {
      throw new Error(`route ${r.method} ${r.url} has no role: every route must name the roles allowed to call it`);
    }
    app.route({
      method: r.method,
      url: r.url,
      config: { roles: r.roles, audit: r.audit ?? true, operationId: r.operationId },
      schema: {
        operationId: r.operationId,
        summary: r.summary,
        description: r.description ?? (r.roles === 'public' ? 'No credential needed.' : `Role: ${r.roles.join(' or ')}`),
        tags: r.tags,
        ...(r.deprecated ? { deprecated: true } : {}),
        ...(r.body ? { body: r.body } : {}),
        ...(r.querystring ? { querystring: r.querystring } : {}),
        ...(r.params ? { params: r.params } : {}),
        response: r.produces ? producesOnSuccess(r.response, r.produces) : r.response,
        ...(r.roles === 'public' ? { security: [] } : {}),
      },
      handler: async (req, reply) => {
        const result = await r.handler(req, reply, services);
        return reply.sent ? reply : result;
      },
    });
  }

  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(new WardenError(622, `No endpoint ${req.method} ${req.url.split('?')[0]}`).toBody());
  });

  app.setErrorHandler((err, req, reply) => {
    const we = toWardenError(err);
    if (we) {
      if (we.status >= 500) req.log.error({ err, errorCode: we.code }, we.message);
      else req.log.info({ errorCode: we.code, status: we.status }, we.message);
      return reply.code(we.status).send(we.toBody());
    }
    req.log.error({ err }, 'unhandled error');
    return reply.code(500).send(new WardenError(1, 'Internal error; see the server log for request ' + req.id).toBody());
  });

  return app;
}
