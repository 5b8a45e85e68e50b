// Random bytes (spec §4.11): GET /v1/generateRandom/{length}, 1..65536 bytes from the CSPRNG.
// Role keyOperationToken or serviceToken (the Go client sends its service key, spec README decision 2).
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Type, type Static } from '@sinclair/typebox';
import { WardenError } from '../server/errors.ts';
import type { RouteGroup } from './route.ts';
import { errorResponses } from './wire.ts';

const random = promisify(randomBytes);
export const MAX_RANDOM_BYTES = 65536;

const Params = Type.Object({ length: Type.String({ maxLength: 64, description: `Number of bytes, 1..${MAX_RANDOM_BYTES}`, examples: ['32'] }) });

export const randomRoutes: RouteGroup = () => [
  {
    method: 'GET', url: '/v1/generateRandom/:length', roles: ['keyOperationToken', 'serviceToken'], operationId: 'generateRandom', tags: ['Key operations'],
    summary: `Random bytes from the CSPRNG (1..${MAX_RANDOM_BYTES})`,
    audit: false,
    params: Params,
    response: { 200: Type.Object({ random: Type.String({ description: 'Base64 random bytes' }) }), ...errorResponses },
    handler: async (req) => {
      const { length } = req.params as Static<typeof Params>;
      const n = /^[0-9]{1,6}$/.test(length) ? Number(length) : NaN;
      if (!(n >= 1 && n <= MAX_RANDOM_BYTES)) throw new WardenError(619, `length must be a whole number of bytes in 1..${MAX_RANDOM_BYTES}, got '${length}'`);
      return { random: (await random(n)).toString('base64') };
    },
  },
];
