// Keyed hashes (spec §4.3; role keyOperationToken): POST /v1/synchronousHmac with an HMACSHA256 key.
// Verification of a tag is the verifyHmacRequest form of POST /v1/verify (src/api/sign-verify.ts).
import { Type, type Static } from '@sinclair/typebox';
import { hmacWith } from '../crypto/signatures/hmac.ts';
import { WardenError } from '../server/errors.ts';
import type { RouteGroup } from './route.ts';
import { Base64, PasswordSchema, decodeB64, errorResponses, passwordOf } from './wire.ts';

const HmacBody = Type.Object(
  {
    hmacRequest: Type.Object({
      keyName: Type.String({ minLength: 1, maxLength: 1024, description: 'Label of an HMACSHA256 key' }),
      keyPassword: Type.Optional(PasswordSchema),
      payload: Base64({ description: 'Base64 data to authenticate (at most 64 KiB)', maxLength: 4 * 1024 * 1024 }),
    }),
    requestSignature: Type.Optional(Type.Union([Type.Object({}, { additionalProperties: true }), Type.Null()])),
  },
  { examples: [{ hmacRequest: { keyName: 'my-hmac-key', payload: 'SGVsbG8=' } }] },
);

/** Same limit as the signatures the server hashes (spec §4.1: the HSM request limit). */
const MAX_PAYLOAD = 64 * 1024;

export const macRoutes: RouteGroup = () => [
  {
    method: 'POST', url: '/v1/synchronousHmac', roles: ['keyOperationToken'], operationId: 'synchronousHmac', tags: ['Key operations'],
    summary: 'HMAC-SHA256 of a payload with an HMACSHA256 key',
    body: HmacBody,
    response: { 200: Type.Object({ keyedHash: Type.String({ description: 'Base64 HMAC-SHA256 (32 bytes)' }) }), ...errorResponses },
    handler: async (req, _reply, s) => {
      const r = (req.body as Static<typeof HmacBody>).hmacRequest;
      req.auditLabel = r.keyName;
      const payload = decodeB64('hmacRequest.payload', r.payload);
      if (payload.length > MAX_PAYLOAD) {
        throw new WardenError(612, `payload is ${payload.length} bytes; at most ${MAX_PAYLOAD} bytes`);
      }
      const mac = await s.keystore.use(r.keyName, passwordOf(r.keyPassword), 'sign', ({ info, material }) =>
        hmacWith({ algorithm: info.algorithm, material }, r.keyName, payload),
      );
      return { keyedHash: mac.toString('base64') };
    },
  },
];
