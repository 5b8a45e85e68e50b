// Prometheus metrics at /metrics (issue 11, docs/operations.md): requests and latencies by route and
// status, errors and authentication failures by wire errorCode, key operations by algorithm, limiter
// refusals, OCSP/JWKS fetches and cache hits, and the workflow's pending requests and tasks.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ERROR_REASONS, WardenError, type ErrorCode } from './errors.ts';
import type { LimitReason } from './limits.ts';
import type { Services } from './services.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The wire errorCode of an error response, read from the body as it leaves (metrics). */
    wardenErrorCode: number | null;
  }
}

export interface MetricsOptions {
  services: Services;
}

/** Codes of a refused credential (spec README decisions 1–4): counted as authentication failures. */
const AUTH_FAILURE_CODES: ReadonlySet<number> = new Set([402, 406, 416, 617, 631, 450, 451]);

/** Request statuses and task states of the workflow tables (src/workflow/repositories.ts, engine.ts). */
const REQUEST_STATUSES = ['PENDING', 'APPROVED', 'EXECUTING', 'EXECUTED', 'FAILED', 'EXPIRED', 'REJECTED', 'CANCELLED'];
const TASK_STATES = ['open', 'approved', 'rejected'];

/** Latency buckets (seconds): sub-millisecond HMACs up to multi-second RSA key generation. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** Key labels whose algorithm was looked up, for the key-operation counter (bounded; entries expire). */
const ALGORITHM_CACHE_SIZE = 10_000;
const ALGORITHM_CACHE_MS = 300_000;

/** The error body starts with its code: fastify serialises ErrorBody in schema order (errorCode first). */
const ERROR_CODE_PREFIX = /^\{"errorCode":(\d+)/;

/**
 * Process metrics (CPU, memory, event loop, GC) are process-wide: collected once per process into their
 * own registry, however many apps a test run builds.
 */
let processRegistry: Registry | null = null;
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  return processRegistry;
}

/** `sha256:<hex>` or a plain token → its SHA-256, for a constant-time comparison. */
function tokenDigest(token: string): Buffer {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(token);
  return m ? Buffer.from(m[1], 'hex') : createHash('sha256').update(token, 'utf8').digest();
}

/** The counters a running auth chain keeps (src/auth/ocsp.ts, src/auth/jwt.ts); absent methods read 0. */
interface AuthCounters {
  ocspRequests: number;
  ocspCacheHits: number;
  jwksFetches: number;
  jwtCacheHits: number;
}

function authCounters(app: FastifyInstance): AuthCounters {
  const chain = app.hasDecorator('authChain') ? app.authChain : null;
  const ocsp = chain?.mtls?.ocsp ?? null;
  const jwt = chain?.jwt ?? null;
  return {
    ocspRequests: ocsp?.requests ?? 0,
    ocspCacheHits: ocsp?.cacheHits ?? 0,
    jwksFetches: jwt?.jwksFetches ?? 0,
    jwtCacheHits: jwt?.tokenCacheHits ?? 0,
  };
}

/** A counter whose value is read from a running total at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      const v = read();
      if (v > 0) this.inc(v);
    },
  });
}

const plugin: FastifyPluginAsync<MetricsOptions> = async (app: FastifyInstance, opts: MetricsOptions) => {
  const { services } = opts;
  const cfg = services.config.metrics;
  const registry = new Registry();

  new Gauge({ name: 'warden_build_info', help: 'Warden version (value 1)', labelNames: ['version'], registers: [registry] }).set({ version: services.version }, 1);
  const requests = new Counter({
    name: 'warden_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'warden_http_request_duration_seconds',
    help: 'Time from request start to the last byte of the response, by method, route template and status class',
    labelNames: ['method', 'route', 'status_class'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const inflight = new Gauge({ name: 'warden_http_requests_in_flight', help: 'Requests being processed', registers: [registry] });
  const errorsTotal = new Counter({
    name: 'warden_http_errors_total',
    help: 'Error responses by route template and wire errorCode (spec §1.4)',
    labelNames: ['route', 'error_code', 'reason'],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'warden_auth_failures_total',
    help: 'Refused credentials by wire errorCode (416 missing API key, 631 wrong API key, 406/617 JWT, 402 certificate/OCSP, 450/451)',
    labelNames: ['error_code', 'reason'],
    registers: [registry],
  });
  const keyOps = new Counter({
    name: 'warden_key_operations_total',
    help: 'Calls on a named key by operationId, key algorithm and outcome',
    labelNames: ['operation', 'algorithm', 'outcome'],
    registers: [registry],
  });
  const scrapeErrors = new Counter({
    name: 'warden_metrics_collect_errors_total',
    help: 'Scrapes where a database-backed gauge could not be read',
    labelNames: ['gauge'],
    registers: [registry],
  });

  // Limiter refusals, counted by src/server/limits.ts.
  new Counter({
    name: 'warden_limit_refusals_total',
    help: 'Requests refused with 429 by reason (rate, concurrency, auth-failures)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      if (!app.hasDecorator('limiter')) return;
      for (const [reason, n] of Object.entries(app.limiter.refusals) as [LimitReason, number][]) this.inc({ reason }, n);
    },
  });

  mirroredCounter(registry, 'warden_ocsp_requests_total', 'OCSP requests sent to a responder', () => authCounters(app).ocspRequests);
  mirroredCounter(registry, 'warden_ocsp_cache_hits_total', 'Client-certificate statuses answered from the OCSP cache', () => authCounters(app).ocspCacheHits);
  mirroredCounter(registry, 'warden_jwks_fetches_total', 'JWKS documents fetched from jwt.jwksUrl', () => authCounters(app).jwksFetches);
  mirroredCounter(registry, 'warden_jwt_cache_hits_total', 'Bearer tokens answered from the verified-token cache', () => authCounters(app).jwtCacheHits);

  // The workflow tables, read at scrape time: one grouped count per table.
  new Gauge({
    name: 'warden_workflow_requests',
    help: 'Asynchronous requests by status (PENDING, APPROVED, EXECUTING, EXECUTED, FAILED, EXPIRED, REJECTED, CANCELLED)',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const counts = await services.workflow.requests.countByStatus();
        // Every status has a series (0 included), so a dashboard never shows "no data" for an idle queue.
        for (const status of new Set([...REQUEST_STATUSES, ...counts.keys()])) this.set({ status }, counts.get(status) ?? 0);
      } catch {
        scrapeErrors.inc({ gauge: 'warden_workflow_requests' });
      }
    },
  });
  new Gauge({
    name: 'warden_approval_tasks',
    help: 'Approval tasks by state (open, approved, rejected)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      this.reset();
      try {
        const counts = await services.workflow.tasks.countByState();
        for (const state of new Set([...TASK_STATES, ...counts.keys()])) this.set({ state }, counts.get(state) ?? 0);
      } catch {
        scrapeErrors.inc({ gauge: 'warden_approval_tasks' });
      }
    },
  });

  // Algorithm of a key label for warden_key_operations_total (peek: metadata only, nothing unsealed).
  const algorithms = new Map<string, { algorithm: string; at: number }>();
  async function algorithmOf(label: string): Promise<string> {
    const hit = algorithms.get(label);
    if (hit && Date.now() - hit.at < ALGORITHM_CACHE_MS) return hit.algorithm;
    let algorithm = 'unknown';
    try {
      algorithm = (await services.keystore.peek(label))?.algorithm ?? 'unknown';
    } catch {
      return 'unknown';
    }
    if (algorithms.size >= ALGORITHM_CACHE_SIZE) algorithms.delete(algorithms.keys().next().value as string);
    algorithms.set(label, { algorithm, at: Date.now() });
    return algorithm;
  }

  app.decorateRequest('wardenErrorCode', null);

  app.addHook('onRequest', async (_req, reply) => {
    inflight.inc();
    reply.raw.once('close', () => inflight.dec());
  });

  // Registered after the audit hook, so an audit failure that turned the response into 703 is seen here.
  app.addHook('onSend', async (req, reply, payload) => {
    void reply.header('x-request-id', req.id);
    if (reply.statusCode >= 400 && typeof payload === 'string') {
      const m = ERROR_CODE_PREFIX.exec(payload);
      if (m) req.wardenErrorCode = Number(m[1]);
    }
    return payload;
  });

  app.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    requests.inc({ method: req.method, route, status: String(status) });
    latency.observe({ method: req.method, route, status_class: `${Math.floor(status / 100)}xx` }, reply.elapsedTime / 1000);
    const code = req.wardenErrorCode;
    if (code !== null) {
      const reason = ERROR_REASONS[code as ErrorCode] ?? 'unknown';
      errorsTotal.inc({ route, error_code: String(code), reason });
      if (AUTH_FAILURE_CODES.has(code)) authFailures.inc({ error_code: String(code), reason });
    }
    const operation = req.routeOptions.config?.operationId;
    const label = req.auditLabel;
    if (operation && label) {
      const outcome = status < 400 ? 'success' : 'error';
      // After the response has left: the lookup (usually cached) never delays the caller.
      const algorithm = await algorithmOf(label);
      keyOps.inc({ operation, algorithm, outcome });
      if (operation.startsWith('delete')) algorithms.delete(label);
    }
  });

  if (!cfg.enabled) return;
  const wanted = cfg.token === null ? null : tokenDigest(cfg.token);
  app.route({
    method: 'GET',
    url: '/metrics',
    config: { roles: 'public', audit: false, limits: false, operationId: 'metrics' },
    schema: { hide: true },
    // Refusals are sent here: this route is added while the plugin loads, before the app's error handler is set.
    handler: async (req, reply) => {
      if (wanted) {
        const m = /^Bearer[ \t]+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
        const refusal = !m
          ? new WardenError(406, 'Missing access token: /metrics needs Authorization: Bearer <metrics.token>')
          : timingSafeEqual(createHash('sha256').update(m[1], 'utf8').digest(), wanted)
            ? null
            : new WardenError(617, 'Invalid access token for /metrics');
        if (refusal) return reply.code(refusal.status).send(refusal.toBody());
      }
      const parts = [await registry.metrics()];
      if (cfg.processMetrics) parts.push(await processMetrics().metrics());
      return reply.type(registry.contentType).send(parts.join('\n'));
    },
  });
};

// Hooks must apply to the whole app, not an encapsulated child (what fastify-plugin does).
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'warden-metrics';

export const metricsPlugin = plugin;
