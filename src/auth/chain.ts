// The authentication chain as one fastify plugin (STYLE 8): at registration it normalises the options
// and builds each method; in `onRoute` it gives every route its roles from the role table (failing the
// boot for a route the table does not cover); in `onRequest` it runs mTLS (+OCSP) → JWT → API key —
// every enabled method must pass — and leaves the principal on `req.principal` for the audit trail.
import type { FastifyInstance, FastifyPluginAsync, RouteOptions } from 'fastify';
import type { Logger } from 'pino';
import type { Config, RoleName } from '../config/schema.ts';
import { WardenError } from '../server/errors.ts';
import { ApiKeyAuthenticator } from './api-keys.ts';
import { JwtAuthenticator } from './jwt.ts';
import { MtlsAuthenticator } from './mtls.ts';
import { ANONYMOUS, principalOf, type Credential } from './principal.ts';
import { ACCESS_RULES, accessForRoute, assertPublicRoute, RouteTableError, type AccessRule } from './roles.ts';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Decision 3: JWTs are not checked on this route (approver endpoints). Set from the role table; a route may set it too. */
    ignoreJwt?: boolean;
    /** The role-table patterns that gave the route its roles. */
    rolePatterns?: string[];
  }
  interface FastifyInstance {
    /** The methods of the running chain (tests and the benchmark reach the OCSP counters through it). */
    authChain: AuthMethods;
  }
}

export interface AuthChainOptions {
  config: Config;
  logger: Logger;
  /** The role table (default: the one of src/auth/roles.ts). */
  rules?: readonly AccessRule[];
}

export interface AuthMethods {
  mtls: MtlsAuthenticator | null;
  jwt: JwtAuthenticator | null;
  apiKeys: ApiKeyAuthenticator | null;
}

/** Builds the enabled methods from the config; throws (failing the start) on an unusable configuration. */
export function buildAuthMethods(config: Config, logger: Logger): AuthMethods {
  const mtls = config.tls.enabled && config.tls.clientAuthentication !== 'none' ? new MtlsAuthenticator(config.tls, logger) : null;
  if (!config.tls.enabled && config.tls.clientAuthentication !== 'none') {
    logger.warn('tls.clientAuthentication is set but tls.enabled is false: client certificates are not requested');
  }
  if (config.tls.ocsp.enabled && !mtls) logger.warn('tls.ocsp.enabled without client authentication: no certificate to check');
  const jwt = config.jwt.enabled ? new JwtAuthenticator(config.jwt, logger) : null;
  const apiKeys = config.apiAuthentication.enabled ? new ApiKeyAuthenticator(config.apiAuthentication) : null;
  if (apiKeys) {
    for (const role of apiKeys.rolesWithoutKeys()) {
      logger.warn({ role }, `apiAuthentication.${role} has no key: its endpoints refuse every call`);
    }
  }
  if (!mtls && !jwt && !apiKeys) logger.warn('no authentication method is enabled: every endpoint is open to anyone who can reach it');
  return { mtls, jwt, apiKeys };
}

/**
 * Authorization: a credential that carries roles (API key, JWT roles claim, mapped certificate) must hold
 * one of the route's roles; one without roles only authenticates.
 */
function authorize(credentials: readonly Credential[], routeRoles: readonly RoleName[]): RoleName[] {
  const held = new Set<RoleName>();
  let roleBearing = false;
  for (const c of credentials) {
    if (c.roles === null) continue;
    roleBearing = true;
    const ok = c.roles.filter((r) => routeRoles.includes(r));
    if (ok.length === 0) {
      if (c.method === 'mtls') throw new WardenError(402, 'The client certificate is not authorised for this endpoint');
      if (c.method === 'jwt') throw new WardenError(617, 'Invalid access token: it grants none of the roles of this endpoint');
      throw new WardenError(631, 'Invalid API key for this endpoint');
    }
    ok.forEach((r) => held.add(r));
  }
  return roleBearing ? routeRoles.filter((r) => held.has(r)) : [...routeRoles];
}

const plugin: FastifyPluginAsync<AuthChainOptions> = async (app: FastifyInstance, opts: AuthChainOptions) => {
  const { config, logger } = opts;
  const rules = opts.rules ?? ACCESS_RULES;
  const methods = buildAuthMethods(config, logger);
  app.decorate('authChain', methods);

  // Every route registered from here on gets its roles from the table; the roles a route declares must
  // be among them (a declared role the table does not give is a mistake in the route or the table).
  app.addHook('onRoute', (route: RouteOptions) => {
    const method = Array.isArray(route.method) ? route.method.join(',') : route.method;
    const declared = route.config?.roles;
    if (declared === undefined || declared === 'public') {
      assertPublicRoute(method, route.url, rules);
      return;
    }
    const access = accessForRoute(method, route.url, rules);
    const stray = declared.filter((r) => !access.roles.includes(r));
    if (stray.length > 0) {
      throw new RouteTableError(
        `route ${method} ${route.url} declares role ${stray.join(', ')}, but the role table (src/auth/roles.ts) gives ${access.roles.join(', ')} via ${access.patterns.join(', ')}`,
      );
    }
    route.config = { ...route.config, roles: access.roles, rolePatterns: access.patterns, ignoreJwt: route.config?.ignoreJwt ?? access.ignoreJwt };
    const schema = route.schema as { description?: string } | undefined;
    if (schema?.description?.startsWith('Role: ')) schema.description = `Role: ${access.roles.join(' or ')}`;
  });

  app.addHook('onRequest', async (req) => {
    req.principal = ANONYMOUS;
    const cfg = req.routeOptions.config;
    const roles = cfg?.roles;
    if (roles === undefined || roles === 'public') return;
    const credentials: Credential[] = [];
    if (methods.mtls) {
      const c = await methods.mtls.authenticate(req.raw.socket);
      if (c) credentials.push(c);
    }
    if (methods.jwt && !cfg.ignoreJwt) {
      const c = await methods.jwt.authenticate(req.headers.authorization);
      if (c) credentials.push(c);
    }
    if (methods.apiKeys) credentials.push(methods.apiKeys.authenticate(req.headers['x-api-key'], roles));
    req.principal = principalOf(credentials, authorize(credentials, roles));
  });
};

// Hooks must apply to the whole app, not an encapsulated child (what fastify-plugin does).
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'warden-auth-chain';

export const authChain = plugin;
