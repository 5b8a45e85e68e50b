// Approver management (spec multi-authorization §5): approver key pairs made by Warden, kept as a PKCS#12
// for onboarding and as a backup wrapped by the RSA backup key (`hsm.backupKeyName`), one-time codes
// with expiry and lockout, onboarding with the AES-GCM transport, restores (a forgotten backup password
// goes through an unwrap request on the backup key, so the backup key's policy decides who must approve),
// and the name → certificate directory that `onboarded_approver_certificate` approvals resolve through.
import { X509Certificate, createPrivateKey, createPublicKey, randomBytes, randomUUID, webcrypto } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { rsa } from '../crypto/families/rsa.ts';
import type { KeyStore } from '../keystore/interface.ts';
import { x509 } from '../pki/x509.ts';
import { WardenError } from '../server/errors.ts';
import { MetaRepository } from '../store/repositories.ts';
import type { Database } from '../store/schema.ts';
import type { ExecutionContext, Executor, Workflow } from '../workflow/engine.ts';
import type { ApproverDirectory } from '../workflow/policy.ts';
import { TAG } from '../workflow/tlv.ts';
import { hashOneTimeCode, newOneTimeCode, sameHash, transportEncrypt, transportKey, unwrapBackup, wrapBackup } from './crypto.ts';
import { buildPkcs12 } from './pkcs12.ts';
import { ApproversRepository, type ApproverRow } from './repository.ts';

export const APPROVER_ALGORITHMS = ['RSA', 'EC'] as const;
export type ApproverAlgorithm = (typeof APPROVER_ALGORITHMS)[number];
export const RSA_SIZES = [2048, 3072, 4096] as const;

export interface NewApprover {
  approverName: string;
  algorithm: ApproverAlgorithm;
  keySize: number | null;
  backupPassword: string;
  /** Days the self-signed certificate is valid. */
  validity: number;
}

export interface ApproverStatusEntry {
  approverName: string;
  /** PEM of the approver's certificate (spec §5: "a PEM-framed string"). */
  approverCertificate: string;
}

export interface OnboardingStatus {
  onboarded: ApproverStatusEntry[];
  pending: ApproverStatusEntry[];
}

const OTC_KEY_META = 'approver_otc_key';
const P256 = '1.2.840.10045.3.1.7';
/** The params key that marks an unwrap request as a forgot-password restore. */
const RESTORE_PARAM = 'approverRestore';

const iso = (ms: number) => new Date(ms).toISOString();
const pem = (der: Buffer) => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`;

/** Approver names: what an approver types in the app and what policies name (spec §2.1). */
export function checkApproverName(name: string | null | undefined): string {
  if (name === undefined || name === null || name.trim() === '') throw new WardenError(633, 'approverName is required');
  if (name.length > 255) throw new WardenError(600, 'approverName is longer than 255 characters');
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) throw new WardenError(600, 'approverName must not contain control characters');
  }
  return name;
}

export interface ApproverServiceDeps {
  db: Kysely<Database>;
  keystore: KeyStore;
  workflow: Workflow;
  config: Config;
  logger: Logger;
}

export class ApproverService implements ApproverDirectory {
  readonly repo: ApproversRepository;
  private otcKey: Buffer | null = null;

  constructor(private readonly deps: ApproverServiceDeps) {
    this.repo = new ApproversRepository(deps.db);
  }

  private get backupKeyName(): string {
    return this.deps.config.hsm.backupKeyName;
  }

  private now(): number {
    return this.deps.workflow.clock();
  }

  /**
   * First start: the RSA backup key with an empty policy (spec §5, §7.2 `hsm.backupKeyName`). It is an
   * ordinary SKA key, not a system key, so an operator can tighten its policy with /v1/modify; until
   * then forgot-password restores execute at once. Not destroyable, never extractable.
   */
  async ensureBackupKey(): Promise<void> {
    const name = this.backupKeyName;
    const existing = await this.deps.keystore.peek(name);
    if (existing) {
      if (existing.algorithm !== 'RSA' || !existing.attributes.unwrap || existing.system) {
        throw new Error(`hsm.backupKeyName '${name}' names a key that is not an RSA unwrapping key of the API`);
      }
      return;
    }
    try {
      await this.deps.keystore.create({
        label: name,
        family: rsa,
        params: rsa.resolve({ keySize: this.deps.config.approverManagement.backupKeySize }),
        attributes: {
          encrypt: false, decrypt: false, verify: false, sign: false, wrap: true, unwrap: true, derive: false, bip32: false, slip10: false,
          extractable: false, modifiable: false, destroyable: false, sensitive: true, copyable: false, alwaysSensitive: true, neverExtractable: true,
        },
        password: null,
        creation: 'generated',
        policy: { ruleUse: null, ruleBlock: null, ruleUnblock: null, ruleModify: null, keyStatus: { blocked: false } },
      });
      this.deps.logger.info({ key: name }, 'created the approver backup key (RSA, empty policy)');
    } catch (e) {
      // Another node created it first (608): that key is the backup key.
      if (!(e instanceof WardenError && e.code === 608)) throw e;
    }
  }

  /** Runs forgot-password restores (unwrap requests that name an approver) instead of the key unwrap. */
  attachToWorkflow(): void {
    this.deps.workflow.decorateExecutor('unwrap', (inner): Executor => ({
      check: (info, params, payload) => {
        if (params[RESTORE_PARAM] === undefined) return inner.check?.(info, params, payload);
        if (info.label !== this.backupKeyName) throw new WardenError(614, `Approver restores unwrap with the backup key '${this.backupKeyName}' only`);
      },
      execute: (ctx) => (ctx.params[RESTORE_PARAM] === undefined ? inner.execute(ctx) : this.completeRestore(ctx)),
    }));
  }

  // --- One-time codes ------------------------------------------------------------------------------

  private async codeKey(): Promise<Buffer> {
    if (this.otcKey) return this.otcKey;
    const meta = new MetaRepository(this.deps.db);
    const purpose = 'approver-otc-key';
    let stored = await meta.get(OTC_KEY_META);
    if (stored === undefined) stored = await meta.setIfAbsent(OTC_KEY_META, this.deps.keystore.sealSecret(purpose, randomBytes(32)).toString('base64'));
    this.otcKey = this.deps.keystore.openSecret(purpose, Buffer.from(stored, 'base64'));
    return this.otcKey;
  }

  /** A new code for `name`: the previous one stops working, the attempt counter restarts. */
  private async issueCode(name: string): Promise<{ code: string; patch: Partial<ApproverRow> }> {
    const code = newOneTimeCode();
    const validity = this.deps.config.approverManagement.oneTimeCodeValiditySeconds;
    return {
      code,
      patch: { otc_hash: hashOneTimeCode(await this.codeKey(), name, code), otc_expires_at: iso(this.now() + validity * 1000), otc_attempts: 0, updated_at: iso(this.now()) },
    };
  }

  private async row(name: string): Promise<ApproverRow> {
    const row = await this.repo.get(checkApproverName(name));
    if (!row) throw new WardenError(413, `Approver '${name}' does not exist`);
    return row;
  }

  // --- Management calls ----------------------------------------------------------------------------

  async create(n: NewApprover): Promise<{ oneTimeCode: string }> {
    const name = checkApproverName(n.approverName);
    if (!n.backupPassword) throw new WardenError(633, 'backupPassword is required');
    if (await this.repo.exists(name)) throw new WardenError(632, `Approver '${name}' already exists`);
    const backupKey = await this.deps.keystore.peek(this.backupKeyName);
    if (!backupKey?.publicKey) throw new WardenError(701, `The backup key '${this.backupKeyName}' is missing`);

    const { privateKey, certificate } = await generateApproverKey(name, n.algorithm, n.keySize, n.validity, this.now());
    try {
      const p12 = await buildPkcs12({ privateKey, certificate, friendlyName: name, password: n.backupPassword, iterations: this.deps.config.approverManagement.pkcs12Iterations });
      const { code, patch } = await this.issueCode(name);
      const at = iso(this.now());
      const inserted = await this.repo.insert({
        name,
        algorithm: n.algorithm,
        certificate,
        p12: this.deps.keystore.sealSecret(`approver-p12:${name}`, p12),
        backup: wrapBackup(backupKey.publicKey, privateKey),
        backup_key: this.backupKeyName,
        created_at: at,
        updated_at: at,
        onboarded_at: null,
        otc_hash: patch.otc_hash ?? null,
        otc_expires_at: patch.otc_expires_at ?? null,
        otc_attempts: 0,
        restore_id: null,
        restore_secret: null,
      });
      if (!inserted) throw new WardenError(632, `Approver '${name}' already exists`);
      return { oneTimeCode: code };
    } finally {
      privateKey.fill(0);
    }
  }

  /** renewOneTimeCode: a new code while an onboarding (first or after a restore) is outstanding. */
  async renewOneTimeCode(name: string): Promise<{ oneTimeCode: string }> {
    const row = await this.row(name);
    if (row.onboarded_at !== null && row.otc_hash === null) {
      throw new WardenError(600, `Approver '${name}' is onboarded and has no onboarding in progress; use restoreFromBackup to onboard again`);
    }
    const { code, patch } = await this.issueCode(row.name);
    await this.repo.update(row.name, patch);
    return { oneTimeCode: code };
  }

  /** restoreFromBackup with the password known: the same PKCS#12 becomes available again with a new code. */
  async restore(name: string): Promise<{ oneTimeCode: string }> {
    const row = await this.row(name);
    const { code, patch } = await this.issueCode(row.name);
    await this.repo.update(row.name, patch);
    return { oneTimeCode: code };
  }

  /**
   * restoreFromBackup/forgotPassword: an asynchronous unwrap request on the backup key (spec §3.1). When
   * the backup key's policy is satisfied the backup is unwrapped, a new PKCS#12 is built under the new
   * password, and the request's result is the new one-time code.
   */
  async forgotPassword(name: string, newBackupPassword: string | null): Promise<string> {
    const row = await this.row(name);
    if (!newBackupPassword) throw new WardenError(633, 'newBackupPassword is required');
    const restoreId = randomUUID();
    await this.repo.update(row.name, {
      restore_id: restoreId,
      restore_secret: this.deps.keystore.sealSecret(`approver-restore:${row.name}:${restoreId}`, Buffer.from(newBackupPassword, 'utf8')),
      updated_at: iso(this.now()),
    });
    const shown = { approverName: row.name, newBackupPassword: null };
    return this.deps.workflow.create({
      type: 'unwrap',
      label: row.backup_key,
      password: null,
      part: { tag: TAG.payload, value: Buffer.from(row.backup) },
      params: { wrapMethod: 'RSA_WRAP_OAEP', [RESTORE_PARAM]: row.name, restoreId },
      payloadType: null,
      metaData: Buffer.from(JSON.stringify({ type: 'RestoreApprover', approverName: row.name, time: iso(this.now()) }), 'utf8').toString('base64'),
      metaDataSignature: null,
      requestJson: JSON.stringify(shown),
    });
  }

  /** The executor of a forgot-password restore, after the backup key's policy was satisfied. */
  private async completeRestore(ctx: ExecutionContext): Promise<string> {
    const name = String(ctx.params[RESTORE_PARAM]);
    const row = await this.repo.get(name);
    if (!row) throw new WardenError(413, `Approver '${name}' no longer exists`);
    if (row.restore_id !== ctx.params.restoreId || !row.restore_secret) {
      throw new WardenError(412, `A newer restore of approver '${name}' replaced this one`);
    }
    const password = this.deps.keystore.openSecret(`approver-restore:${name}:${row.restore_id}`, Buffer.from(row.restore_secret)).toString('utf8');
    const pkcs8 = await ctx.keystore.use(ctx.label, ctx.password, 'unwrap', ({ material }) => {
      if (!material.privateKey) throw new WardenError(613, `'${ctx.label}' holds no RSA private key`);
      return unwrapBackup(material.privateKey, ctx.payload);
    }, { authorization: ctx.authorization });
    try {
      const cert = new X509Certificate(row.certificate);
      const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ type: 'spki', format: 'der' });
      if (!spki.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) throw new WardenError(701, `The backup of approver '${name}' does not match its certificate`);
      const p12 = await buildPkcs12({ privateKey: pkcs8, certificate: row.certificate, friendlyName: name, password, iterations: this.deps.config.approverManagement.pkcs12Iterations });
      const { code, patch } = await this.issueCode(name);
      await this.repo.update(name, { ...patch, p12: this.deps.keystore.sealSecret(`approver-p12:${name}`, p12), restore_id: null, restore_secret: null });
      return code;
    } finally {
      pkcs8.fill(0);
    }
  }

  async status(): Promise<OnboardingStatus> {
    const out: OnboardingStatus = { onboarded: [], pending: [] };
    for (const r of await this.repo.all()) {
      const entry = { approverName: r.name, approverCertificate: pem(Buffer.from(r.certificate)) };
      // Pending: an onboarding (first one, or after a restore) is outstanding.
      (r.onboarded_at !== null && r.otc_hash === null ? out.onboarded : out.pending).push(entry);
    }
    return out;
  }

  /**
   * Removes the approver and its backup (spec §5). Policies already bound keep the certificate they
   * resolved (it is sealed with each key), so those keys still accept this approver's approvals;
   * new policies can no longer name it (413). Returns the keys whose policies name it.
   */
  async delete(name: string): Promise<{ referencedBy: string[] }> {
    const row = await this.row(name);
    const referencedBy = await this.keysReferencing(row.name);
    if (!(await this.repo.delete(row.name))) throw new WardenError(413, `Approver '${name}' does not exist`);
    return { referencedBy };
  }

  private async keysReferencing(name: string): Promise<string[]> {
    const out: string[] = [];
    for (const label of await this.deps.keystore.list()) {
      const info = await this.deps.keystore.peek(label);
      const text = info?.policy ? JSON.stringify(info.policy) : '';
      if (text.includes('onboarded_approver_certificate') && text.includes(JSON.stringify(name))) out.push(label);
    }
    return out;
  }

  // --- Onboarding ----------------------------------------------------------------------------------

  /**
   * /v1/approver/onboard: the one-time code (single use, expiring, 5 wrong tries lock it) releases the
   * PKCS#12, encrypted for transport with the approver's transport password.
   */
  async onboard(name: string, code: string | null, transportPassword: string | null): Promise<{ encryptedPayload: string; initializationVector: string }> {
    const key = transportKey(transportPassword);
    const row = await this.row(name);
    const max = this.deps.config.approverManagement.oneTimeCodeMaxAttempts;
    if (!row.otc_hash) throw new WardenError(412, `Approver '${row.name}' has no valid one-time code (already used, or none issued)`);
    if (row.otc_attempts >= max) throw new WardenError(412, `The one-time code of approver '${row.name}' is locked after ${max} wrong attempts; ask for a new one`);
    if (!row.otc_expires_at || Date.parse(row.otc_expires_at) <= this.now()) throw new WardenError(412, `The one-time code of approver '${row.name}' has expired; ask for a new one`);
    const given = hashOneTimeCode(await this.codeKey(), row.name, code ?? '');
    if (!sameHash(given, row.otc_hash)) {
      await this.repo.countWrongAttempt(row.name, row.otc_hash);
      const left = Math.max(0, max - row.otc_attempts - 1);
      throw new WardenError(412, `Wrong one-time code for approver '${row.name}'${left === 0 ? '; the code is now locked' : ` (${left} attempt${left === 1 ? '' : 's'} left)`}`);
    }
    const at = iso(this.now());
    if (!(await this.repo.consumeCode(row.name, row.otc_hash, max, { onboarded_at: row.onboarded_at ?? at, updated_at: at }))) {
      throw new WardenError(412, `The one-time code of approver '${row.name}' was used or replaced meanwhile`);
    }
    const p12 = this.deps.keystore.openSecret(`approver-p12:${row.name}`, Buffer.from(row.p12));
    try {
      return transportEncrypt(key, p12);
    } finally {
      key.fill(0);
    }
  }

  // --- Directory -----------------------------------------------------------------------------------

  async certificateOf(approverName: string): Promise<{ certificate: Buffer | null; onboarded: boolean } | null> {
    const row = await this.repo.get(approverName);
    if (!row) return null;
    return { certificate: Buffer.from(row.certificate), onboarded: row.onboarded_at !== null };
  }
}

/** A fresh approver key pair and its self-signed certificate (CN = approverName). */
async function generateApproverKey(name: string, algorithm: ApproverAlgorithm, keySize: number | null, validityDays: number, nowMs: number): Promise<{ privateKey: Buffer; certificate: Buffer }> {
  const alg =
    algorithm === 'RSA'
      ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', publicExponent: new Uint8Array([1, 0, 1]), modulusLength: keySize ?? 2048 }
      : { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: [{ CN: [name] }],
    notBefore: new Date(nowMs - 60_000),
    notAfter: new Date(nowMs + validityDays * 86_400_000),
    signingAlgorithm: alg,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)],
  });
  const privateKey = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  return { privateKey, certificate: Buffer.from(cert.rawData) };
}

export { P256 as APPROVER_EC_CURVE };
