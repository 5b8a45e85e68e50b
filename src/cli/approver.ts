// `warden approver …`: the approver's side of the multi-authorization workflow against any Warden (or
// TSB) URL — create an approver key, list my tasks, show one decoded, approve or reject it. Requests
// carry the proof of possession of spec multi-authorization §4.2 (a signed fresh timestamp).
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { Command } from 'commander';
import { describeChallenge } from '../workflow/describe.ts';

export interface ApproverIo {
  out(s: string): void;
  fail(s: string): never;
}

export interface ApproverConnection {
  url: string;
  key: string;
  certificate?: string;
  apiKey?: string;
}

interface Identity {
  privateKey: KeyObject;
  fields: { approverPublicKey?: string; approverCertificate?: string };
  digest: string;
  hash: string | null;
}

export function loadIdentity(keyFile: string, certFile?: string): Identity {
  const privateKey = createPrivateKey(readFileSync(keyFile));
  const type = privateKey.asymmetricKeyType;
  const ed = type === 'ed25519' || type === 'ed448';
  let fields: Identity['fields'];
  if (certFile) {
    const text = readFileSync(certFile, 'utf8');
    const b64 = text.includes('-----BEGIN') ? text.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '') : readFileSync(certFile).toString('base64');
    fields = { approverCertificate: b64 };
  } else {
    fields = { approverPublicKey: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64') };
  }
  return { privateKey, fields, digest: ed ? 'EdDSA' : 'SHA-256', hash: ed ? null : 'sha256' };
}

function signWith(id: Identity, data: Buffer): string {
  return sign(id.hash, data, id.privateKey).toString('base64');
}

function proof(id: Identity) {
  const timestamp = new Date().toISOString();
  return { timestamp, timestampSignature: signWith(id, Buffer.from(timestamp, 'utf8')), timestampDigestAlgorithm: id.digest, ...id.fields };
}

async function call(c: ApproverConnection, method: string, path: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (c.apiKey) headers['x-api-key'] = c.apiKey;
  const r = await fetch(new URL(path, c.url.endsWith('/') ? c.url : c.url + '/'), { method, headers, body: JSON.stringify(body) });
  const text = await r.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  if (r.status >= 400) {
    const e = json as { errorCode?: number; reason?: string; message?: string } | null;
    throw new Error(`${method} ${path}: HTTP ${r.status}${e?.errorCode ? ` ${e.errorCode} ${e.reason}: ${e.message}` : ''}`);
  }
  return { status: r.status, json };
}

export interface TaskSummary {
  id: string;
  requestId?: string;
  approvalToBeSigned: string;
  [k: string]: unknown;
}

export async function fetchTasks(c: ApproverConnection, opts: { type?: string; detailLevel?: string; id?: string } = {}): Promise<TaskSummary[]> {
  const id = loadIdentity(c.key, c.certificate);
  const r = await call(c, 'POST', `v1/filtered${opts.type ?? 'All'}ApprovalTask`, { ...proof(id), detailLevel: opts.detailLevel ?? 'level2', id: opts.id ?? null });
  return (r.json as { tasks: TaskSummary[] }).tasks;
}

export async function approveTask(c: ApproverConnection, taskId: string): Promise<void> {
  const id = loadIdentity(c.key, c.certificate);
  const [task] = await fetchTasks(c, { id: taskId, detailLevel: 'level1' });
  if (!task) throw new Error(`no open task ${taskId} for this approver`);
  const challenge = Buffer.from(task.approvalToBeSigned, 'base64');
  await call(c, 'POST', 'v1/approval', { id: taskId, approvalToBeSigned: task.approvalToBeSigned, signature: signWith(id, challenge), approvalDigestAlgorithm: id.digest, ...id.fields });
}

export async function rejectTask(c: ApproverConnection, taskId: string): Promise<void> {
  const id = loadIdentity(c.key, c.certificate);
  await call(c, 'DELETE', 'v1/task', { ...proof(id), id: taskId });
}

/** Creates an approver key pair: PKCS#8 PEM (0600) and the Base64 SPKI that goes into policies. */
export function createApproverKey(file: string, algorithm: string): string {
  const a = algorithm.toUpperCase();
  const pair =
    a === 'EC' ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : a === 'RSA' ? generateKeyPairSync('rsa', { modulusLength: 3072 })
    : a === 'ED25519' || a === 'ED' ? generateKeyPairSync('ed25519')
    : null;
  if (!pair) throw new Error('--algorithm must be EC, RSA or ED25519');
  writeFileSync(file, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  chmodSync(file, 0o600);
  return pair.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
}

function metaText(b64: unknown): string | null {
  if (typeof b64 !== 'string' || b64 === '') return null;
  return Buffer.from(b64, 'base64').toString('utf8');
}

function summary(t: TaskSummary): string {
  const d = describeChallenge(Buffer.from(t.approvalToBeSigned, 'base64'));
  const what = d.payload ? `${d.payload.length}-byte payload${d.payload.text !== null ? ` "${d.payload.text.slice(0, 40)}"` : ''}` : 'new policy';
  const meta = metaText(t.metaData);
  return `${t.id}  ${d.operation.padEnd(8)} key '${d.keyLabel}'  ${d.timestamp?.time ?? '-'}  ${what}${meta ? `  metaData ${meta.slice(0, 60)}` : ''}`;
}

export function registerApproverCommands(program: Command, io: ApproverIo): void {
  const approver = program.command('approver').description('approve or reject multi-authorization tasks (the approver side)');
  const connection = (cmd: Command) =>
    cmd
      .requiredOption('-u, --url <url>', 'Warden base URL, e.g. http://127.0.0.1:8080')
      .requiredOption('-k, --key <file>', 'approver private key (PKCS#8 PEM)')
      .option('--certificate <file>', 'identify with this certificate (approverCertificate) instead of the public key')
      .option('-a, --api-key <key>', 'approverToken API key (or WARDEN_APPROVER_API_KEY)');
  const conn = (o: { url: string; key: string; certificate?: string; apiKey?: string }): ApproverConnection => ({
    url: o.url, key: o.key, certificate: o.certificate, apiKey: o.apiKey ?? process.env.WARDEN_APPROVER_API_KEY,
  });
  const guard = async (fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      io.fail((e as Error).message);
    }
  };

  approver
    .command('keygen')
    .description('create an approver key pair; prints the public key for policies')
    .requiredOption('-o, --out <file>', 'where to write the private key (PKCS#8 PEM, mode 0600)')
    .option('--algorithm <alg>', 'EC (P-256), RSA (3072) or ED25519', 'EC')
    .action((o: { out: string; algorithm: string }) =>
      guard(async () => {
        const spki = createApproverKey(o.out, o.algorithm);
        io.out(`private key written to ${o.out}`);
        io.out(`public key (Base64 SPKI, for {"type":"public_key","value":…} in a policy):\n${spki}`);
      }),
    );

  connection(approver.command('tasks').description('list my open tasks'))
    .option('-t, --type <type>', 'All, Sign, Decrypt, UnwrapKey, BlockKey, UnblockKey or ModifyKey', 'All')
    .action((o: Parameters<typeof conn>[0] & { type: string }) =>
      guard(async () => {
        const tasks = await fetchTasks(conn(o), { type: o.type });
        if (tasks.length === 0) io.out('no open tasks');
        for (const t of tasks) io.out(summary(t));
      }),
    );

  connection(approver.command('show').description('show one task with its challenge decoded').argument('<taskId>'))
    .action((taskId: string, o: Parameters<typeof conn>[0]) =>
      guard(async () => {
        const [t] = await fetchTasks(conn(o), { id: taskId, detailLevel: 'level5' });
        if (!t) throw new Error(`no open task ${taskId} for this approver`);
        const d = describeChallenge(Buffer.from(t.approvalToBeSigned, 'base64'));
        io.out(JSON.stringify({ task: t.id, request: t.requestId, ...d, metaData: metaText(t.metaData), request_body: t.requestBase64 ? JSON.parse(Buffer.from(String(t.requestBase64), 'base64').toString('utf8')) : null }, null, 2));
      }),
    );

  connection(approver.command('approve').description('sign the task challenge and approve').argument('<taskId>'))
    .action((taskId: string, o: Parameters<typeof conn>[0]) =>
      guard(async () => {
        await approveTask(conn(o), taskId);
        io.out(`approved ${taskId}`);
      }),
    );

  connection(approver.command('reject').description('reject (delete) the task').argument('<taskId>'))
    .action((taskId: string, o: Parameters<typeof conn>[0]) =>
      guard(async () => {
        await rejectTask(conn(o), taskId);
        io.out(`rejected ${taskId}`);
      }),
    );
}
