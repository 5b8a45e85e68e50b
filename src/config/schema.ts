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

export const ConfigSchema = Type.Object(
  {
    server: Type.Object(
      {
        host: Str({ default: '127.0.0.1' }),
        port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
        bodyLimitBytes: Type.Integer({ minimum: 1024, maximum: 1024 * 1024 * 1024, default: 1048576 }),
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
        type: Type.Union([Type.Literal('software')], { default: 'software' }),
        masterKeyFile: Type.Optional(Type.String()),
        unsealedCacheSize: Type.Integer({ minimum: 0, default: 10000 }),
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
  },
  { additionalProperties: false },
);

export type RawConfig = Static<typeof ConfigSchema>;

/** The validated config with every derived default resolved to an absolute value. */
export interface Config extends Omit<RawConfig, 'database' | 'keystore'> {
  database: Omit<RawConfig['database'], 'url'> & { url: string };
  keystore: RawConfig['keystore'] & { masterKeyFile: string; masterKeyFromEnv: Buffer | null };
  /** Where the config came from, for the start-up log line. */
  source: string | null;
}
