// The one typed Config: a TypeBox schema with defaults. Property names follow the TSB's own
// (spec multi-authorization §7.2) where it has them. Unknown properties are refused so a typo
// never silently falls back to a default.
import { Type, type Static } from '@sinclair/typebox';

const Str = (opts: { default?: string; description?: string } = {}) => Type.String(opts);
const KeyList = Type.Union([Type.String(), Type.Array(Type.String())], {
  description: 'API keys of one role: a string or a list (rollover). Plain or sha256:<hex>.',
});

export const ROLE_NAMES = [
  'keyManagementToken',
  'keyOperationToken',
  'approverToken',
  'serviceToken',
  'approverKeyManagementToken',
] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

/** Asymmetric JWS algorithms only: an HMAC entry would let a public key act as a shared secret. */
export const JWT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        host: Str({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        bodyLimitBytes: Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, default: 1048576 }),
        /** Largest multipart upload of /v1/fileEncrypt and /v1/synchronousFileDecrypt (spec §4.9: vendor sample 210 MB). */
        fileUploadLimitBytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024 * 1024, default: 210 * 1024 * 1024 }),
        shutdownTimeoutMs: Type.Integer({ minimum: 0, default: 10000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    dataDir: Str({ default: './data' }),
    database: Type.Object(
      {
        url: Type.Optional(Type.String({ pattern: '^(sqlite:|postgres://|postgresql://)' })),
        // PostgreSQL pool (SQLite ignores these): every node opens up to poolSize connections.
        poolSize: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
        statementTimeoutMs: Type.Integer({ minimum: 0, default: 30000, description: '0 = no statement timeout' }),
        connectionTimeoutMs: Type.Integer({ minimum: 100, default: 5000 }),
        idleTimeoutMs: Type.Integer({ minimum: 0, default: 30000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    keystore: Type.Object(
      {
        type: Type.Union([Type.Literal('software'), Type.Literal('pkcs11')], { default: 'software' }),
        masterKeyFile: Type.Optional(Type.String()),
        unsealedCacheSize: Type.Integer({ minimum: 0, default: 10000 }),
        // keystore.type pkcs11 (docs/hsm.md): keys live on a PKCS#11 token.
        pkcs11: Type.Optional(
          Type.Object(
            {
              library: Type.String({ minLength: 1, description: 'Path of the PKCS#11 library (.so)' }),
              tokenLabel: Type.Optional(Type.String({ minLength: 1, description: 'Token label (or slot)' })),
              slot: Type.Optional(Type.Integer({ minimum: 0, description: 'Slot ID (or tokenLabel)' })),
              pin: Type.Optional(Type.String({ minLength: 1, description: 'User PIN (or pinFile)' })),
              pinFile: Type.Optional(Type.String({ minLength: 1, description: 'File holding the user PIN' })),
              sessions: Type.Integer({ minimum: 1, maximum: 1024, default: 8, description: 'Sessions in the pool: concurrent token operations' }),
            },
            { additionalProperties: false },
          ),
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    apiAuthentication: Type.Object(
      {
        enabled: Type.Boolean({ default: true }),
        keyManagementToken: Type.Optional(KeyList),
        keyOperationToken: Type.Optional(KeyList),
        approverToken: Type.Optional(KeyList),
        serviceToken: Type.Optional(KeyList),
        approverKeyManagementToken: Type.Optional(KeyList),
      },
      { additionalProperties: false, default: {} },
    ),
    hsm: Type.Object(
      {
        attestationKeyName: Str({ default: 'attestation-key' }),
        timestampKeyName: Str({ default: 'timestamp-key' }),
        rfcTimestampKeyName: Str({ default: 'rfc-timestamp-key' }),
        backupKeyName: Str({ default: 'approver-mgmt-backup-key-rsa-wrapping' }),
      },
      { additionalProperties: false, default: {} },
    ),
    logging: Type.Object(
      { level: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }) },
      { additionalProperties: false, default: {} },
    ),
    swaggerUI: Type.Object({ enabled: Type.Boolean({ default: true }) }, { additionalProperties: false, default: {} }),
    // Authentication (issue 3, docs/authentication.md): server TLS + client certificates + OCSP, JWT,
    // and the approver proof-of-possession windows of spec multi-authorization §4.2.
    tls: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        certificate: Type.Optional(Type.String({ description: 'PEM file: server certificate chain (leaf first)' })),
        privateKey: Type.Optional(Type.String({ description: 'PEM file: server private key' })),
        privateKeyPassword: Type.Optional(Type.String()),
        keyStore: Type.Optional(Type.String({ description: 'PKCS#12 file instead of certificate + privateKey' })),
        keyStorePassword: Type.Optional(Type.String()),
        clientAuthentication: Type.Union([Type.Literal('need'), Type.Literal('want'), Type.Literal('none')], { default: 'none' }),
        trustedCertificates: Type.Array(Type.String(), { default: [], description: 'PEM files: roots, intermediates and/or client certificates' }),
        clientCertificateRoles: Type.Record(Type.String(), Type.Array(Type.Union(ROLE_NAMES.map((r) => Type.Literal(r)))), {
          default: {},
          description: '"sha256:<fingerprint>" or "CN=…" (or a full DN) → roles',
        }),
        ocsp: Type.Object(
          {
            enabled: Type.Boolean({ default: false }),
            failOpen: Type.Boolean({ default: false }),
            timeoutMs: Type.Integer({ minimum: 1, maximum: 60000, default: 2000 }),
            cacheSeconds: Type.Integer({ minimum: 0, maximum: 86400, default: 300 }),
            responderUrl: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], { default: null }),
            requireNonce: Type.Boolean({ default: true }),
            cacheSize: Type.Integer({ minimum: 1, default: 10000 }),
          },
          { additionalProperties: false, default: {} },
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    jwt: Type.Object(
      {
        enabled: Type.Boolean({ default: false }),
        required: Type.Boolean({ default: true }),
        jwksUrl: Type.Union([Type.String({ pattern: '^https?://' }), Type.Null()], { default: null }),
        publicKeys: Type.Array(Type.String(), { default: [], description: 'PEM (SPKI or certificate) or JWK/JWKS files' }),
        issuer: Type.Union([Type.String(), Type.Array(Type.String()), Type.Null()], { default: null }),
        audience: Type.Union([Type.String(), Type.Array(Type.String()), Type.Null()], { default: null }),
        algorithms: Type.Array(Type.Union(JWT_ALGORITHMS.map((a) => Type.Literal(a))), {
          minItems: 1,
          default: ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'],
        }),
        clockToleranceSeconds: Type.Integer({ minimum: 0, maximum: 600, default: 30 }),
        rolesClaim: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
        tenantClaim: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null }),
        jwksCacheMaxAgeSeconds: Type.Integer({ minimum: 1, default: 600 }),
        jwksCooldownSeconds: Type.Number({ minimum: 0, default: 30 }),
        jwksTimeoutMs: Type.Integer({ minimum: 1, maximum: 60000, default: 5000 }),
        tokenCacheSize: Type.Integer({ minimum: 0, default: 10000 }),
      },
      { additionalProperties: false, default: {} },
    ),
    general: Type.Object(
      {
        maxTimestampDiffApprovalClient: Type.Integer({ minimum: 0, default: 600 }),
        maxFutureTimestampDiffApprovalClient: Type.Integer({ minimum: 0, default: 0 }),
        allowedTimestampSigningCertificates: Type.Array(Type.String(), { default: [] }),
        // Multi-authorization workflow (docs/workflow.md, spec multi-authorization §3.2, §3.3, §7.2).
        allowedRequestCertificates: Type.Array(Type.String(), { default: [], description: 'PEM files: certificates whose keys may sign requests; when set, requestSignature is required' }),
        hsmRequestsTimerServiceInterval: Type.Integer({ minimum: 0, default: 10000, description: 'ms between scheduler passes (time-locks, time-outs); 0 = off' }),
        approvalTaskCleanupInterval: Type.Integer({ minimum: 0, default: 300000, description: 'ms between removals of tasks of finished requests; 0 = off' }),
        executionClaimTimeout: Type.Integer({ minimum: 1000, default: 300000, description: 'ms after which an execution claim (EXECUTING) counts as dead: its node crashed; recovered by the next scheduler pass' }),
      },
      { additionalProperties: false, default: {} },
    ),
    // Hardening and operability (issue 11, docs/operations.md): per-client limits, HTTP timeouts and
    // header limits of the listener, and the Prometheus endpoint.
    limits: Type.Object(
      {
        rateLimit: Type.Object(
          {
            enabled: Type.Boolean({ default: false, description: 'Token bucket per client (certificate, API key, token subject, else IP)' }),
            requestsPerSecond: Type.Number({ exclusiveMinimum: 0, default: 100, description: 'Sustained rate per client' }),
            burst: Type.Integer({ minimum: 1, default: 200, description: 'Bucket size: requests a client may send at once' }),
          },
          { additionalProperties: false, default: {} },
        ),
        maxConcurrentPerClient: Type.Integer({ minimum: 0, default: 1024, description: 'Requests one client may have in flight; 0 = unlimited' }),
        authFailuresPerMinute: Type.Integer({ minimum: 0, default: 0, description: 'Failed authentications per IP and minute before 429; 0 = off' }),
        maxTrackedClients: Type.Integer({ minimum: 100, default: 100000, description: 'Clients whose counters are kept (oldest dropped first)' }),
        requestTimeoutMs: Type.Integer({ minimum: 0, default: 300000, description: 'Whole request (headers + body) must arrive within this; 0 = none' }),
        headersTimeoutMs: Type.Integer({ minimum: 0, default: 20000, description: 'Request headers must arrive within this (slowloris)' }),
        keepAliveTimeoutMs: Type.Integer({ minimum: 1, default: 72000, description: 'Idle keep-alive connections are closed after this' }),
        socketIdleTimeoutMs: Type.Integer({ minimum: 0, default: 0, description: 'A connection idle for this long mid-request is closed; 0 = none' }),
        maxHeaderSizeBytes: Type.Integer({ minimum: 1024, maximum: 1048576, default: 16384, description: 'Total size of the request line and headers (431 beyond)' }),
        maxHeadersCount: Type.Integer({ minimum: 10, maximum: 2000, default: 100, description: 'Headers per request; more are ignored' }),
        maxJsonDepth: Type.Integer({ minimum: 8, maximum: 1000, default: 64, description: 'Deepest nesting of arrays/objects in a JSON body (400/600 beyond)' }),
        connectionsCheckingIntervalMs: Type.Integer({ minimum: 100, default: 2000, description: 'How often timeouts of open connections are checked' }),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Serve Prometheus metrics at /metrics' }),
        token: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { default: null, description: 'Bearer token (plain or sha256:<hex>) required at /metrics; null = public' }),
        processMetrics: Type.Boolean({ default: true, description: 'Include the Node.js process metrics (CPU, memory, event loop, GC)' }),
      },
      { additionalProperties: false, default: {} },
    ),
    // Approver management (issue 7, docs/approvers.md, spec multi-authorization §5).
    approverManagement: Type.Object(
      {
        oneTimeCodeValiditySeconds: Type.Integer({ minimum: 60, maximum: 365 * 86400, default: 86400, description: 'How long a one-time code stays valid' }),
        oneTimeCodeMaxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 5, description: 'Wrong codes before a code is locked' }),
        pkcs12Iterations: Type.Integer({ minimum: 1000, maximum: 10000000, default: 10000, description: 'PBKDF2 iterations of the approver PKCS#12' }),
        backupKeySize: Type.Union([Type.Literal(2048), Type.Literal(3072), Type.Literal(4096)], { default: 2048, description: 'RSA size of hsm.backupKeyName when Warden creates it' }),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type RawConfig = Static<typeof ConfigSchema>;

/** The validated config with every derived default resolved to an absolute value. */
export interface Config extends Omit<RawConfig, 'database' | 'keystore'> {
  database: Omit<RawConfig['database'], 'url'> & { url: string };
  keystore: RawConfig['keystore'] & { masterKeyFile: string; masterKeyFromEnv: Buffer | null; pkcs11Pin?: string };
  /** Where the config came from, for the start-up log line. */
  source: string | null;
}
