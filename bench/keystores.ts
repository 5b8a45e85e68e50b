// `npm run bench:keystores` (issue 9, docs/hsm.md): RSA-2048 and ECDSA P-256 signing through Warden on
// the software keystore and on the PKCS#11 keystore (SoftHSMv2), each next to its raw rate: node:crypto
// for software, C_Sign straight on the same SoftHSM token through pkcs11js for PKCS#11. Both servers run
// side by side (`serve --workers N`, own process trees) with the same key material imported; the four
// cases are interleaved, best of --rounds, driven by wrk (when installed) or autocannon over loopback
// with an API key. Prints one table, writes bench/results/keystores-<timestamp>.json. Bounded: about
// 4 × rounds × seconds + 30 s (~75 s with the defaults).
//   npm run bench:keystores [-- --seconds 5 --rounds 2 --connections 32 --workers 1 --raw-seconds 1]
// One worker by default: the comparison is per process, as the raw columns are.
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pkcs11js from 'pkcs11js';
import { provisionToken, softhsm, SOFTHSM_LIBRARY, type TestToken } from '../test/helpers/softhsm.ts';
import { load, wrkAvailable, type LoadRequest, type LoadResult } from './lib/load.ts';
import { rateAsync, rateSync, rawSign, type RawRate } from './lib/raw.ts';
import { startServer, type Server } from './lib/server.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg('seconds', 5);
const ROUNDS = arg('rounds', 2);
const CONNECTIONS = arg('connections', 32);
const WORKERS = arg('workers', 1);
const RAW_SECONDS = arg('raw-seconds', 1);
const RESULTS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');
const KEYS = { km: 'bench-km-key', ko: 'bench-ko-key', sv: 'bench-sv-key', ap: 'bench-ap-key', am: 'bench-am-key' };
const P256_DER_OID = Buffer.from('06082a8648ce3d030107', 'hex');

type KeystoreName = 'software' | 'pkcs11';
interface Case {
  op: 'RSA-2048' | 'ECDSA P-256';
  keystore: KeystoreName;
  server: Server;
  request: LoadRequest;
}
interface Row {
  op: string;
  keystore: KeystoreName;
  result: LoadResult;
  raw: RawRate;
  load: number;
}

async function call(base: string, url: string, body: unknown): Promise<void> {
  const r = await fetch(base + url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': KEYS.km }, body: JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${url} on ${base}: ${r.status} ${await r.text()}`);
}

const pkcs8 = (k: KeyObject) => k.export({ type: 'pkcs8', format: 'der' }).toString('base64');
const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' }).toString('base64');

/** The same two key pairs on each server: the raw columns and both keystores sign with equal keys. */
async function importKeys(base: string, rsa: ReturnType<typeof generateKeyPairSync>, ec: ReturnType<typeof generateKeyPairSync>): Promise<void> {
  // Not extractable: on the token they are sensitive, non-extractable objects like generated ones.
  const attributes = { sign: true, verify: true, decrypt: false, unwrap: false, extractable: false };
  await call(base, '/v1/key/import/plain', { label: 'rsa', algorithm: 'RSA', privateKey: pkcs8(rsa.privateKey), publicKey: spki(rsa.publicKey), attributes });
  await call(base, '/v1/key/import/plain', { label: 'ec', algorithm: 'EC', privateKey: pkcs8(ec.privateKey), publicKey: spki(ec.publicKey), attributes });
}

/**
 * C_Sign on SoftHSM without Warden: key pairs generated as session objects on the bench's token,
 * RSA with CKM_SHA256_RSA_PKCS over the payload, ECDSA with CKM_ECDSA over a SHA-256 digest computed
 * here (SoftHSM has no CKM_ECDSA_SHA256; Warden pre-hashes the same way). Sync: one session back to
 * back. Async: C_SignAsync (libuv threadpool) on 16 sessions in flight.
 */
async function rawToken(token: TestToken, payload: Buffer): Promise<{ rsa: RawRate; ec: RawRate }> {
  const p = softhsm();
  const slot = p.C_GetSlotList(true).find((s) => p.C_GetTokenInfo(s).label.trim() === token.label);
  if (!slot) throw new Error(`token ${token.label} not found`);
  const sessions = Array.from({ length: 16 }, () => p.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION));
  try {
    p.C_Login(sessions[0] as Buffer, pkcs11js.CKU_USER, token.pin);
    const s0 = sessions[0] as Buffer;
    const priv = [{ type: pkcs11js.CKA_TOKEN, value: false }, { type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SIGN, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }];
    const rsa = p.C_GenerateKeyPair(s0, { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [{ type: pkcs11js.CKA_TOKEN, value: false }, { type: pkcs11js.CKA_VERIFY, value: true }, { type: pkcs11js.CKA_MODULUS_BITS, value: 2048 }, { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) }], priv);
    const ec = p.C_GenerateKeyPair(s0, { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
      [{ type: pkcs11js.CKA_TOKEN, value: false }, { type: pkcs11js.CKA_VERIFY, value: true }, { type: pkcs11js.CKA_EC_PARAMS, value: P256_DER_OID }], priv);
    const out = Buffer.alloc(512);
    const rates = async (mechanism: number, key: Buffer, input: () => Buffer): Promise<RawRate> => {
      const sync = rateSync(() => {
        p.C_SignInit(s0, { mechanism }, key);
        p.C_Sign(s0, input(), out);
      }, RAW_SECONDS);
      // Each lane owns a session (one operation per session at a time, as in the keystore's pool).
      const free = [...sessions];
      const lane = async () => {
        const s = free.pop() as Buffer;
        try {
          p.C_SignInit(s, { mechanism }, key);
          await p.C_SignAsync(s, input(), Buffer.alloc(512));
        } finally {
          free.push(s);
        }
      };
      return { sync, async: await rateAsync(lane, RAW_SECONDS, sessions.length), asyncVia: `pkcs11js C_SignAsync, ${sessions.length} sessions` };
    };
    return {
      rsa: await rates(pkcs11js.CKM_SHA256_RSA_PKCS, rsa.privateKey, () => payload),
      ec: await rates(pkcs11js.CKM_ECDSA, ec.privateKey, () => createHash('sha256').update(payload).digest()),
    };
  } finally {
    for (const s of sessions) p.C_CloseSession(s);
  }
}

async function once(c: Case, warm: boolean): Promise<{ result: LoadResult; load: number }> {
  const spec = { base: c.server.url, request: c.request, connections: CONNECTIONS };
  if (warm) await load({ ...spec, seconds: 1 });
  const before = loadavg()[0] as number;
  const result = await load({ ...spec, seconds: SECONDS });
  if (result.bad > Math.max(1, result.total * 0.01)) {
    // What the failures say: a few of the same calls, one by one.
    const samples = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await fetch(c.server.url + c.request.path, { method: 'POST', headers: { 'content-type': 'application/json', ...c.request.headers }, body: c.request.bodies?.[0] });
      if (r.status >= 300) samples.add(`${r.status} ${(await r.text()).slice(0, 300)}`);
    }
    throw new Error(`${c.op} on ${c.keystore}: ${result.bad} of ${result.total} calls failed; sequential retries: ${[...samples].join(' | ') || 'all succeeded (failures only under load)'}`);
  }
  return { result, load: Math.max(before, loadavg()[0] as number) };
}

function table(rows: Row[]): string {
  const header = ['operation', 'keystore', 'Warden req/s', 'p50 ms', 'p99 ms', 'raw sync/s', 'raw async/s', 'raw via', 'Warden / raw async', 'load avg'];
  const body = rows.map((r) => [
    r.op, r.keystore, r.result.rps.toFixed(0), String(r.result.p50), String(r.result.p99), r.raw.sync.toFixed(0), r.raw.async.toFixed(0),
    r.keystore === 'software' ? 'node:crypto' : 'C_Sign on SoftHSM', `${((r.result.rps / r.raw.async) * 100).toFixed(0)} %`, r.load.toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const left = new Set([0, 1, 7]);
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w, i) => (left.has(i) ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|', ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  if (!SOFTHSM_LIBRARY) throw new Error('SoftHSM is not installed: run scripts/ensure-system-deps.sh as root');
  const started = new Date();
  const t0 = performance.now();
  // provisionToken points this process's SOFTHSM2_CONF at a temporary token directory; the servers
  // inherit it (bench/lib/server.ts passes the environment less WARDEN_*), so they see the token.
  const token = provisionToken({ label: `bench-${process.pid}` });
  const dirs = { software: mkdtempSync(path.join(tmpdir(), 'warden-bench-sw-')), pkcs11: mkdtempSync(path.join(tmpdir(), 'warden-bench-hsm-')) };
  const servers: Server[] = [];
  try {
    const payload = randomBytes(1024);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    process.stderr.write(`raw rates (${RAW_SECONDS} s each)…\n`);
    const raw = {
      software: { rsa: await rawSign('sha256', rsa.privateKey, payload, RAW_SECONDS), ec: await rawSign('sha256', ec.privateKey, payload, RAW_SECONDS) },
      pkcs11: await rawToken(token, payload),
    };
    for (const [k, v] of Object.entries(raw)) process.stderr.write(`  ${k.padEnd(9)} RSA-2048 ${v.rsa.sync.toFixed(0)}/${v.rsa.async.toFixed(0)} sync/async per s, ECDSA P-256 ${v.ec.sync.toFixed(0)}/${v.ec.async.toFixed(0)}\n`);
    const auth = { apiAuthentication: { enabled: true, keyManagementToken: KEYS.km, keyOperationToken: KEYS.ko, serviceToken: KEYS.sv, approverToken: KEYS.ap, approverKeyManagementToken: KEYS.am } };
    const pkcs11 = { keystore: { type: 'pkcs11', pkcs11: { library: SOFTHSM_LIBRARY, tokenLabel: token.label, pin: token.pin } } };
    process.stderr.write(`starting 2 × serve --workers ${WORKERS} (software, PKCS#11 on SoftHSM)…\n`);
    // Started together and both awaited (allSettled), so a failed start still stops the other one.
    const starts = await Promise.allSettled([
      startServer({ dataDir: dirs.software, name: 'software', workers: WORKERS, config: auth }),
      startServer({ dataDir: dirs.pkcs11, name: 'pkcs11', workers: WORKERS, config: { ...auth, ...pkcs11 } }),
    ]);
    for (const st of starts) if (st.status === 'fulfilled') servers.push(st.value);
    for (const st of starts) if (st.status === 'rejected') throw st.reason;
    const [sw, hsm] = servers as [Server, Server];
    await importKeys(sw.url, rsa, ec);
    await importKeys(hsm.url, rsa, ec);
    const signBody = (label: string, alg: string) => JSON.stringify({ signRequest: { payload: payload.toString('base64'), payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: alg, signatureType: 'DER' } });
    const req = (label: string, alg: string): LoadRequest => ({ method: 'POST', path: '/v1/synchronousSign', bodies: [signBody(label, alg)], headers: { 'x-api-key': KEYS.ko } });
    const cases: Case[] = [
      { op: 'RSA-2048', keystore: 'software', server: sw, request: req('rsa', 'SHA256_WITH_RSA') },
      { op: 'RSA-2048', keystore: 'pkcs11', server: hsm, request: req('rsa', 'SHA256_WITH_RSA') },
      { op: 'ECDSA P-256', keystore: 'software', server: sw, request: req('ec', 'SHA256_WITH_ECDSA') },
      { op: 'ECDSA P-256', keystore: 'pkcs11', server: hsm, request: req('ec', 'SHA256_WITH_ECDSA') },
    ];
    process.stderr.write(`load: ${wrkAvailable() ? 'wrk -t1' : 'autocannon'} -c ${CONNECTIONS}, ${SECONDS} s per case, best of ${ROUNDS} interleaved rounds\n`);
    const best: Array<{ result: LoadResult; load: number } | null> = cases.map(() => null);
    for (let round = 0; round < ROUNDS; round++) {
      for (const [i, c] of cases.entries()) {
        const r = await once(c, round === 0);
        process.stderr.write(`  round ${round + 1}: ${c.op.padEnd(12)} ${c.keystore.padEnd(9)} ${r.result.rps.toFixed(0).padStart(6)} req/s (load ${r.load.toFixed(1)})\n`);
        const b = best[i];
        if (!b || r.result.rps > b.result.rps) best[i] = r;
      }
    }
    await Promise.all(servers.splice(0).map((s) => s.stop()));
    const rows: Row[] = cases.map((c, i) => {
      const b = best[i] as { result: LoadResult; load: number };
      return { op: c.op, keystore: c.keystore, result: b.result, raw: raw[c.keystore][c.op === 'RSA-2048' ? 'rsa' : 'ec'], load: b.load };
    });
    const tool = rows[0]?.result.tool ?? 'autocannon';
    const seconds = (performance.now() - t0) / 1000;
    const headline = `Warden sign, software vs PKCS#11 (SoftHSM ${SOFTHSM_LIBRARY}), serve --workers ${WORKERS}, ${tool} -c ${CONNECTIONS}, ${SECONDS} s per case, best of ${ROUNDS}, ` +
      `Node ${process.versions.node}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${started.toISOString()}`;
    process.stdout.write(`\n${headline}\n\n${table(rows)}\n\nbench took ${seconds.toFixed(0)} s\n`);
    mkdirSync(RESULTS, { recursive: true });
    const file = path.join(RESULTS, `keystores-${started.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify({
      bench: 'keystores', started: started.toISOString(), seconds, node: process.versions.node, cpus: cpus().length, cpuModel: cpus()[0]?.model ?? null,
      workers: WORKERS, connections: CONNECTIONS, secondsPerCase: SECONDS, rounds: ROUNDS, tool, softhsm: SOFTHSM_LIBRARY,
      rows: rows.map((r) => ({ operation: r.op, keystore: r.keystore, rps: r.result.rps, p50: r.result.p50, p99: r.result.p99, failed: r.result.bad, requests: r.result.total, raw: r.raw, ratioToRawAsync: r.result.rps / r.raw.async, loadAverage: r.load })),
    }, null, 2) + '\n');
    process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
  } finally {
    await Promise.all(servers.splice(0).map((s) => s.stop().catch((e: Error) => process.stderr.write(`${e.message}\n`))));
    rmSync(dirs.software, { recursive: true, force: true });
    rmSync(dirs.pkcs11, { recursive: true, force: true });
  }
}

await main();
