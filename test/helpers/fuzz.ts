// The OpenAPI-driven fuzzer (issue 11): reads /v3/api-docs, and for every operation generates
// valid-shaped requests (from the schemas and their examples) and malformed ones (wrong types, missing
// and extra fields, huge and empty strings, invalid base64, unicode and path-traversal labels, deep
// JSON, oversized bodies, wrong content types, bad path and query values, wrong credentials) with
// fast-check, sends them in-process (app.inject) with the API key of the route's role, and checks:
// no 5xx except deliberate ones (HTTP 500 with a 7xx code, 501 with a 1xx code), the spec's error body
// on every error, the server stays up, and no key, request, task or data object appears on a rejected call.
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ROUTE_GROUPS } from '../../src/api/registry.ts';
import type { RoleName } from '../../src/config/schema.ts';
import { ERROR_REASONS, type ErrorCode } from '../../src/server/errors.ts';
import { buildApp } from '../../src/server/app.ts';
import { ROLE_KEYS, type TestWarden } from './runtime.ts';

type Json = Record<string, unknown>;
type Schema = Json;

export interface Operation {
  operationId: string;
  method: string;
  /** OpenAPI path template, e.g. /v1/key/{keyName}/attributes. */
  path: string;
  params: { name: string; in: 'path' | 'query'; schema: Schema; required: boolean }[];
  body: Schema | null;
  roles: readonly RoleName[] | 'public';
  multipart: boolean;
}

export interface SentRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  /** The body as sent (truncated to 2 KB in findings). */
  body: string;
}

export interface Finding {
  operationId: string;
  kind: string;
  problem: string;
  status: number;
  response: string;
  request: SentRequest;
  /** Error-level server log lines of that request (the stack of an unexpected failure). */
  serverLog?: string[];
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  /** Stop generating after this long (the count run so far is reported). */
  timeLimitMs?: number;
  /** Progress callback every `progressEvery` requests. */
  progress?: (done: number, result: FuzzResult) => void;
  progressEvery?: number;
}

export interface FuzzResult {
  runs: number;
  seconds: number;
  operations: number;
  /** Requests per operationId. */
  perOperation: Record<string, number>;
  /** Responses per HTTP status. */
  byStatus: Record<string, number>;
  /** Responses per wire errorCode. */
  byErrorCode: Record<string, number>;
  /** Requests per generation kind (valid, wrongType, deepJson, …). */
  byKind: Record<string, number>;
  findings: Finding[];
  /** Deliberate 5xx (7xx codes) seen, by code and message, for the report. */
  deliberate5xx: Record<string, number>;
  slowest: { ms: number; operationId: string; kind: string; status: number }[];
}

// --- OpenAPI → operations ------------------------------------------------------------------------

const METHODS = ['get', 'post', 'put', 'delete', 'patch'];

export function operationsOf(doc: Json, w: TestWarden): Operation[] {
  const roles = new Map<string, readonly RoleName[] | 'public'>();
  for (const r of ROUTE_GROUPS.flatMap((g) => g(w.runtime.services))) roles.set(r.operationId, r.roles);
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
    for (const method of METHODS) {
      const op = item[method] as Json | undefined;
      if (!op) continue;
      const operationId = String(op.operationId);
      const content = ((op.requestBody as Json | undefined)?.content ?? {}) as Record<string, Json>;
      const params = ((op.parameters ?? []) as Json[]).map((p) => ({
        name: String(p.name),
        in: p.in as 'path' | 'query',
        schema: (p.schema ?? {}) as Schema,
        required: p.required === true,
      }));
      const desc = String(op.description ?? '');
      ops.push({
        operationId,
        method: method.toUpperCase(),
        path,
        params: params.filter((p) => p.in === 'path' || p.in === 'query'),
        body: (content['application/json']?.schema as Schema | undefined) ?? null,
        roles: roles.get(operationId) ?? (desc.startsWith('No credential') ? 'public' : ['keyManagementToken']),
        multipart: /multipart\/form-data/.test(desc),
      });
    }
  }
  return ops;
}

// --- random source over fast-check's generator ---------------------------------------------------

class Src {
  constructor(private readonly g: fc.GeneratorValue) {}
  int(min: number, max: number): number {
    return this.g(fc.integer, { min, max });
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)] as T;
  }
  chance(p: number): boolean {
    return this.int(0, 9999) < p * 10000;
  }
  bytes(maxLength: number, minLength = 0): Buffer {
    return Buffer.from(this.g(fc.uint8Array, { minLength, maxLength }));
  }
  text(maxLength: number, minLength = 0): string {
    return this.g(fc.string, { minLength, maxLength, unit: this.pick(['grapheme', 'grapheme-ascii', 'binary', 'binary-ascii'] as const) });
  }
  double(): number {
    return this.g(fc.double, { noNaN: true });
  }
}

// --- value generation ----------------------------------------------------------------------------

export const FUZZ_LABELS = {
  ec: 'fz-ec',
  p384: 'fz-p384',
  rsa: 'fz-rsa',
  aes: 'fz-aes',
  hmac: 'fz-hmac',
  ed: 'fz-ed',
  pw: 'fz-pw',
  ska: 'fz-ska',
  object: 'fz-obj',
  /** The label of the OpenAPI examples. */
  example: 'my-ec-key',
} as const;

const TRAVERSAL = [
  '../../../../etc/passwd', '..', '.', '..\\..\\windows\\win.ini', '/etc/passwd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '....//....//etc/passwd',
  'fz-ec/../fz-rsa', 'fz-ec/0', "fz-ec/0'/1'", 'm/44\'/0\'/0\'', '\u0000', 'a\u0000b', 'fz-ec\u0000', '%00', '\r\nX-Injected: 1', '${jndi:ldap://x}', "' OR 1=1 --", '"; DROP TABLE keys; --',
];
const UNICODE = ['ключ', '鍵', '🔑🔐', 'e\u0301', '\u202Eevil', '\uFEFFbom', '\u{1F468}\u200D\u{1F469}\u200D\u{1F467}', 'ǅ', 'İ', 'ß', '\uD800', '\uDFFF', 'a'.repeat(255), 'b'.repeat(256), '　'];

function labelValue(r: Src): string {
  const n = r.int(0, 99);
  if (n < 55) return r.pick(Object.values(FUZZ_LABELS));
  if (n < 65) return r.pick(TRAVERSAL);
  if (n < 75) return r.pick(UNICODE);
  if (n < 80) return r.pick(['attestation-key', 'timestamp-key', 'rfc-timestamp-key', 'approver-mgmt-backup-key-rsa-wrapping']);
  return `fz-${r.text(24, 1)}`;
}

const LABELISH = /label|keyname|name$|^name|alias/i;
const PASSWORDISH = /password$/i;

function deref(s: Schema, doc: Json): Schema {
  let cur = s;
  for (let i = 0; i < 10 && typeof cur.$ref === 'string'; i++) {
    const name = cur.$ref.replace('#/components/schemas/', '');
    cur = (((doc.components as Json).schemas as Json)[name] ?? {}) as Schema;
  }
  return cur;
}

function base64Of(r: Src): string {
  const b = r.bytes(r.pick([0, 1, 16, 32, 48, 64, 256]), 0);
  return b.toString('base64');
}

/** A value that matches `s` (as far as types, enums, required fields and lengths go). */
function validValue(s0: Schema, r: Src, doc: Json, name: string, depth: number): unknown {
  const s = deref(s0, doc);
  if (s.const !== undefined) return s.const;
  if (Array.isArray(s.enum)) return r.pick(s.enum);
  const alts = (s.anyOf ?? s.oneOf) as Schema[] | undefined;
  if (Array.isArray(alts) && alts.length > 0) return validValue(r.pick(alts), r, doc, name, depth);
  const examples = Array.isArray(s.examples) ? (s.examples as unknown[]) : s.example !== undefined ? [s.example] : [];
  if (PASSWORDISH.test(name) && r.chance(0.6)) return r.pick([null, [...'secret'], 'secret', []]);
  if (examples.length > 0 && r.chance(0.7)) return structuredClone(r.pick(examples));
  const type = Array.isArray(s.type) ? r.pick(s.type as string[]) : (s.type as string | undefined) ?? (s.properties ? 'object' : 'string');
  switch (type) {
    case 'string': {
      if (LABELISH.test(name) && r.chance(0.8)) return labelValue(r);
      if (s.format === 'byte' || s.contentEncoding === 'base64') return base64Of(r);
      if (s.format === 'uuid') return randomUUID();
      if (s.format === 'date-time') return new Date(r.int(0, 4_102_444_800_000)).toISOString();
      const min = Number(s.minLength ?? 0);
      const max = Math.max(min, Math.min(Number(s.maxLength ?? 40), 40));
      return r.text(max, min);
    }
    case 'integer': {
      const lo = Math.max(Number(s.minimum ?? (s.exclusiveMinimum !== undefined ? Number(s.exclusiveMinimum) + 1 : -1000)), -(2 ** 31));
      const hi = Math.min(Number(s.maximum ?? (s.exclusiveMaximum !== undefined ? Number(s.exclusiveMaximum) - 1 : 100_000)), 2 ** 31);
      return r.int(Math.min(lo, hi), Math.max(lo, hi));
    }
    case 'number':
      return r.chance(0.5) ? r.int(-1000, 100_000) : r.double();
    case 'boolean':
      return r.chance(0.5);
    case 'null':
      return null;
    case 'array': {
      const items = (s.items ?? {}) as Schema;
      const n = r.int(Number(s.minItems ?? 0), Math.max(Number(s.minItems ?? 0), Math.min(Number(s.maxItems ?? 4), 4)));
      return Array.from({ length: n }, () => validValue(items, r, doc, name, depth + 1));
    }
    default: {
      const out: Json = {};
      const props = (s.properties ?? {}) as Record<string, Schema>;
      const required = new Set((s.required ?? []) as string[]);
      for (const [k, sub] of Object.entries(props)) {
        if (required.has(k) || (depth < 6 && r.chance(0.5))) out[k] = validValue(sub, r, doc, k, depth + 1);
      }
      if (Object.keys(props).length === 0 && typeof s.additionalProperties === 'object' && depth < 6) {
        for (let i = r.int(0, 2); i > 0; i--) out[r.text(8, 1)] = validValue(s.additionalProperties as Schema, r, doc, '', depth + 1);
      }
      return out;
    }
  }
}

// --- mutations -----------------------------------------------------------------------------------

type Path = (string | number)[];

/** Every location inside a JSON value (objects and arrays), the root included. */
function locations(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => locations(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) locations(x, [...at, k], out);
  return out;
}

function setAt(root: unknown, at: Path, value: unknown): unknown {
  if (at.length === 0) return value;
  let cur = root as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  cur[at[at.length - 1] as string | number] = value;
  return root;
}

function deleteAt(root: unknown, at: Path): void {
  if (at.length === 0) return;
  let cur = root as Record<string | number, unknown>;
  for (const k of at.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  const last = at[at.length - 1] as string | number;
  if (Array.isArray(cur)) cur.splice(Number(last), 1);
  else delete cur[last];
}

function deep(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

function wrongTypeValue(r: Src): unknown {
  return r.pick<unknown>([0, -1, 1.5, 2 ** 53, -(2 ** 63), 1e308, true, false, null, '', 'x', [], [1, 2], {}, { a: 1 }, ['a'], '0', 'true', 'null', '[]', '{}']);
}

const DEEP_MARK = '\u0001deep:';

/** JSON text of `value` with every deep-nesting placeholder replaced by the nesting itself. */
function stringify(value: unknown): string {
  return (JSON.stringify(value) ?? 'null').replace(/"\\u0001deep:(\d+):(array|object)"/g, (_m, n: string, kind: 'array' | 'object') => deep(Number(n), kind));
}

const BAD_BASE64 = ['!!!!', '====', 'a', 'ab=', 'YW Jj', 'YWJj\n', '%%%', '\u00e9\u00e9\u00e9\u00e9', 'AAAA====AAAA', 'A'.repeat(4097) + '=', '-_-_', 'YWJjZA', '\u0000\u0000'];

const MUTATIONS = ['wrongType', 'dropField', 'extraFields', 'hugeString', 'emptyString', 'badBase64', 'unicode', 'traversal', 'deepValue', 'nullField', 'protoKeys', 'numberEdge'] as const;

function mutate(value: unknown, r: Src): { value: unknown; kind: string } {
  const locs = locations(value);
  const at = r.pick(locs);
  const kind = r.pick(MUTATIONS);
  switch (kind) {
    case 'wrongType':
      return { value: setAt(value, at, wrongTypeValue(r)), kind };
    case 'dropField':
      deleteAt(value, at);
      return { value, kind };
    case 'extraFields': {
      const target = locs.filter((p) => {
        let cur = value;
        for (const k of p) cur = (cur as Record<string | number, unknown>)[k];
        return cur !== null && typeof cur === 'object' && !Array.isArray(cur);
      });
      if (target.length === 0) return { value: setAt(value, at, { extra: 1 }), kind };
      let cur = value as Json;
      for (const k of r.pick(target)) cur = cur[k] as Json;
      for (let i = r.int(1, 5); i > 0; i--) cur[r.pick(['extra', 'label2', 'isAdmin', 'system', 'attributes2', r.text(12, 1)])] = wrongTypeValue(r);
      return { value, kind };
    }
    case 'hugeString':
      return { value: setAt(value, at, r.pick(['A', '\u00e9', '🔑', '\u0000']).repeat(r.pick([1025, 65_537, 200_000]))), kind };
    case 'emptyString':
      return { value: setAt(value, at, ''), kind };
    case 'badBase64':
      return { value: setAt(value, at, r.pick(BAD_BASE64)), kind };
    case 'unicode':
      return { value: setAt(value, at, r.pick(UNICODE)), kind };
    case 'traversal':
      return { value: setAt(value, at, r.pick(TRAVERSAL)), kind };
    case 'deepValue':
      // A placeholder: the nesting is spliced into the JSON text (JSON.stringify of it would overflow here).
      return { value: setAt(value, at, `${DEEP_MARK}${r.pick([64, 1000, 5000])}:${r.pick(['array', 'object'] as const)}`), kind };
    case 'nullField':
      return { value: setAt(value, at, null), kind };
    case 'protoKeys': {
      const extra = JSON.parse('{"__proto__":{"polluted":true,"system":true},"constructor":{"prototype":{"polluted":true}}}') as Json;
      if (value && typeof value === 'object' && !Array.isArray(value)) return { value: { ...extra, ...(value as Json), ...extra }, kind };
      return { value: extra, kind };
    }
    case 'numberEdge':
      return { value: setAt(value, at, r.pick([0, -0, -1, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 1e-300, 0.5, 1e21])), kind };
  }
}

const RAW_BODIES = ['', ' ', 'null', '[]', '"x"', '123', 'true', '{', '{"a":', '\uFEFF{}', '{"label":"x",}', 'NaN', '{"label":"a","label":"b"}', '\u0000', '{}{}', '{"a":1}garbage', '[{}]', '{"label":"\\ud800"}', '{"label":"\\u0000"}'];

const CONTENT_TYPES = ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'application/octet-stream', 'multipart/form-data', 'multipart/form-data; boundary=x', 'application/jsonx', '', 'application/json;;;', 'application/merge-patch+json'];

// --- request building ----------------------------------------------------------------------------

/** encodeURIComponent that also takes lone surrogates (sent as the bytes of their CESU-8 form). */
function enc(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return [...s].map((c) => (/[\uD800-\uDFFF]/.test(c) ? `%ED%${(0xa0 + ((c.charCodeAt(0) >> 6) & 0x1f)).toString(16).toUpperCase()}%${(0x80 + (c.charCodeAt(0) & 0x3f)).toString(16).toUpperCase()}` : encodeURIComponent(c))).join('');
  }
}

function pathValue(p: Operation['params'][number], r: Src, doc: Json, malformed: boolean): string {
  if (!malformed) {
    const v = p.name === 'id' && r.chance(0.5) ? randomUUID() : validValue(p.schema, r, doc, p.name, 0);
    return enc(String(v));
  }
  return r.pick([
    () => enc(r.pick(TRAVERSAL)),
    () => r.pick(['..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%00', '%ZZ', '%E0%A4%A', '%C0%AE%C0%AE', '%F0%9F%94%91', '%u0041', '..;', ';a=b', 'x%0d%0aSet-Cookie:%20a=b']),
    () => enc(r.pick(UNICODE)),
    () => 'a'.repeat(r.pick([1024, 1025, 5000])),
    () => enc(String(wrongTypeValue(r))),
    () => r.pick(['-1', '0', '1e3', '0x10', '99999999999999999999', '1.5', 'NaN', ' 1', '+1', '007']),
  ])();
}

function queryString(op: Operation, r: Src, doc: Json, malformed: boolean): string {
  const parts: string[] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (!p.required && r.chance(0.5)) continue;
    const v = malformed && r.chance(0.5) ? String(wrongTypeValue(r)) : String(validValue(p.schema, r, doc, p.name, 0));
    parts.push(`${p.name}=${enc(v)}`);
    if (malformed && r.chance(0.2)) parts.push(`${p.name}=${enc(v)}`);
  }
  if (malformed && r.chance(0.3)) parts.push(`${enc(r.text(8, 1))}=${enc(r.text(16))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

function multipartBody(r: Src, json: unknown, malformed: boolean): { body: Buffer; contentType: string } {
  const boundary = `----fuzz${r.int(0, 1e9)}`;
  const parts: Buffer[] = [];
  const part = (name: string, content: Buffer, filename?: string) =>
    Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n` +
        `Content-Type: ${filename ? 'application/octet-stream' : 'application/json'}\r\n\r\n`),
      content,
      Buffer.from('\r\n'),
    ]);
  const order = malformed ? r.pick(['jsonFile', 'fileJson', 'fileOnly', 'jsonOnly', 'twoFiles', 'truncated']) : 'jsonFile';
  const jsonPart = part('SignedFileEncryptRequestDto', Buffer.from(stringify(json)));
  const filePart = part('file', r.bytes(r.pick([0, 1, 100, 70_000])), r.pick(['a.bin', '../../etc/passwd', '🔑.txt', 'a"b.bin']));
  if (order === 'jsonFile' || order === 'truncated') parts.push(jsonPart, filePart);
  if (order === 'fileJson') parts.push(filePart, jsonPart);
  if (order === 'fileOnly') parts.push(filePart);
  if (order === 'jsonOnly') parts.push(jsonPart);
  if (order === 'twoFiles') parts.push(jsonPart, filePart, filePart);
  let body = Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
  if (order === 'truncated') body = body.subarray(0, r.int(0, body.length - 1));
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

/** The body of a valid-shaped file-encryption request (the JSON part of the multipart body). */
function fileJson(op: Operation, r: Src): unknown {
  const keyName = r.chance(0.7) ? FUZZ_LABELS.p384 : labelValue(r);
  return op.operationId === 'fileEncrypt' ? { fileEncryptRequest: { encryptKeyName: keyName } } : { fileDecryptRequest: { decryptKeyName: keyName } };
}

interface Built {
  req: SentRequest;
  payload: string | Buffer | undefined;
  kind: string;
}

const ALL_ROLES = Object.keys(ROLE_KEYS) as RoleName[];

export function buildRequest(op: Operation, r: Src, doc: Json, bodyLimit: number): Built {
  const malformed = r.chance(0.6);
  const kinds: string[] = [];
  let url = op.path;
  for (const p of op.params.filter((x) => x.in === 'path')) {
    const bad = malformed && r.chance(0.5);
    if (bad) kinds.push('badPath');
    url = url.replace(p.name === '*' ? '{*}' : `{${p.name}}`, pathValue(p, r, doc, bad));
  }
  url += queryString(op, r, doc, malformed && r.chance(0.5));

  const headers: Record<string, string> = {};
  if (op.roles !== 'public') {
    const n = r.int(0, 99);
    if (!malformed || n < 88) headers['x-api-key'] = ROLE_KEYS[r.pick(op.roles)];
    else if (n < 93) {
      headers['x-api-key'] = ROLE_KEYS[r.pick(ALL_ROLES.filter((x) => !(op.roles as readonly RoleName[]).includes(x)).concat(ALL_ROLES[0]))];
      kinds.push('wrongRole');
    } else if (n < 96) kinds.push('noKey');
    else {
      headers['x-api-key'] = r.pick(['', 'x'.repeat(5000), 'test-km-key ', 'TEST-KM-KEY', 'sha256:00']);
      kinds.push('badKey');
    }
  }

  let payload: string | Buffer | undefined;
  if (op.multipart) {
    const mp = multipartBody(r, malformed && r.chance(0.5) ? mutate(fileJson(op, r), r).value : fileJson(op, r), malformed);
    payload = mp.body;
    headers['content-type'] = mp.contentType;
    kinds.push(malformed ? 'multipartMalformed' : 'multipart');
  } else if (op.body) {
    let value = validValue(op.body, r, doc, '', 0);
    let contentType = 'application/json';
    if (malformed) {
      const n = r.int(0, 99);
      if (n < 60) {
        for (let i = r.int(1, 3); i > 0; i--) {
          const m = mutate(value, r);
          value = m.value;
          kinds.push(m.kind);
        }
        payload = stringify(value);
      } else if (n < 72) {
        payload = r.pick(RAW_BODIES);
        kinds.push('rawBody');
      } else if (n < 80) {
        payload = deep(r.pick([1000, 10_000, 100_000]), r.pick(['array', 'object'] as const));
        kinds.push('deepJson');
      } else if (n < 86) {
        payload = `{"pad":"${'A'.repeat(bodyLimit)}"}`;
        kinds.push('oversized');
      } else if (n < 96) {
        payload = stringify(value);
        contentType = r.pick(CONTENT_TYPES);
        kinds.push('contentType');
      } else {
        payload = undefined;
        kinds.push('noBody');
      }
    } else payload = stringify(value);
    if (payload !== undefined && contentType !== '') headers['content-type'] = contentType;
  } else if (malformed && r.chance(0.2)) {
    payload = r.pick(['{"unexpected":true}', 'garbage', deep(1000, 'array')]);
    headers['content-type'] = r.pick(['application/json', 'text/plain']);
    kinds.push('unexpectedBody');
  }
  const body = payload === undefined ? '' : Buffer.isBuffer(payload) ? `<${payload.length} bytes multipart>` : payload;
  return { req: { method: op.method, url, headers, body }, payload, kind: kinds.length ? kinds.join('+') : 'valid' };
}

// --- checks --------------------------------------------------------------------------------------

/** What is wrong with a response, or null. */
export function checkResponse(status: number, headers: Record<string, unknown>, text: string): string | null {
  let parsed: Json | null = null;
  if (status >= 400) {
    try {
      parsed = JSON.parse(text) as Json;
    } catch {
      return `error response is not JSON: ${text.slice(0, 200)}`;
    }
  }
  const code = parsed?.errorCode;
  if (status >= 500) {
    const deliberate = typeof code === 'number' && ((status === 500 && code >= 700 && code < 800) || (status === 501 && code >= 100 && code < 200));
    if (!deliberate) return `HTTP ${status} with errorCode ${String(code)}: ${String(parsed?.message ?? text).slice(0, 300)}`;
  }
  if (status >= 400 && parsed) {
    if (typeof code !== 'number' || !Number.isInteger(code)) return `errorCode is not an integer: ${text.slice(0, 200)}`;
    if (typeof parsed.reason !== 'string' || !parsed.reason.startsWith('res.error.')) return `reason does not start with res.error.: ${text.slice(0, 200)}`;
    if (ERROR_REASONS[code as ErrorCode] !== parsed.reason) return `reason ${parsed.reason} is not the catalogue's for ${code}`;
    if (typeof parsed.message !== 'string') return `message is not a string: ${text.slice(0, 200)}`;
    const extra = Object.keys(parsed).filter((k) => !['errorCode', 'reason', 'message'].includes(k));
    if (extra.length) return `error body has extra fields ${extra.join(', ')}`;
    if (!/^application\/json/.test(String(headers['content-type'] ?? ''))) return `error content-type ${String(headers['content-type'])}`;
  }
  return null;
}

type Counts = { keys: number; requests: number; tasks: number; objects: number };

async function counts(w: TestWarden): Promise<Counts> {
  const r = await sql<Counts>`select (select count(*) from keys) as keys, (select count(*) from requests) as requests,
    (select count(*) from approval_tasks) as tasks, (select count(*) from data_objects) as objects`.execute(w.runtime.store.db);
  const row = r.rows[0] as Counts;
  return { keys: Number(row.keys), requests: Number(row.requests), tasks: Number(row.tasks), objects: Number(row.objects) };
}

// --- seeding -------------------------------------------------------------------------------------

/** Keys of several families (and a data object, a key with a policy) for valid-shaped requests to reach. */
export async function seed(w: TestWarden): Promise<void> {
  const attrs = (a: Json) => ({ sign: false, decrypt: false, unwrap: false, destroyable: true, ...a });
  const mk = async (body: Json) => {
    const r = await w.call('POST', '/v1/key', body);
    if (r.statusCode !== 201) throw new Error(`seed ${String(body.label)}: ${r.statusCode} ${r.body}`);
  };
  await mk({ label: FUZZ_LABELS.ec, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: attrs({ sign: true, verify: true, derive: true, extractable: true, sensitive: false }) });
  await mk({ label: FUZZ_LABELS.p384, algorithm: 'EC', curveOid: '1.3.132.0.34', attributes: attrs({ decrypt: true, encrypt: true }) });
  await mk({ label: FUZZ_LABELS.rsa, algorithm: 'RSA', keySize: 2048, attributes: attrs({ sign: true, verify: true, decrypt: true, encrypt: true, wrap: true, unwrap: true }) });
  await mk({ label: FUZZ_LABELS.aes, algorithm: 'AES', keySize: 256, attributes: attrs({ decrypt: true, encrypt: true, wrap: true, unwrap: true, extractable: true, sensitive: false }) });
  await mk({ label: FUZZ_LABELS.hmac, algorithm: 'HMACSHA256', keySize: 256, attributes: attrs({ sign: true, verify: true }) });
  await mk({ label: FUZZ_LABELS.ed, algorithm: 'ED', curveOid: '1.3.101.112', attributes: attrs({ sign: true, verify: true }) });
  await mk({ label: FUZZ_LABELS.pw, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', password: [...'secret'], attributes: attrs({ sign: true, verify: true }) });
  await mk({ label: FUZZ_LABELS.example, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: attrs({ sign: true, verify: true, extractable: true, sensitive: false }) });
  // A key whose use needs one approval: async calls on it create requests and tasks.
  const approver = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  const rule = { tokens: [{ name: 't', timelock: 0, timeout: 0, groups: [{ name: 'g', quorum: 1, approvals: [{ type: 'public_key', name: 'fuzz-approver', value: approver }] }] }] };
  await mk({ label: FUZZ_LABELS.ska, algorithm: 'EC', curveOid: '1.2.840.10045.3.1.7', attributes: attrs({ sign: true, verify: true }), policy: { ruleUse: rule, ruleBlock: rule, ruleUnblock: rule, ruleModify: rule, keyStatus: { blocked: false } } });
  const d = await w.call('POST', '/v1/dataObject', { name: FUZZ_LABELS.object, value: Buffer.from('fuzz').toString('base64'), attributes: { private: false, modifiable: true, destroyable: true } });
  if (d.statusCode >= 300) throw new Error(`seed data object: ${d.statusCode} ${d.body}`);
}

// --- the run -------------------------------------------------------------------------------------

function bump(m: Record<string, number>, k: string, n = 1): void {
  m[k] = (m[k] ?? 0) + n;
}

/**
 * The app under test: the runtime's services behind an app whose error-level log lines are kept (the
 * last 200), so a finding carries the server-side stack of its request.
 */
async function appWithLog(w: TestWarden): Promise<{ app: FastifyInstance; logOf(reqId: string): string[] }> {
  const lines: string[] = [];
  const logger = pino({ level: 'error' }, { write: (line: string) => void (lines.push(line), lines.length > 200 && lines.shift()) });
  const app = await buildApp(w.runtime.services, { loggerInstance: logger });
  await app.ready();
  return { app, logOf: (reqId) => lines.filter((l) => l.includes(reqId)) };
}

export async function runFuzz(w: TestWarden, opts: FuzzOptions): Promise<FuzzResult> {
  const { app, logOf } = await appWithLog(w);
  try {
    return await fuzzApp(w, app, logOf, opts);
  } finally {
    await app.close();
  }
}

async function fuzzApp(w: TestWarden, app: FastifyInstance, logOf: (reqId: string) => string[], opts: FuzzOptions): Promise<FuzzResult> {
  const docRes = await app.inject({ method: 'GET', url: '/v3/api-docs' });
  const doc = docRes.json() as Json;
  const ops = operationsOf(doc, w);
  const bodyLimit = w.config.server.bodyLimitBytes;
  const result: FuzzResult = { runs: 0, seconds: 0, operations: ops.length, perOperation: {}, byStatus: {}, byErrorCode: {}, byKind: {}, findings: [], deliberate5xx: {}, slowest: [] };
  const seen = new Set<string>();
  let turn = 0;
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => crashes.push(e);
  process.on('unhandledRejection', onCrash);
  process.on('uncaughtException', onCrash);
  const started = Date.now();
  const deadline = opts.timeLimitMs ? started + opts.timeLimitMs : Infinity;

  const record = (f: Finding) => {
    // One finding per operation and problem shape (numbers and quoted values stripped), so a long run
    // reports each bug once instead of thousands of times.
    const key = `${f.operationId}|${f.problem.replace(/'[^']*'|"[^"]*"|\d+/g, '#').slice(0, 120)}`;
    if (seen.has(key)) return;
    seen.add(key);
    const reqId = /request ([0-9a-f-]{36})/.exec(f.response)?.[1];
    const serverLog = reqId ? logOf(reqId) : [];
    result.findings.push({ ...f, request: { ...f.request, body: f.request.body.slice(0, 2048) }, response: f.response.slice(0, 1024), ...(serverLog.length ? { serverLog } : {}) });
  };

  try {
    await fc.assert(
      fc.asyncProperty(fc.gen(), async (g) => {
        if (Date.now() > deadline) return true;
        const r = new Src(g);
        // Round robin: every operation gets its share even in a short run.
        const op = ops[turn++ % ops.length] as Operation;
        const built = buildRequest(op, r, doc, bodyLimit);
        const before = await counts(w);
        const t0 = performance.now();
        let res;
        try {
          res = await app.inject({ method: built.req.method as 'GET', url: built.req.url, headers: built.req.headers, payload: built.payload });
        } catch (e) {
          // light-my-request refuses some requests before they reach the server (invalid header characters).
          if (e instanceof TypeError || (e as { code?: string }).code === 'ERR_INVALID_CHAR') return true;
          record({ operationId: op.operationId, kind: built.kind, problem: `inject threw: ${(e as Error).message}`, status: 0, response: '', request: built.req });
          return true;
        }
        const ms = performance.now() - t0;
        result.runs++;
        bump(result.perOperation, op.operationId);
        bump(result.byStatus, String(res.statusCode));
        for (const k of built.kind.split('+')) bump(result.byKind, k);
        const text = res.body;
        let errorCode: number | null = null;
        if (res.statusCode >= 400) {
          try {
            errorCode = (JSON.parse(text) as { errorCode?: number }).errorCode ?? null;
          } catch {
            errorCode = null;
          }
          bump(result.byErrorCode, String(errorCode));
        }
        if (res.statusCode >= 500 && errorCode !== null && errorCode >= 100) bump(result.deliberate5xx, `${errorCode} ${String((JSON.parse(text) as Json).message).replace(/'[^']*'/g, "'…'").slice(0, 100)}`);
        if (process.env.FUZZ_DEBUG && built.kind === 'valid') process.stderr.write(`${op.operationId} ${res.statusCode} ${text.slice(0, 160)} <= ${built.req.body.slice(0, 200)}\n`);
        // A deliberate 701 is fine for a key someone edited behind Warden's back; here only the API touched
        // the keys, so a key failing its integrity check means an API call corrupted it.
        const corrupted = res.statusCode === 500 && errorCode === 701 && /integrity check/.test(text) ? `a key no longer opens after API calls only: ${text.slice(0, 300)}` : null;
        const problem = checkResponse(res.statusCode, res.headers, text) ?? corrupted;
        if (problem) record({ operationId: op.operationId, kind: built.kind, problem, status: res.statusCode, response: text, request: built.req });
        if (res.statusCode >= 400) {
          const after = await counts(w);
          const grew = (Object.keys(after) as (keyof Counts)[]).filter((k) => after[k] > before[k]);
          if (grew.length) record({ operationId: op.operationId, kind: built.kind, problem: `rejected call (${res.statusCode}) created rows: ${grew.join(', ')}`, status: res.statusCode, response: text, request: built.req });
        }
        result.slowest.push({ ms: Math.round(ms), operationId: op.operationId, kind: built.kind, status: res.statusCode });
        result.slowest.sort((a, b) => b.ms - a.ms);
        result.slowest.length = Math.min(result.slowest.length, 10);
        if (result.runs % 250 === 0) {
          const live = await app.inject({ method: 'GET', url: '/health/live' });
          if (live.statusCode !== 200) record({ operationId: 'healthLive', kind: 'liveness', problem: `server not live after ${result.runs} requests: ${live.statusCode}`, status: live.statusCode, response: live.body, request: built.req });
        }
        for (const e of crashes.splice(0)) record({ operationId: op.operationId, kind: built.kind, problem: `unhandled: ${(e as Error)?.stack ?? String(e)}`, status: res.statusCode, response: text, request: built.req });
        if (opts.progress && result.runs % (opts.progressEvery ?? 5000) === 0) {
          result.seconds = (Date.now() - started) / 1000;
          opts.progress(result.runs, result);
        }
        return true;
      }),
      { numRuns: opts.runs, seed: opts.seed, endOnFailure: true },
    );
  } finally {
    process.off('unhandledRejection', onCrash);
    process.off('uncaughtException', onCrash);
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
