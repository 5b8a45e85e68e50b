// Configuration (issue 2, docs/configuration.md): defaults, YAML + WARDEN_* precedence, one clear
// ConfigError naming the property for every kind of bad input, docs listing every property, and the
// README's first start (`warden serve` in an empty directory) end to end, through SIGTERM.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { parse as parseYaml } from 'yaml';
import { ConfigError, envName, loadConfig } from '../src/config/load.ts';
import { ConfigSchema, ROLE_NAMES } from '../src/config/schema.ts';
import { freePort, runWarden, spawnWarden, waitFor, workDir } from './helpers/core-tools.ts';

const dirs: string[] = [];
const dir = () => {
  const d = workDir('warden-cfg-');
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function yamlFile(text: string): string {
  const f = path.join(dir(), 'warden.yml');
  writeFileSync(f, text);
  return f;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.message.includes('\n'), false, 'one line');
    return e;
  }
  assert.fail('expected a ConfigError');
}

describe('loadConfig', () => {
  it('defaults: 127.0.0.1:8080, ./data, SQLite, software keystore, API keys on, TSB key names', () => {
    const cwd = dir();
    const c = loadConfig({ env: {}, cwd });
    assert.equal(c.server.host, '127.0.0.1');
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.bodyLimitBytes, 1048576);
    assert.equal(c.dataDir, path.join(cwd, 'data'));
    assert.equal(c.database.url, `sqlite:${path.join(cwd, 'data', 'warden.db')}`);
    assert.equal(c.keystore.type, 'software');
    assert.equal(c.keystore.masterKeyFile, path.join(cwd, 'data', 'master.key'));
    assert.equal(c.keystore.masterKeyFromEnv, null);
    assert.equal(c.apiAuthentication.enabled, true);
    for (const r of ROLE_NAMES) assert.equal(c.apiAuthentication[r], undefined);
    assert.deepEqual(c.hsm, {
      attestationKeyName: 'attestation-key', timestampKeyName: 'timestamp-key', rfcTimestampKeyName: 'rfc-timestamp-key', backupKeyName: 'approver-mgmt-backup-key-rsa-wrapping',
    });
    assert.equal(c.logging.level, 'info');
    assert.equal(c.swaggerUI.enabled, true);
    assert.equal(c.source, null);
  });

  it('reads the YAML file; relative paths resolve against the working directory', () => {
    const cwd = dir();
    const f = path.join(cwd, 'w.yml');
    writeFileSync(f, [
      'server: { host: 0.0.0.0, port: 9443, bodyLimitBytes: 2048 }',
      'dataDir: ./state',
      'database: { url: "sqlite:./db/w.db" }',
      'keystore: { type: software, masterKeyFile: ./secrets/mk }',
      'apiAuthentication: { enabled: true, keyManagementToken: [a, b], serviceToken: s }',
      'hsm: { attestationKeyName: att }',
      'logging: { level: warn }',
    ].join('\n'));
    const c = loadConfig({ file: 'w.yml', env: {}, cwd });
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.server.port, 9443);
    assert.equal(c.server.bodyLimitBytes, 2048);
    assert.equal(c.dataDir, path.join(cwd, 'state'));
    assert.equal(c.database.url, `sqlite:${path.join(cwd, 'db', 'w.db')}`);
    assert.equal(c.keystore.masterKeyFile, path.join(cwd, 'secrets', 'mk'));
    assert.deepEqual(c.apiAuthentication.keyManagementToken, ['a', 'b']);
    assert.equal(c.apiAuthentication.serviceToken, 's');
    assert.equal(c.hsm.attestationKeyName, 'att');
    assert.equal(c.hsm.timestampKeyName, 'timestamp-key');
    assert.equal(c.logging.level, 'warn');
    assert.equal(c.source, 'w.yml');
  });

  it('WARDEN_* overrides win over the file; lists are comma-separated; WARDEN_CONFIG names the file', () => {
    const f = yamlFile('server: { port: 9000, host: 10.0.0.1 }\napiAuthentication: { enabled: true, serviceToken: from-file }\nlogging: { level: warn }\n');
    const c = loadConfig({
      env: {
        WARDEN_CONFIG: f,
        WARDEN_SERVER_PORT: '9001',
        WARDEN_SERVER_BODY_LIMIT_BYTES: '4096',
        WARDEN_API_AUTHENTICATION_SERVICE_TOKEN: 'k1, k2 ,k3',
        WARDEN_API_AUTHENTICATION_ENABLED: 'false',
        WARDEN_HSM_ATTESTATION_KEY_NAME: 'env-att',
        WARDEN_SWAGGER_UI_ENABLED: 'false',
      },
      cwd: dir(),
    });
    assert.equal(c.server.port, 9001);
    assert.equal(c.server.host, '10.0.0.1', 'file values without an env override stay');
    assert.equal(c.server.bodyLimitBytes, 4096);
    assert.deepEqual(c.apiAuthentication.serviceToken, ['k1', 'k2', 'k3']);
    assert.equal(c.apiAuthentication.enabled, false);
    assert.equal(c.hsm.attestationKeyName, 'env-att');
    assert.equal(c.swaggerUI.enabled, false);
    assert.equal(c.logging.level, 'warn');
    assert.equal(c.source, f);
  });

  it('WARDEN_MASTER_KEY: 64 hex or Base64 of 32 bytes', () => {
    const hex = 'ab'.repeat(32);
    assert.equal(loadConfig({ env: { WARDEN_MASTER_KEY: hex }, cwd: dir() }).keystore.masterKeyFromEnv?.toString('hex'), hex);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    assert.equal(loadConfig({ env: { WARDEN_MASTER_KEY: b64 }, cwd: dir() }).keystore.masterKeyFromEnv?.toString('hex'), hex);
    assert.match(configError(() => loadConfig({ env: { WARDEN_MASTER_KEY: 'abc' }, cwd: dir() })).message, /^WARDEN_MASTER_KEY: must be 32 bytes/);
  });

  it('env names follow the camelCase → UPPER_SNAKE rule', () => {
    assert.equal(envName(['server', 'port']), 'WARDEN_SERVER_PORT');
    assert.equal(envName(['server', 'bodyLimitBytes']), 'WARDEN_SERVER_BODY_LIMIT_BYTES');
    assert.equal(envName(['apiAuthentication', 'keyManagementToken']), 'WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN');
    assert.equal(envName(['dataDir']), 'WARDEN_DATA_DIR');
    assert.equal(envName(['swaggerUI', 'enabled']), 'WARDEN_SWAGGER_UI_ENABLED');
  });

  describe('invalid configuration: one ConfigError naming the property', () => {
    const fileCases: Array<[string, string, RegExp]> = [
      ['unknown enum value', 'logging:\n  level: loud\n', /^config property 'logging\.level': must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)$/],
      ['unknown keystore type', 'keystore:\n  type: hsm\n', /^config property 'keystore\.type': .*software.* \(got "hsm"\)$/],
      ['pkcs11 without its section', 'keystore:\n  type: pkcs11\n', /^config property 'keystore\.pkcs11': required when keystore\.type is pkcs11/],
      ['wrong type (string for integer)', 'server:\n  port: abc\n', /^config property 'server\.port': expected integer \(got "abc"\)$/],
      ['wrong type (string for boolean)', 'apiAuthentication:\n  enabled: "yes"\n', /^config property 'apiAuthentication\.enabled': expected boolean/],
      ['out of range', 'server:\n  port: 70000\n', /^config property 'server\.port': .*65535/],
      ['below the minimum', 'server:\n  bodyLimitBytes: 10\n', /^config property 'server\.bodyLimitBytes': .*1024/],
      ['object expected', 'server: 8080\n', /^config property 'server': expected object \(got 8080\)$/],
      ['unknown top-level property', 'sever:\n  port: 1\n', /^config property 'sever': unexpected property/],
      ['unknown nested property', 'server:\n  prot: 1\n', /^config property 'server\.prot': unexpected property/],
      ['bad database url', 'database:\n  url: mysql://x\n', /^config property 'database\.url': /],
      ['API key of the wrong type', 'apiAuthentication:\n  serviceToken: 5\n', /^config property 'apiAuthentication\.serviceToken': /],
      ['invalid YAML', 'server: [\n', /^config file .*warden\.yml: invalid YAML/],
      ['not a mapping', '- a\n- b\n', /^config file .*warden\.yml: must be a YAML mapping$/],
    ];
    for (const [name, text, want] of fileCases) {
      it(name, () => {
        const f = yamlFile(text);
        assert.match(configError(() => loadConfig({ file: f, env: {}, cwd: dir() })).message, want);
      });
    }

    it('unreadable file (missing, a directory)', () => {
      assert.match(configError(() => loadConfig({ file: '/nonexistent/warden.yml', env: {} })).message, /^config file \/nonexistent\/warden\.yml: cannot be read \(ENOENT\)$/);
      const d = dir();
      assert.match(configError(() => loadConfig({ file: d, env: {} })).message, /cannot be read \(EISDIR\)$/);
    });

    it('bad environment values name the property and the variable', () => {
      assert.match(configError(() => loadConfig({ env: { WARDEN_SERVER_PORT: 'abc' }, cwd: dir() })).message, /^config property 'server\.port' \(from WARDEN_SERVER_PORT\): expected integer \(got "abc"\)$/);
      assert.match(configError(() => loadConfig({ env: { WARDEN_SERVER_PORT: '' }, cwd: dir() })).message, /'server\.port' \(from WARDEN_SERVER_PORT\)/);
      assert.match(configError(() => loadConfig({ env: { WARDEN_API_AUTHENTICATION_ENABLED: 'yes' }, cwd: dir() })).message, /'apiAuthentication\.enabled' \(from WARDEN_API_AUTHENTICATION_ENABLED\): expected boolean/);
      assert.match(configError(() => loadConfig({ env: { WARDEN_LOGGING_LEVEL: 'loud' }, cwd: dir() })).message, /'logging\.level' \(from WARDEN_LOGGING_LEVEL\): must be one of/);
    });

    it('an env override under a property the file got wrong still reports the file error', () => {
      const f = yamlFile('server: 8080\n');
      assert.match(configError(() => loadConfig({ file: f, env: { WARDEN_SERVER_PORT: '1' }, cwd: dir() })).message, /^config property 'server': expected object/);
    });
  });
});

describe('docs/configuration.md', () => {
  it('lists every property of the schema with its environment name', () => {
    const doc = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
    const missing: string[] = [];
    const walk = (s: TSchema, prefix: string[]) => {
      for (const [k, sub] of Object.entries((s.properties ?? {}) as Record<string, TSchema>)) {
        const parts = [...prefix, k];
        if (sub.type === 'object' && sub.properties) {
          walk(sub, parts);
          continue;
        }
        const row = doc.split('\n').find((l) => l.startsWith(`| \`${parts.join('.')}\` |`));
        if (!row) missing.push(parts.join('.'));
        else if (sub.type !== 'object' && !row.includes(`\`${envName(parts)}\``)) missing.push(`${parts.join('.')} (env ${envName(parts)})`);
      }
    };
    walk(ConfigSchema, []);
    assert.deepEqual(missing, [], 'undocumented properties');
  });
});

describe('warden serve', () => {
  it('an invalid config stops the start with one line on stderr and exit 1', () => {
    const f = yamlFile('server:\n  port: eighty\n');
    const r = runWarden(['serve', '--config', f], {});
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.equal(r.stderr, `warden: config property 'server.port': expected integer (got "eighty")\n`);
    const env = runWarden(['serve'], { WARDEN_LOGGING_LEVEL: 'chatty' });
    assert.equal(env.status, 1);
    assert.match(env.stderr, /^warden: config property 'logging\.level' \(from WARDEN_LOGGING_LEVEL\): must be one of/);
  });

  it('first start in an empty directory: data 0700, master.key 0600, api-keys.yml 0600 with 5 roles; the README curl flow works; SIGTERM exits 0', async () => {
    const cwd = dir();
    const port = await freePort();
    const { child, output } = spawnWarden(['serve'], { WARDEN_SERVER_PORT: String(port) }, cwd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /Warden [0-9.]+ started/.test(output()) || child.exitCode !== null, 60_000, 'the start-up log line');
      assert.equal(child.exitCode, null, output());

      const data = path.join(cwd, 'data');
      assert.equal(statSync(data).mode & 0o777, 0o700);
      assert.equal(statSync(path.join(data, 'master.key')).mode & 0o777, 0o600);
      assert.match(readFileSync(path.join(data, 'master.key'), 'utf8'), /^[0-9a-f]{64}\n$/);
      const keyFile = path.join(data, 'api-keys.yml');
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      const keys = parseYaml(readFileSync(keyFile, 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(keys).sort(), [...ROLE_NAMES].sort());
      for (const r of ROLE_NAMES) {
        assert.match(keys[r], /^[a-z]{3}_[A-Za-z0-9_-]{20,}$/, r);
        assert.ok(output().includes(keys[r]), `${r} key is printed once at first start`);
      }
      assert.equal(new Set(Object.values(keys)).size, 5, 'one distinct key per role');

      // The README: KEY=$(awk '/^keyManagementToken:/{print $2}' data/api-keys.yml)
      const KEY = readFileSync(keyFile, 'utf8').split('\n').find((l) => l.startsWith('keyManagementToken:'))?.split(/\s+/)[1] as string;
      const base = `http://127.0.0.1:${port}`;
      const headers = { 'X-API-KEY': KEY, 'Content-Type': 'application/json' };
      const created = await fetch(`${base}/v1/key`, {
        method: 'POST', headers,
        body: '{"label":"my-ec-key","algorithm":"EC","curveOid":"1.2.840.10045.3.1.7","attributes":{"sign":true,"decrypt":false,"unwrap":false,"destroyable":true}}',
      });
      assert.equal(created.status, 201, await created.clone().text());
      const attrs = await fetch(`${base}/v1/key/attributes`, { method: 'POST', headers, body: '{"label":"my-ec-key"}' });
      assert.equal(attrs.status, 200);
      const body = (await attrs.json()) as { json: { label: string; algorithm: string; curveOid: string; publicKey: string } };
      assert.equal(body.json.label, 'my-ec-key');
      assert.equal(body.json.algorithm, 'EC');
      assert.equal(body.json.curveOid, '1.2.840.10045.3.1.7');
      // the other roles' keys are refused here (401/631), no key at all is 401/416
      const wrong = await fetch(`${base}/v1/key`, { headers: { 'X-API-KEY': keys.serviceToken } });
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as { errorCode: number }).errorCode, 631);
      const none = await fetch(`${base}/v1/key`);
      assert.equal(none.status, 401);
      assert.equal(((await none.json()) as { errorCode: number }).errorCode, 416);
      const version = await fetch(`${base}/v1/versionInfo`, { headers: { 'X-API-KEY': keys.serviceToken } });
      assert.equal(version.status, 200);
      // docs and Swagger UI are public
      assert.equal((await fetch(`${base}/v3/api-docs`)).status, 200);
      // pino JSON logs on stdout carry request ids
      assert.match(output(), /"reqId":"[0-9a-f-]{36}"/);
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output());
    assert.match(output(), /shutting down/);

    // second start: the same keys, nothing printed, the key created before is still there
    const port2 = await freePort();
    const again = spawnWarden(['serve'], { WARDEN_SERVER_PORT: String(port2) }, cwd);
    const exited2 = new Promise<number | null>((resolve) => again.child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /Warden [0-9.]+ started/.test(again.output()) || again.child.exitCode !== null, 60_000, 'the second start');
      assert.doesNotMatch(again.output(), /First start/);
      const KEY = (parseYaml(readFileSync(path.join(cwd, 'data', 'api-keys.yml'), 'utf8')) as Record<string, string>).keyManagementToken;
      const r = await fetch(`http://127.0.0.1:${port2}/v1/key`, { headers: { 'X-API-KEY': KEY } });
      assert.ok(((await r.json()) as string[]).includes('my-ec-key'));
    } finally {
      if (again.child.exitCode === null) again.child.kill('SIGTERM');
    }
    assert.equal(await exited2, 0, again.output());
  });

  it('SIGTERM lets an in-flight call finish (201), then exits 0', async () => {
    const cwd = dir();
    const port = await freePort();
    const env = { WARDEN_SERVER_PORT: String(port), WARDEN_API_AUTHENTICATION_KEY_MANAGEMENT_TOKEN: 'km', WARDEN_LOGGING_LEVEL: 'info' };
    const { child, output } = spawnWarden(['serve'], env, cwd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => /Warden [0-9.]+ started/.test(output()) || child.exitCode !== null, 60_000, 'the start');
      // RSA 4096 generation takes long enough to still be running when the signal arrives.
      const inflight = fetch(`http://127.0.0.1:${port}/v1/key`, {
        method: 'POST', headers: { 'X-API-KEY': 'km', 'Content-Type': 'application/json' },
        body: JSON.stringify({ label: 'slow', algorithm: 'RSA', keySize: 4096, attributes: { sign: true } }),
      });
      await waitFor(() => /"url":"\/v1\/key"/.test(output()), 10_000, 'the request to arrive');
      child.kill('SIGTERM');
      const r = await inflight;
      assert.equal(r.status, 201, await r.clone().text());
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output());
    assert.match(output(), /shutting down: finishing in-flight requests/);
  });

  it('serves with a --config file (host, port, dataDir and keys from the file)', async () => {
    const cwd = dir();
    const port = await freePort();
    mkdirSync(path.join(cwd, 'etc'));
    writeFileSync(path.join(cwd, 'etc', 'w.yml'), `server: { port: ${port} }\ndataDir: ./state\napiAuthentication: { keyManagementToken: km-from-file, serviceToken: sv-from-file }\nlogging: { level: warn }\n`);
    const { child, output } = spawnWarden(['serve', '--config', 'etc/w.yml'], {}, cwd);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitFor(() => child.exitCode !== null || statSafe(path.join(cwd, 'state', 'warden.db')), 60_000, 'the data directory');
      let ok = false;
      for (let i = 0; i < 300 && !ok && child.exitCode === null; i++) {
        ok = await fetch(`http://127.0.0.1:${port}/v1/key`, { headers: { 'X-API-KEY': 'km-from-file' } }).then((r) => r.status === 200, () => false);
        if (!ok) await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(ok, output());
      assert.equal(statSafe(path.join(cwd, 'state', 'api-keys.yml')), false, 'keys from the config: no key file');
    } finally {
      if (child.exitCode === null) child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output());
  });
});

function statSafe(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}
