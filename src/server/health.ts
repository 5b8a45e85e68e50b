// Health endpoints for load balancers and orchestrators (issue 11, docs/operations.md): /health/live
// (the process answers) and /health/ready (the database answers and the keystore opens a key). Public,
// never audited, exempt from the per-client limits; a node that is not ready answers 503 with the
// spec's error body (code 503).
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { WardenError } from './errors.ts';
import type { Services } from './services.ts';

export interface HealthOptions {
  services: Services;
  /** How long one check may take before it counts as down (a hung database must not hang the probe). */
  timeoutMs?: number;
}

const READY_TIMEOUT_MS = 3000;

const Live = Type.Object({ status: Type.Literal('UP') });
const Ready = Type.Object({
  status: Type.Literal('UP'),
  checks: Type.Object({ database: Type.Literal('UP'), keystore: Type.Literal('UP') }),
});
const ErrorRef = Type.Ref('ErrorBody');

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

function reasonOf(e: unknown): string {
  if (e instanceof WardenError) return `${e.reason}: ${e.message}`;
  const err = e as { code?: unknown; message?: unknown } | null;
  const code = typeof err?.code === 'string' ? `${err.code}: ` : '';
  return `${code}${typeof err?.message === 'string' ? err.message : 'failed'}`;
}

/**
 * Readiness: the database answers a read of the attestation key's row (metadata only), then the keystore
 * opens that key (unseal under the master key, integrity check) — the same path every key operation takes.
 * Throws a 503 WardenError naming the first check that failed.
 */
export async function checkReady(services: Services, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
  const label = services.config.hsm.attestationKeyName;
  let row;
  try {
    row = await withTimeout(services.keystore.peek(label), timeoutMs, 'the database');
  } catch (e) {
    throw new WardenError(503, `Not ready: database: ${reasonOf(e)}`, { cause: e });
  }
  if (!row) throw new WardenError(503, `Not ready: keystore: the attestation key '${label}' is missing`);
  try {
    await withTimeout(services.keystore.describe(label, null), timeoutMs, 'the keystore');
  } catch (e) {
    throw new WardenError(503, `Not ready: keystore: ${reasonOf(e)}`, { cause: e });
  }
}

const plugin: FastifyPluginAsync<HealthOptions> = async (app: FastifyInstance, opts: HealthOptions) => {
  const timeoutMs = opts.timeoutMs ?? READY_TIMEOUT_MS;
  const config = { roles: 'public' as const, audit: false, limits: false };
  app.route({
    method: 'GET',
    url: '/health/live',
    config: { ...config, operationId: 'healthLive' },
    schema: { hide: true, response: { 200: Live } },
    handler: async () => ({ status: 'UP' as const }),
  });
  app.route({
    method: 'GET',
    url: '/health/ready',
    config: { ...config, operationId: 'healthReady' },
    schema: { hide: true, response: { 200: Ready, 503: ErrorRef } },
    // The 503 is sent here: this route is added while the plugin loads, before the app's error handler is set.
    handler: async (req, reply) => {
      try {
        await checkReady(opts.services, timeoutMs);
      } catch (e) {
        req.log.warn({ err: e }, 'readiness check failed');
        const we = e instanceof WardenError ? e : new WardenError(503, `Not ready: ${reasonOf(e)}`);
        return reply.code(503).send(we.toBody());
      }
      return { status: 'UP' as const, checks: { database: 'UP' as const, keystore: 'UP' as const } };
    },
  });
};

(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'warden-health';

export const healthPlugin = plugin;
