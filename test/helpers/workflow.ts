// Helpers for the workflow tests: approver key pairs of every type (with openssl-made certificates),
// policies, the approver proof of possession, approving and rejecting tasks, and a controllable clock.
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { TestWarden } from './runtime.ts';

export type ApproverType = 'ec' | 'rsa' | 'ed25519' | 'dsa';

export interface Approver {
  name: string;
  type: ApproverType;
  privateKey: KeyObject;
  spki: Buffer;
  spkiB64: string;
  /** DER self-signed certificate made by openssl. */
  certificate: () => Buffer;
  digest: string;
}

let counter = 0;

export function makeApprover(type: ApproverType = 'ec', name = `approver-${++counter}`): Approver {
  const pair =
    type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : type === 'dsa' ? generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 })
    : generateKeyPairSync('ed25519');
  const spki = pair.publicKey.export({ type: 'spki', format: 'der' });
  let cert: Buffer | null = null;
  return {
    name,
    type,
    privateKey: pair.privateKey,
    spki,
    spkiB64: spki.toString('base64'),
    digest: type === 'ed25519' ? 'EdDSA' : 'SHA-256',
    certificate() {
      if (!cert) {
        const dir = mkdtempSync(path.join(tmpdir(), 'warden-approver-'));
        writeFileSync(path.join(dir, 'key.pem'), pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
        const args = ['req', '-x509', '-key', 'key.pem', '-subj', `/CN=${name}`, '-days', '2', '-outform', 'DER', '-out', 'cert.der'];
        if (type !== 'ed25519') args.push('-sha256');
        const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
        cert = readFileSync(path.join(dir, 'cert.der'));
      }
      return cert;
    },
  };
}

export function signBytes(a: Approver, data: Buffer): Buffer {
  return sign(a.type === 'ed25519' ? null : 'sha256', data, a.privateKey);
}

export const pk = (a: Approver, name: string | null = a.name) => ({ type: 'public_key', name, value: a.spkiB64 });
export const certApproval = (a: Approver) => ({ type: 'certificate', name: a.name, value: a.certificate().toString('base64') });

export interface TokenSpec {
  name?: string;
  timelock?: number;
  timeout?: number;
  groups: { name?: string; quorum: number; approvals: unknown[] }[];
}

export const rule = (...tokens: TokenSpec[]) => ({
  tokens: tokens.map((t, i) => ({ name: t.name ?? `token${i}`, timelock: t.timelock ?? 0, timeout: t.timeout ?? 0, groups: t.groups.map((g, j) => ({ name: g.name ?? `group${j}`, ...g })) })),
});

/** One group of `approvers` with `quorum`. */
export const quorumRule = (quorum: number, approvers: Approver[], extra: Partial<TokenSpec> = {}) => rule({ ...extra, groups: [{ quorum, approvals: approvers.map((a) => pk(a)) }] });

export function policy(rules: { ruleUse?: unknown; ruleBlock?: unknown; ruleUnblock?: unknown; ruleModify?: unknown }, blocked = false) {
  return { ruleUse: rules.ruleUse ?? null, ruleBlock: rules.ruleBlock ?? null, ruleUnblock: rules.ruleUnblock ?? null, ruleModify: rules.ruleModify ?? null, keyStatus: { blocked } };
}

export const P256 = '1.2.840.10045.3.1.7';
export const SIGN_ONLY = { sign: true, decrypt: false, unwrap: false, destroyable: true };

let keyCounter = 0;
export const keyLabel = (prefix = 'ska') => `${prefix}-${process.pid}-${++keyCounter}`;

export async function createEcKey(w: TestWarden, label: string, pol: unknown, password?: string): Promise<LightMyRequestResponse> {
  const r = await w.call('POST', '/v1/key', { label, algorithm: 'EC', curveOid: P256, attributes: SIGN_ONLY, policy: pol, ...(password ? { password: [...password] } : {}) });
  return r;
}

/** The approver proof of possession of spec §4.2 at `now` (ms). */
export function proof(a: Approver, now: number, opts: { asCertificate?: boolean; timestamp?: string } = {}) {
  const timestamp = opts.timestamp ?? new Date(now).toISOString();
  return {
    timestamp,
    timestampSignature: signBytes(a, Buffer.from(timestamp, 'utf8')).toString('base64'),
    timestampDigestAlgorithm: a.digest,
    ...(opts.asCertificate ? { approverCertificate: a.certificate().toString('base64') } : { approverPublicKey: a.spkiB64 }),
  };
}

export interface Task {
  id: string;
  requestId: string;
  approvalToBeSigned: string;
  approverPublicKey: string;
  [k: string]: unknown;
}

export async function listTasks(w: TestWarden, a: Approver, opts: { list?: string; detailLevel?: string; requestId?: string; paging?: unknown; asCertificate?: boolean } = {}): Promise<Task[]> {
  const now = w.runtime.services.workflow.clock();
  const r = await w.call('POST', `/v1/filtered${opts.list ?? 'All'}ApprovalTask`, {
    ...proof(a, now, { asCertificate: opts.asCertificate }), detailLevel: opts.detailLevel ?? 'level1', requestId: opts.requestId ?? null, paging: opts.paging ?? null,
  }, 'approverToken');
  assert.equal(r.statusCode, 200, r.body);
  return r.json().tasks as Task[];
}

export function approvalBody(a: Approver, task: Task, opts: { asCertificate?: boolean; challenge?: string } = {}) {
  const challenge = opts.challenge ?? task.approvalToBeSigned;
  return {
    id: task.id,
    approvalToBeSigned: challenge,
    signature: signBytes(a, Buffer.from(challenge, 'base64')).toString('base64'),
    approvalDigestAlgorithm: a.digest,
    ...(opts.asCertificate ? { approverCertificate: a.certificate().toString('base64') } : { approverPublicKey: a.spkiB64 }),
  };
}

/** Approves every open task of `a` for `requestId`; returns how many. */
export async function approve(w: TestWarden, a: Approver, requestId: string, opts: { asCertificate?: boolean } = {}): Promise<number> {
  const tasks = await listTasks(w, a, { requestId, asCertificate: opts.asCertificate });
  for (const t of tasks) {
    const r = await w.call('POST', '/v1/approval', approvalBody(a, t, opts), 'approverToken');
    assert.equal(r.statusCode, 200, r.body);
  }
  return tasks.length;
}

export async function reject(w: TestWarden, a: Approver, requestId: string): Promise<number> {
  const tasks = await listTasks(w, a, { requestId });
  for (const t of tasks) {
    const r = await w.call('DELETE', '/v1/task', { ...proof(a, w.runtime.services.workflow.clock()), id: t.id }, 'approverToken');
    assert.equal(r.statusCode, 200, r.body);
  }
  return tasks.length;
}

export async function requestStatus(w: TestWarden, id: string, query = '') {
  const r = await w.call('GET', `/v1/request/${id}${query}`, undefined, 'keyOperationToken');
  assert.equal(r.statusCode, 200, r.body);
  return r.json() as { id: string; status: string; executionTime: string | null; approvedBy: string[]; notYetApprovedBy: string[]; rejectedBy: string[]; result: string | null };
}

export async function signRequest(w: TestWarden, label: string, payload = Buffer.from('ApproveSignTaskPayload'), extra: Record<string, unknown> = {}): Promise<string> {
  const r = await w.call('POST', '/v1/sign', {
    signRequest: { payload: payload.toString('base64'), payloadType: 'UNSPECIFIED', signKeyName: label, signatureAlgorithm: 'SHA256_WITH_ECDSA', metaData: Buffer.from('{"app":"test"}').toString('base64'), ...extra },
    requestSignature: null,
  }, 'keyOperationToken');
  assert.equal(r.statusCode, 201, r.body);
  return r.json().signRequestId as string;
}

/** A fake clock for the workflow and the keystore: starts now, moves only when told. */
export function fakeClock(w: TestWarden, start = Date.now()): { now: () => number; advance: (seconds: number) => void; set: (ms: number) => void } {
  let t = start;
  const now = () => t;
  w.runtime.services.workflow.useClock(now);
  return { now, advance: (s) => { t += s * 1000; }, set: (ms) => { t = ms; } };
}

/** `openssl dgst -sha256 -verify` of an ECDSA/RSA signature by the SPKI. */
export function opensslVerify(spki: Buffer, data: Buffer, signature: Buffer, digest = 'sha256'): boolean {
  const dir = mkdtempSync(path.join(tmpdir(), 'warden-wfv-'));
  const pem = `-----BEGIN PUBLIC KEY-----\n${spki.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END PUBLIC KEY-----\n`;
  writeFileSync(path.join(dir, 'pub.pem'), pem);
  writeFileSync(path.join(dir, 'data.bin'), data);
  writeFileSync(path.join(dir, 'sig.bin'), signature);
  const r = spawnSync('openssl', ['dgst', `-${digest}`, '-verify', 'pub.pem', '-signature', 'sig.bin', 'data.bin'], { cwd: dir, encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('Verified OK');
}
