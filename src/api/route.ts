// The shape of one route in the registry: method, path, the roles allowed to call it, OpenAPI
// metadata and the handler. A route without roles fails the boot (src/server/app.ts).
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TSchema } from '@sinclair/typebox';
import type { RoleName } from '../config/schema.ts';
import type { Services } from '../server/services.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

export interface RouteDef {
  method: HttpMethod;
  url: string;
  /** API-key roles that may call this route; 'public' only for docs and health. */
  roles: readonly RoleName[] | 'public';
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  deprecated?: boolean;
  /** Request schemas (TypeBox) and response schemas per status (the allow-list of what may leave). */
  body?: TSchema;
  querystring?: TSchema;
  params?: TSchema;
  response: Record<number, TSchema>;
  /** Content type of a non-JSON success response (zip, octet-stream). */
  produces?: string;
  /** Whether calls are written to the audit trail (default: true). */
  audit?: boolean;
  handler: (req: FastifyRequest, reply: FastifyReply, services: Services) => Promise<unknown>;
}

export type RouteGroup = (services: Services) => RouteDef[];
