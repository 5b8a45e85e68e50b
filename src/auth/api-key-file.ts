// First-start API keys: when API keys are enabled and the config names none, Warden uses
// <dataDir>/api-keys.yml, creating it (0600) with one random key per role on the first start.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROLE_NAMES, type RoleName } from '../config/schema.ts';

export type RoleKeyMap = Record<RoleName, string[]>;

const PREFIX: Record<RoleName, string> = {
  keyManagementToken: 'wkm',
  keyOperationToken: 'wko',
  approverToken: 'wap',
  serviceToken: 'wsv',
  approverKeyManagementToken: 'wam',
};

/** A new random API key for `role`: 192 bits, base64url, with a role prefix so a leaked key is recognisable. */
export function newApiKey(role: RoleName): string {
  return `${PREFIX[role]}_${randomBytes(24).toString('base64url')}`;
}

/** The `sha256:<hex>` form of a key, for the config file (the key itself then never sits in the config). */
export function apiKeyHash(key: string): string {
  return `sha256:${createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

export function apiKeyFile(dataDir: string): string {
  return path.join(dataDir, 'api-keys.yml');
}

/** Loads the key file, or creates it. `created` tells the caller to print the keys once. */
export function loadOrCreateApiKeys(dataDir: string): { keys: RoleKeyMap; created: boolean; file: string } {
  const file = apiKeyFile(dataDir);
  if (existsSync(file)) {
    const doc = (parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
    const keys = {} as RoleKeyMap;
    for (const role of ROLE_NAMES) {
      const v = doc[role];
      keys[role] = Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : [];
    }
    return { keys, created: false, file };
  }
  const keys = {} as RoleKeyMap;
  for (const role of ROLE_NAMES) keys[role] = [newApiKey(role)];
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const header = '# Warden API keys, one per role (X-API-KEY header). Created at first start; keep this file secret.\n';
  const body = ROLE_NAMES.map((r) => `${r}: ${keys[r][0]}`).join('\n') + '\n';
  writeFileSync(file, header + body, { mode: 0o600, flag: 'wx' });
  return { keys, created: true, file };
}
