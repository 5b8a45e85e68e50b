// Loads YAML + WARDEN_* environment overrides into one validated Config, or throws a ConfigError
// whose message names the offending property (the start refuses to go on half-configured).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { Value } from '@sinclair/typebox/value';
import type { TSchema } from '@sinclair/typebox';
import { ConfigSchema, type Config, type RawConfig } from './schema.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** camelCase path → WARDEN_SNAKE_CASE env name, e.g. server.bodyLimitBytes → WARDEN_SERVER_BODY_LIMIT_BYTES. */
export function envName(pathParts: string[]): string {
  return 'WARDEN_' + pathParts.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

function schemaKind(schema: TSchema): 'object' | 'integer' | 'number' | 'boolean' | 'array' | 'string' {
  if (schema.type === 'object') return 'object';
  if (schema.type === 'integer' || schema.type === 'number' || schema.type === 'boolean') return schema.type;
  if (schema.type === 'array') return 'array';
  if (Array.isArray(schema.anyOf) && (schema.anyOf as TSchema[]).some((s) => s.type === 'array')) return 'array';
  if (Array.isArray(schema.anyOf) && (schema.anyOf as TSchema[]).every((s) => s.type === 'boolean')) return 'boolean';
  return 'string';
}

/** Applies WARDEN_* overrides onto `target`; `sources` records which property came from which variable. */
function applyEnv(schema: TSchema, target: Record<string, Json>, env: NodeJS.ProcessEnv, prefix: string[], sources: Map<string, string>): void {
  const props = (schema.properties ?? {}) as Record<string, TSchema>;
  for (const [key, sub] of Object.entries(props)) {
    const parts = [...prefix, key];
    const kind = schemaKind(sub);
    if (kind === 'object') {
      const current = target[key];
      // A non-object in the file is left for the validator to name; env cannot fix it.
      if (current !== undefined && (current === null || typeof current !== 'object' || Array.isArray(current))) continue;
      const child = (current ?? {}) as Record<string, Json>;
      applyEnv(sub, child, env, parts, sources);
      if (Object.keys(child).length > 0) target[key] = child;
      continue;
    }
    const raw = env[envName(parts)];
    if (raw === undefined) continue;
    sources.set(parts.join('.'), envName(parts));
    // A value that is not a number stays a string, so the error shows what was given (not NaN/null).
    if (kind === 'integer' || kind === 'number') target[key] = raw.trim() === '' || Number.isNaN(Number(raw)) ? raw : Number(raw);
    else if (kind === 'boolean') target[key] = raw === 'true' ? true : raw === 'false' ? false : raw;
    else if (kind === 'array') target[key] = raw.split(',').map((s) => s.trim()).filter(Boolean);
    else target[key] = raw;
  }
}

function decodeMasterKey(raw: string): Buffer {
  const text = raw.trim();
  const buf = /^[0-9a-fA-F]{64}$/.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (buf.length !== 32) throw new ConfigError('WARDEN_MASTER_KEY: must be 32 bytes as 64 hex characters or base64');
  return buf;
}

/** keystore.type pkcs11: the token section must name one token and one PIN source; returns the PIN. */
function checkPkcs11(p: RawConfig['keystore']['pkcs11'], sources: Map<string, string>, cwd: string): string {
  const fail = (prop: string, detail: string): never => {
    const from = sources.get(`keystore.pkcs11.${prop}`);
    throw new ConfigError(`config property 'keystore.pkcs11${prop ? `.${prop}` : ''}'${from ? ` (from ${from})` : ''}: ${detail}`);
  };
  if (!p) return fail('', 'required when keystore.type is pkcs11 (library, tokenLabel or slot, pin or pinFile)');
  if ((p.tokenLabel === undefined) === (p.slot === undefined)) fail('tokenLabel', 'exactly one of tokenLabel and slot must be set');
  if ((p.pin === undefined) === (p.pinFile === undefined)) fail('pin', 'exactly one of pin and pinFile must be set');
  if (p.pin !== undefined) return p.pin;
  let text: string;
  try {
    text = readFileSync(path.resolve(cwd, p.pinFile as string), 'utf8');
  } catch (e) {
    return fail('pinFile', `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  const pin = text.replace(/\r?\n$/, '');
  if (pin === '') fail('pinFile', 'the file is empty');
  return pin;
}

export function loadConfig(options: { file?: string | null; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const file = options.file ?? env.WARDEN_CONFIG ?? null;
  let doc: Record<string, Json> = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(path.resolve(cwd, file), 'utf8');
    } catch (e) {
      throw new ConfigError(`config file ${file}: cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    let parsed: unknown;
    try {
      parsed = parseYaml(text);
    } catch (e) {
      throw new ConfigError(`config file ${file}: invalid YAML (${(e as Error).message.split('\n')[0]})`);
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`config file ${file}: must be a YAML mapping`);
      doc = parsed as Record<string, Json>;
    }
  }
  const sources = new Map<string, string>();
  applyEnv(ConfigSchema, doc, env, [], sources);

  const withDefaults = Value.Default(ConfigSchema, Value.Clone(doc)) as RawConfig;
  const first = Value.Errors(ConfigSchema, withDefaults).First();
  if (first) {
    const where = first.path.replace(/^\//, '').replace(/\//g, '.') || '(root)';
    const options = (first.schema.anyOf as TSchema[] | undefined)?.map((s) => s.const).filter((c) => c !== undefined);
    const detail = options && options.length > 0 ? `must be one of ${options.join(', ')}` : first.message.toLowerCase();
    const from = sources.get(where);
    throw new ConfigError(`config property '${where}'${from ? ` (from ${from})` : ''}: ${detail} (got ${JSON.stringify(first.value)})`);
  }
  const cfg = withDefaults;
  const pkcs11Pin = cfg.keystore.type === 'pkcs11' ? checkPkcs11(cfg.keystore.pkcs11, sources, cwd) : undefined;
  const dataDir = path.resolve(cwd, cfg.dataDir);
  const dbUrl = cfg.database.url ?? `sqlite:${path.join(dataDir, 'warden.db')}`;
  const resolvedDbUrl = dbUrl.startsWith('sqlite:') && dbUrl !== 'sqlite::memory:'
    ? `sqlite:${path.resolve(cwd, dbUrl.slice('sqlite:'.length))}`
    : dbUrl;
  return {
    ...cfg,
    dataDir,
    database: { ...cfg.database, url: resolvedDbUrl },
    keystore: {
      ...cfg.keystore,
      masterKeyFile: path.resolve(cwd, cfg.keystore.masterKeyFile ?? path.join(dataDir, 'master.key')),
      masterKeyFromEnv: env.WARDEN_MASTER_KEY ? decodeMasterKey(env.WARDEN_MASTER_KEY) : null,
      ...(pkcs11Pin !== undefined ? { pkcs11Pin } : {}),
    },
    source: file,
  };
}
