// Per-client limits and slow-client protection (issue 11, docs/operations.md): a token-bucket rate
// limit and a cap on concurrent requests per client, failed authentications per IP, and the listener's
// timeouts and header limits. Refusals are 429 with the spec's error body (code 429).
import type { Server } from 'node:http';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../config/schema.ts';
import { WardenError } from './errors.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route is exempt from the per-client limits (health probes, metrics scrapes). */
    limits?: boolean;
  }
}

export type LimitsConfig = Config['limits'];

/** What a limiter refusal is counted as in the metrics. */
export type LimitReason = 'rate' | 'concurrency' | 'auth-failures';

export interface LimitsOptions {
  limits: LimitsConfig;
  /** Clock in ms (tests). */
  now?: () => number;
}

type Bucket = { tokens: number; at: number };
type Window = { start: number; count: number };

/**
 * Bounded map: inserting beyond `max` drops the entry used longest ago (a touched entry moves to the end),
 * so a flood of distinct client ids (spoofed IPs, random keys) cannot grow memory without bound.
 */
class BoundedMap<V> {
  private readonly map = new Map<string, V>();
  constructor(private readonly max: number) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(key, value);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  get size(): number {
    return this.map.size;
  }
}

/** The limiter state, independent of fastify so it can be tested with a fake clock. */
export class ClientLimiter {
  private readonly buckets: BoundedMap<Bucket>;
  private readonly failures: BoundedMap<Window>;
  /** In-flight requests per client; an entry is removed when its count drops to 0. */
  private readonly inflight = new Map<string, number>();
  private readonly now: () => number;
  /** Refusals so far by reason (read by src/server/metrics.ts at scrape time). */
  readonly refusals: Record<LimitReason, number> = { rate: 0, concurrency: 0, 'auth-failures': 0 };

  constructor(
    private readonly cfg: LimitsConfig,
    now?: () => number,
  ) {
    this.now = now ?? Date.now;
    this.buckets = new BoundedMap(cfg.maxTrackedClients);
    this.failures = new BoundedMap(cfg.maxTrackedClients);
  }

  /** Takes one token of `client`'s bucket; returns 0 when allowed, else the seconds until one is available. */
  take(client: string): number {
    const { enabled, requestsPerSecond: rate, burst } = this.cfg.rateLimit;
    if (!enabled) return 0;
    const t = this.now();
    const b = this.buckets.get(client) ?? { tokens: burst, at: t };
    b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate);
    b.at = t;
    let wait = 0;
    if (b.tokens >= 1) b.tokens -= 1;
    else wait = Math.max(1, Math.ceil((1 - b.tokens) / rate));
    this.buckets.set(client, b);
    return wait;
  }

  /** Starts a request of `client`; false when it already has maxConcurrentPerClient in flight. */
  enter(client: string): boolean {
    const max = this.cfg.maxConcurrentPerClient;
    const n = this.inflight.get(client) ?? 0;
    if (max > 0 && n >= max) return false;
    this.inflight.set(client, n + 1);
    return true;
  }

  leave(client: string): void {
    const n = (this.inflight.get(client) ?? 0) - 1;
    if (n <= 0) this.inflight.delete(client);
    else this.inflight.set(client, n);
  }

  inFlight(client: string): number {
    return this.inflight.get(client) ?? 0;
  }

  /** Counts a failed authentication from `ip` in the current one-minute window. */
  authFailed(ip: string): void {
    if (this.cfg.authFailuresPerMinute <= 0) return;
    const t = this.now();
    const w = this.failures.get(ip);
    if (!w || t - w.start >= 60_000) this.failures.set(ip, { start: t, count: 1 });
    else w.count++;
  }

  /** Seconds until `ip` may try again, or 0 when it is below authFailuresPerMinute. */
  authBlocked(ip: string): number {
    const max = this.cfg.authFailuresPerMinute;
    if (max <= 0) return 0;
    const w = this.failures.get(ip);
    if (!w) return 0;
    const left = 60_000 - (this.now() - w.start);
    if (left <= 0) {
      this.failures.delete(ip);
      return 0;
    }
    return w.count >= max ? Math.ceil(left / 1000) : 0;
  }

  /** Clients with state (tests: the maps stay bounded). */
  get trackedClients(): number {
    return Math.max(this.buckets.size, this.failures.size);
  }
}

/**
 * Who a request counts against: the verified client certificate, else the authenticated subject (API key
 * role and index, token subject), else the peer address. The credential as sent is never the key: a client
 * inventing a new API key per request would otherwise get a fresh bucket each time.
 */
export function clientOf(req: FastifyRequest): string {
  const p = req.principal;
  if (p?.certificate) return `cert:${p.certificate.fingerprint}`;
  if (p && p.method !== 'anonymous') return `sub:${p.subject}`;
  return `ip:${req.ip}`;
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one (code units). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** What is wrong with a parsed JSON body that the schemas cannot see: too deep, or not valid Unicode. */
export type JsonDefect = 'depth' | 'surrogate';

/**
 * Walks a parsed JSON body once, without recursion, and names its first defect:
 * - `depth`: arrays/objects nested deeper than `max`. Handlers and the workflow walk bodies recursively
 *   (password scrubbing, canonical JSON of stored requests) and unknown properties are accepted (spec
 *   README decision 5): a body nested thousands deep in an ignored field overflowed the stack there.
 * - `surrogate`: a string or property name with an unpaired UTF-16 surrogate (`"\ud800"` in the JSON
 *   text). It has no UTF-8 form: the database stores U+FFFD instead, so a key created under such a label
 *   no longer matched its seal and could never be opened or deleted (701). RFC 8259 §8.2.
 * Both were found by the fuzzer as 500s/701s.
 */
export function jsonDefect(value: unknown, maxDepth: number): JsonDefect | null {
  const stack: [unknown, number][] = [[value, 1]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, depth] = item;
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return 'surrogate';
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth > maxDepth) return 'depth';
    if (Array.isArray(v)) {
      for (const child of v) stack.push([child, depth + 1]);
    } else {
      for (const [k, child] of Object.entries(v)) {
        if (LONE_SURROGATE.test(k)) return 'surrogate';
        stack.push([child, depth + 1]);
      }
    }
  }
  return null;
}

/** Whether a parsed JSON value nests arrays/objects deeper than `max` (see jsonDefect). */
export function jsonDepthExceeds(value: unknown, max: number): boolean {
  return jsonDefect(value, max) === 'depth';
}

/** Status of a failed authentication (spec README decision 1: codes 402/406/416/617/631 → 401). */
const AUTH_FAILURE_STATUS = 401;

/**
 * Applies the timeouts and header limits to the listener (plain HTTP or the HTTPS server of tls.ts; the
 * serverFactory path gets none of fastify's own). Node reads these properties per connection and at
 * listen time, so setting them on the created server is enough.
 */
export function applyServerLimits(server: Server, cfg: LimitsConfig): void {
  const s = server as Server & { maxHeaderSize?: number; connectionsCheckingInterval?: number };
  s.requestTimeout = cfg.requestTimeoutMs;
  // Node requires headersTimeout ≤ requestTimeout when both are set.
  s.headersTimeout = cfg.requestTimeoutMs > 0 ? Math.min(cfg.headersTimeoutMs, cfg.requestTimeoutMs) : cfg.headersTimeoutMs;
  s.keepAliveTimeout = cfg.keepAliveTimeoutMs;
  s.maxHeaderSize = cfg.maxHeaderSizeBytes;
  s.maxHeadersCount = cfg.maxHeadersCount;
  s.connectionsCheckingInterval = cfg.connectionsCheckingIntervalMs;
  s.setTimeout(cfg.socketIdleTimeoutMs);
}

/**
 * Sends the 429 from the hook itself rather than throwing: routes added before the app's error handler
 * is set (the OpenAPI document, Swagger UI) would otherwise answer with fastify's own error body.
 */
function refuse(reply: FastifyReply, retryAfter: number, message: string): FastifyReply {
  const e = new WardenError(429, message);
  return reply.code(e.status).header('retry-after', String(retryAfter)).send(e.toBody());
}

const plugin: FastifyPluginAsync<LimitsOptions> = async (app: FastifyInstance, opts: LimitsOptions) => {
  const cfg = opts.limits;
  const limiter = new ClientLimiter(cfg, opts.now);
  const refused = (reason: LimitReason) => {
    limiter.refusals[reason]++;
  };
  app.decorate('limiter', limiter);
  applyServerLimits(app.server as Server, cfg);

  // Before the auth chain (registered after this plugin): an address that keeps failing to authenticate
  // is refused without spending a credential check on it.
  if (cfg.authFailuresPerMinute > 0) {
    app.addHook('onRequest', async (req, reply) => {
      if (req.routeOptions.config?.limits === false) return;
      const wait = limiter.authBlocked(req.ip);
      if (wait > 0) {
        refused('auth-failures');
        return refuse(reply, wait, `Too many failed authentications from this address; retry in ${wait} s`);
      }
    });
    app.addHook('onResponse', async (req, reply) => {
      if (reply.statusCode === AUTH_FAILURE_STATUS) limiter.authFailed(req.ip);
    });
  }

  app.addHook('preValidation', async (req, reply) => {
    const body = req.body;
    if (body === null || body === undefined || Buffer.isBuffer(body)) return;
    const defect = jsonDefect(body, cfg.maxJsonDepth);
    if (defect) {
      const e = new WardenError(600, defect === 'depth' ? `The JSON body nests deeper than ${cfg.maxJsonDepth} levels` : 'The JSON body contains an unpaired UTF-16 surrogate (\\ud800-\\udfff): not valid Unicode');
      return reply.code(e.status).send(e.toBody());
    }
  });

  if (!cfg.rateLimit.enabled && cfg.maxConcurrentPerClient === 0) return;
  // preParsing runs after every onRequest hook (so after authentication: the principal is known) and
  // before the body is read, so a refused client costs no body parsing.
  app.addHook('preParsing', async (req, reply, payload) => {
    if (req.routeOptions.config?.limits === false) return payload;
    const client = clientOf(req);
    const wait = limiter.take(client);
    if (wait > 0) {
      refused('rate');
      return refuse(reply, wait, `Rate limit of ${cfg.rateLimit.requestsPerSecond} requests/s exceeded; retry in ${wait} s`);
    }
    if (cfg.maxConcurrentPerClient > 0) {
      if (!limiter.enter(client)) {
        refused('concurrency');
        return refuse(reply, 1, `More than ${cfg.maxConcurrentPerClient} concurrent requests from this client`);
      }
      // 'close' comes once for every response: finished, failed or aborted by the client.
      reply.raw.once('close', () => limiter.leave(client));
    }
    return payload;
  });
};

declare module 'fastify' {
  interface FastifyInstance {
    /** The per-client limiter (tests read its state). */
    limiter: ClientLimiter;
  }
}

// Hooks must apply to the whole app, not an encapsulated child (what fastify-plugin does).
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'warden-limits';

export const limitsPlugin = plugin;
