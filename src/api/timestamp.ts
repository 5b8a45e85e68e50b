// RFC 3161 time-stamping (spec §4.10; role keyOperationToken): POST /v1/createRfcTimestamp answers a
// Base64 TimeStampToken signed by the hsm.rfcTimestampKeyName key. `payload` is the data; Warden
// hashes it with `hashAlgorithm` (spec §9 q9, decided in docs/decisions.md).
import { Type, type Static } from '@sinclair/typebox';
import { TIMESTAMP_HASH_NAMES, createTimestampToken, timestampHash } from '../pki/tsp.ts';
import type { RouteGroup } from './route.ts';
import { Base64, decodeB64, errorResponses } from './wire.ts';

const Body = Type.Object(
  {
    payload: Base64({ description: 'The data to time-stamp (Base64); Warden hashes it with hashAlgorithm' }),
    hashAlgorithm: Type.String({ maxLength: 16, description: `Message-imprint hash: ${TIMESTAMP_HASH_NAMES.join(', ')}` }),
  },
  { examples: [{ payload: 'SGVsbG8sIHdvcmxkIQ==', hashAlgorithm: 'SHA256' }] },
);

export const timestampRoutes: RouteGroup = () => [
  {
    method: 'POST', url: '/v1/createRfcTimestamp', roles: ['keyOperationToken'], operationId: 'createRfcTimestamp', tags: ['Key operations'],
    summary: 'Create an RFC 3161 time-stamp token over the payload',
    description:
      'Role: keyOperationToken. The token is a DER ContentInfo/SignedData over a TSTInfo; verify it with ' +
      '`openssl ts -verify -data <file> -in token.der -token_in -CAfile <TSA certificate>` (the TSA certificate is ' +
      'GET /v1/certificate/{hsm.rfcTimestampKeyName}).',
    body: Body,
    response: { 200: Type.Object({ timestamp: Type.String({ description: 'Base64 DER TimeStampToken' }) }), ...errorResponses },
    handler: async (req, _reply, s) => {
      const body = req.body as Static<typeof Body>;
      const name = s.config.hsm.rfcTimestampKeyName;
      req.auditLabel = name;
      const hash = timestampHash(body.hashAlgorithm);
      const token = await createTimestampToken(s.keystore, name, hash, decodeB64('payload', body.payload));
      return { timestamp: token.toString('base64') };
    },
  },
];
