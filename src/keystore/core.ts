// The row-based keystore core shared by the software and the PKCS#11 keystore: metadata in the `keys`
// table, bound by AAD to a sealed payload (the custody's reference + the password verifier), opened
// only inside this module. It is the trust boundary: every rule about releasing or using a key is
// checked here; where the material lives is the custody's business (src/keystore/custody.ts).
import { createHash, createPrivateKey, randomBytes, sign as nodeSign, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { KeyClass, KeyMaterial } from '../crypto/families/types.ts';
import { WardenError, errors } from '../server/errors.ts';
import type { Store } from '../store/db.ts';
import type { Database } from '../store/schema.ts';
import { DataObjectsRepository, KeysRepository, type KeyRow } from '../store/repositories.ts';
import type { DataObject, KeyInfo, KeyStore, KeyStoreStatistics, KeyUsage, NewKey, OpenedKey, Password } from './interface.ts';
import type { PendingUse, PolicyAuthorization, PolicyChange, SignedTimestamp, UseOptions } from './interface.ts';
import { checkAuthorization } from '../workflow/authorization.ts';
import { OPERATION, USE_OPERATIONS, signatureWithAlgorithm, timestampStruct } from '../workflow/challenge.ts';
import { asPolicy, encodeRules, type Policy } from '../workflow/policy.ts';
import { consumeChallenge } from '../workflow/repositories.ts';
import { TAG } from '../workflow/tlv.ts';
import type { Kysely, Transaction } from 'kysely';
import type { MasterKey } from './software/master-key.ts';
import { SealError, canonical, seal, unseal } from './software/seal.ts';
import { LruCache } from './software/lru.ts';
import { UseCounter } from './software/use-counter.ts';
import { formatPath, parsePath } from '../crypto/derivation/hd.ts';
import { deriveMaterial } from '../crypto/derivation/keys.ts';
import { familyOfStored } from '../crypto/registry.ts';
import { rawToDer } from '../crypto/token.ts';
import type { KeyAttributes, KeyExtension } from './interface.ts';
import type { CustodyRef, KeyCustody } from './custody.ts';

/** The sealed payload of a row: the custody's fields (software: pk/sk; PKCS#11: the token object) and `pw`. */
type SealedPayload = CustodyRef & { pw: PasswordVerifier };
type PasswordVerifier = { salt: string; hash: string } | null;

interface Opened {
  info: KeyInfo;
  material: KeyMaterial;
  ref: CustodyRef;
  pw: PasswordVerifier;
  /** Derived on the fly from a master key (spec §2.7); it has no row of its own. */
  temporary?: boolean;
}

const isoSeconds = (d = new Date()) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function passwordVerifier(password: string): { salt: string; hash: string } {
  const salt = randomBytes(16);
  return { salt: salt.toString('base64'), hash: createHash('sha256').update(salt).update(password, 'utf8').digest('base64') };
}

function passwordMatches(pw: PasswordVerifier, given: Password): boolean {
  const supplied = given ?? '';
  if (pw === null) return supplied === '';
  const expected = Buffer.from(pw.hash, 'base64');
  const actual = createHash('sha256').update(Buffer.from(pw.salt, 'base64')).update(supplied, 'utf8').digest();
  return timingSafeEqual(expected, actual);
}

export function keyAad(info: KeyInfo): string {
  return canonical({
    v: 1,
    label: info.label,
    id: info.id,
    algorithm: info.algorithm,
    algorithmOid: info.algorithmOid,
    curveOid: info.curveOid,
    keySize: info.keySize,
    keyClass: info.keyClass,
    creation: info.creation,
    createTime: info.createTime,
    attributes: info.attributes,
    publicKey: info.publicKey,
    policy: info.policy ?? null,
    system: info.system,
    // Issue 5: derivation data / address format; undefined (left out of the AAD) for plain keys.
    ext: info.ext ?? undefined,
  });
}

export function rowToInfo(row: KeyRow): KeyInfo {
  let attributes: KeyInfo['attributes'];
  let policy: unknown;
  let ext: KeyExtension | undefined;
  try {
    attributes = JSON.parse(row.attributes);
    policy = row.policy === null ? null : JSON.parse(row.policy);
    ext = row.ext ? (JSON.parse(row.ext) as KeyExtension) : undefined;
  } catch {
    throw new WardenError(701, `Key '${row.label}' failed its integrity check: its stored metadata is not valid`);
  }
  return {
    label: row.label,
    id: row.id,
    algorithm: row.algorithm,
    algorithmOid: row.algorithm_oid,
    curveOid: row.curve_oid,
    keySize: row.key_size === null ? null : Number(row.key_size),
    keyClass: row.key_class as KeyClass,
    creation: row.creation as KeyInfo['creation'],
    createTime: row.create_time,
    attributes,
    publicKey: row.public_key ? Buffer.from(row.public_key) : null,
    certificate: row.certificate ? Buffer.from(row.certificate) : null,
    policy,
    system: Number(row.system) === 1,
    useCount: Number(row.use_count),
    ...(ext ? { ext } : {}),
  };
}

/** The columns rowToInfo reads into the AAD (not use_count, certificate or state), compared as stored. */
function sameMetadata(a: KeyRow, b: KeyRow): boolean {
  const bytes = (x: Buffer | null, y: Buffer | null) => (x === null || y === null ? x === y : Buffer.compare(x, y) === 0);
  return a.label === b.label && a.id === b.id && a.algorithm === b.algorithm && a.algorithm_oid === b.algorithm_oid &&
    a.curve_oid === b.curve_oid && a.key_size === b.key_size && a.key_class === b.key_class && a.creation === b.creation &&
    a.create_time === b.create_time && a.attributes === b.attributes && a.policy === b.policy && a.system === b.system &&
    (a.ext ?? null) === (b.ext ?? null) && bytes(a.public_key, b.public_key);
}

function infoToRow(info: KeyInfo, sealed: Buffer): KeyRow {
  return {
    label: info.label,
    id: info.id,
    algorithm: info.algorithm,
    algorithm_oid: info.algorithmOid,
    curve_oid: info.curveOid,
    key_size: info.keySize,
    key_class: info.keyClass,
    creation: info.creation,
    create_time: info.createTime,
    attributes: JSON.stringify(info.attributes),
    public_key: info.publicKey,
    certificate: info.certificate,
    policy: info.policy === null || info.policy === undefined ? null : JSON.stringify(info.policy),
    system: info.system ? 1 : 0,
    sealed,
    use_count: info.useCount,
    ext: info.ext ? JSON.stringify(info.ext) : null,
  };
}

const USAGE_ATTRIBUTE: Record<Exclude<KeyUsage, 'attest'>, keyof KeyInfo['attributes']> = {
  sign: 'sign',
  verify: 'verify',
  encrypt: 'encrypt',
  decrypt: 'decrypt',
  wrap: 'wrap',
  unwrap: 'unwrap',
  derive: 'derive',
  extract: 'extractable',
};

/** Key use counts, the cache and every rule; the custody decides where material lives. */
export class RowKeyStore implements KeyStore {
  readonly type: 'software' | 'pkcs11';
  private readonly keys: KeysRepository;
  private readonly objects: DataObjectsRepository;
  /** Unsealed keys by label, valid while the row's sealed bytes are unchanged. */
  private readonly cache: LruCache<string, { sealed: Buffer; row: KeyRow; opened: Opened }>;
  /** Use counts not yet written; the audit log writes them with its batches (use-counter.ts). */
  readonly uses = new UseCounter();
  private readonly db: Kysely<Database>;
  /** The system key that signs challenge timestamps (docs/workflow.md). */
  private timestampKeyName: string | null = null;
  private now: () => number = Date.now;

  /**
   * `secrets` seals what is not a key (data objects, workflow secrets, stateful-key state): the master
   * key of the data directory in both keystores (docs/hsm.md).
   */
  constructor(
    store: Store,
    protected readonly custody: KeyCustody,
    protected readonly secrets: MasterKey,
    cacheSize = 10000,
  ) {
    this.type = custody.type;
    this.keys = new KeysRepository(store.db);
    this.objects = new DataObjectsRepository(store.db);
    this.db = store.db;
    this.cache = new LruCache(cacheSize);
  }

  async create(key: NewKey): Promise<KeyInfo> {
    // A custody with side effects (token objects) is not asked for a key whose label is taken.
    if (this.custody.type !== 'software' && (await this.keys.get(key.label))) throw errors.keyExists(key.label);
    const base = {
      label: key.label,
      id: key.id ?? null,
      algorithm: key.family.reportedAlgorithm,
      ...key.params,
      creation: key.creation,
      createTime: isoSeconds(),
      attributes: key.attributes,
      certificate: key.certificate ?? null,
      policy: key.policy ?? null,
      system: key.system ?? false,
      useCount: 0,
      ...(key.ext ? { ext: key.ext } : {}),
    };
    const placed = await this.custody.place(key, base);
    const { material } = placed;
    const keyClass: KeyClass = placed.keyClass;
    const info: KeyInfo = { ...base, ...placed.params, keyClass, publicKey: placed.publicKey, attributes: placed.attributes ?? base.attributes };
    const payload: SealedPayload = { ...placed.ref, pw: key.password ? passwordVerifier(key.password) : null };
    let inserted = false;
    try {
      const sealed = await this.custody.seal(Buffer.from(JSON.stringify(payload)), keyAad(info));
      const row = infoToRow(info, sealed);
      // Stateful keys start at index 0, sealed in the same insert: a key never exists without its state.
      if (key.family.stateful && material.privateKey) row.state = sealState(this.secrets, info, 0);
      inserted = await this.keys.insert(row);
    } finally {
      if (!inserted) await this.custody.remove(placed.ref, info).catch(() => undefined);
    }
    if (!inserted) throw errors.keyExists(key.label);
    if (key.family.stateful && material.privateKey) return { ...info, remainingSignatures: key.family.stateful.capacity(material) };
    return info;
  }

  async peek(label: string): Promise<KeyInfo | null> {
    const row = await this.keys.get(label);
    return row ? { ...rowToInfo(row), useCount: Number(row.use_count) + this.uses.pendingFor(label) } : null;
  }

  async list(): Promise<string[]> {
    return this.keys.labels();
  }

  /** Reads, unseals and password-checks one key. Every path that trusts a key goes through here. */
  private async open(label: string, password: Password): Promise<Opened> {
    const row = await this.keys.get(label);
    // Spec §2.7: `master/44'/0'` names a key derived on the fly when no persisted key has that label.
    if (!row && label.includes('/')) return this.openDerived(label, password);
    if (!row) throw errors.keyNotFound(label);
    const sealed = row.sealed ? Buffer.from(row.sealed) : null;
    if (!sealed) throw new WardenError(701, `Key '${label}' failed its integrity check: its sealed record is missing`);
    const cached = this.cache.get(label);
    const useCount = Number(row.use_count) + this.uses.pendingFor(label);
    let opened: Opened;
    // A hit only for the very row that was unsealed: the same sealed bytes and the same metadata columns
    // as stored (hence the same AAD), so a key changed on another node is never served stale, without
    // parsing or re-encoding the metadata on every use.
    if (cached && cached.sealed.equals(sealed) && sameMetadata(cached.row, row)) {
      opened = { ...cached.opened, info: { ...cached.opened.info, useCount, certificate: row.certificate ? Buffer.from(row.certificate) : null } };
    } else {
      const info = { ...rowToInfo(row), useCount };
      let payload: SealedPayload;
      try {
        payload = JSON.parse((await this.custody.unseal(sealed, keyAad(info))).toString('utf8')) as SealedPayload;
      } catch (e) {
        if (e instanceof SealError || e instanceof SyntaxError) {
          throw new WardenError(701, `Key '${label}' failed its integrity check: the sealed record does not match its metadata (edited row or wrong ${this.custody.type === 'software' ? 'master key' : 'token seal key'})`);
        }
        throw e;
      }
      const { pw, ...ref } = payload;
      opened = { info, material: await this.custody.material(ref, info), ref, pw };
      this.cache.set(label, { sealed, row, opened });
    }
    if (!passwordMatches(opened.pw, password)) throw errors.passwordMismatch();
    return opened;
  }

  async describe(label: string, password: Password): Promise<KeyInfo> {
    const { info, material } = await this.open(label, password);
    const stateful = familyOfStored(info.algorithm).stateful;
    if (!stateful || !material.privateKey) return info;
    const next = await this.readState(info);
    return { ...info, remainingSignatures: Math.max(0, stateful.capacity(material) - next) };
  }

  async delete(label: string, password: Password, opts: { force?: boolean } = {}): Promise<void> {
    const opened = await this.open(label, password);
    const { info } = opened;
    if (!opts.force) {
      if (info.system) throw errors.forbidden(`Key '${label}' is a system key of this Warden and cannot be deleted`);
      if (!info.attributes.destroyable) throw errors.forbidden(`Key '${label}' is not destroyable`);
    }
    this.cache.delete(label);
    this.uses.forget(label);
    if (!(await this.keys.delete(label))) throw errors.keyNotFound(label);
    // The row goes first: a crash in between leaves an orphan token object, never a row without its key.
    if (!opened.temporary) await this.custody.remove(opened.ref, opened.info);
  }

  async changePassword(label: string, oldPassword: Password, newPassword: Password): Promise<void> {
    const opened = await this.open(label, oldPassword);
    if (opened.temporary) throw errors.forbidden(`'${label}' is derived on the fly; its password is the master key's`);
    if (opened.info.system) throw errors.forbidden(`Key '${label}' is a system key of this Warden`);
    if (!opened.info.attributes.modifiable) throw errors.forbidden(`Key '${label}' is not modifiable`);
    if (opened.info.keyClass === 'public') throw errors.forbidden(`Key '${label}' is a public key and has no password`);
    const payload: SealedPayload = { ...opened.ref, pw: newPassword ? passwordVerifier(newPassword) : null };
    const sealed = await this.custody.seal(Buffer.from(JSON.stringify(payload)), keyAad(opened.info));
    this.cache.delete(label);
    await this.keys.update(label, { sealed });
  }

  async exportPlain(label: string, password: Password): Promise<KeyMaterial> {
    const { info, material, ref, temporary } = await this.open(label, password);
    if (info.keyClass !== 'public') {
      if (info.system) throw errors.forbidden(`Key '${label}' is a system key of this Warden`);
      if (info.policy) throw errors.forbidden(`Key '${label}' has a policy and can never be exported`);
      if (!info.attributes.extractable) throw errors.forbidden(`Key '${label}' is not extractable`);
      if (info.attributes.sensitive) throw errors.forbidden(`Key '${label}' is sensitive; only non-sensitive keys can be exported in plain`);
      if (familyOfStored(info.algorithm).stateful) throw errors.forbidden(`Key '${label}' is a stateful hash-based key: a copy outside the keystore could reuse one-time indices`);
    }
    if (temporary) return { privateKey: material.privateKey, publicKey: material.publicKey, secret: material.secret };
    return this.custody.exportPlain(ref, info, material);
  }

  async replacePublic(label: string, material: KeyMaterial, certificate: Buffer | null): Promise<KeyInfo> {
    const opened = await this.open(label, null);
    if (opened.info.keyClass !== 'public') throw errors.keyExists(label);
    const info: KeyInfo = { ...opened.info, publicKey: material.publicKey ?? null, certificate };
    const sealed = await this.custody.seal(Buffer.from(JSON.stringify({ pw: null })), keyAad(info));
    this.cache.delete(label);
    await this.keys.update(label, { public_key: info.publicKey, certificate, sealed });
    return info;
  }

  async setCertificate(label: string, certificate: Buffer | null): Promise<void> {
    if (!(await this.keys.get(label))) throw errors.keyNotFound(label);
    await this.keys.update(label, { certificate });
  }

  async use<T>(label: string, password: Password, usage: KeyUsage, fn: (key: OpenedKey) => Promise<T> | T, opts: UseOptions = {}): Promise<T> {
    const { info, material } = await this.open(label, password);
    if (info.system !== (opts.system ?? false)) {
      throw errors.forbidden(info.system ? `Key '${label}' is a system key of this Warden and cannot be used through the API` : `Key '${label}' is not a system key`);
    }
    if (usage !== 'attest') {
      const attr = USAGE_ATTRIBUTE[usage];
      if (!info.attributes[attr]) throw errors.forbidden(`Key '${label}' does not allow ${usage}`);
    }
    // Keys with a policy are never extractable (spec §2.5), whatever their attributes say.
    if (usage === 'extract' && info.policy) throw errors.forbidden(`Key '${label}' has a policy and can never leave the keystore`);
    if (usage === 'extract' && familyOfStored(info.algorithm).stateful) throw errors.forbidden(`Key '${label}' is a stateful hash-based key and never leaves the keystore`);
    const deferred = await this.gateUse(info, usage, opts.authorization);
    const result = await fn({ info, material });
    // A deferred use is counted by commitUse, in the caller's transaction.
    if (deferred) return result;
    // Batched with the audit log's group commit when the runtime attached one (boot.ts); else written now.
    if (this.uses.batched) this.uses.count(label);
    else await this.keys.incrementUse(label);
    return result;
  }

  async commitUse(trx: Transaction<Database>, pending: PendingUse): Promise<void> {
    if (!(await consumeChallenge(trx, pending.hash, pending.label, new Date(this.now()).toISOString()))) {
      throw new WardenError(401, 'These approvals were already used: every approved challenge authorises one operation');
    }
    await new KeysRepository(trx).incrementUse(pending.label);
  }

  async statistics(): Promise<KeyStoreStatistics> {
    const rows = await this.keys.all();
    return {
      privateKeys: rows.filter((r) => r.key_class === 'private').length,
      publicKeys: rows.filter((r) => r.key_class === 'public').length,
      secretKeys: rows.filter((r) => r.key_class === 'secret').length,
      certificates: rows.filter((r) => r.certificate !== null).length,
      dataObjects: await this.objects.count(),
    };
  }

  async putDataObject(obj: Omit<DataObject, 'createTime'>): Promise<DataObject> {
    const createTime = isoSeconds();
    const attributes = JSON.stringify(obj.attributes);
    const value = seal(this.secrets.sealKey, obj.value, dataObjectAad(obj.name, attributes, createTime));
    if (!(await this.objects.insert({ name: obj.name, attributes, create_time: createTime, value }))) {
      throw new WardenError(615, `Data object '${obj.name}' already exists`);
    }
    return { ...obj, createTime };
  }

  async getDataObject(name: string): Promise<DataObject> {
    const row = await this.objects.get(name);
    if (!row) throw new WardenError(653, `Data object '${name}' does not exist`);
    let value: Buffer;
    try {
      value = unseal(this.secrets.sealKey, Buffer.from(row.value), dataObjectAad(row.name, row.attributes, row.create_time));
    } catch {
      throw new WardenError(701, `Data object '${name}' failed its integrity check`);
    }
    return { name, value, attributes: JSON.parse(row.attributes), createTime: row.create_time };
  }

  async deleteDataObject(name: string): Promise<void> {
    const obj = await this.getDataObject(name);
    if (!obj.attributes.destroyable) throw errors.forbidden(`Data object '${name}' is not destroyable`);
    await this.objects.delete(name);
  }

  // --- Policies (multi-authorization, docs/workflow.md) ---------------------------------------------

  /**
   * The policy gate of every private-key use: a blocked key refuses, and a key whose ruleUse needs
   * approvals opens only with evidence this keystore verifies itself against the sealed rule. The
   * challenge is consumed before the key is used, so one set of approvals authorises one operation —
   * or, when the caller defers it (the workflow's executor), by commitUse in the transaction that
   * releases the output. Returns true when the consumption was deferred.
   */
  private async gateUse(info: KeyInfo, usage: KeyUsage, auth: PolicyAuthorization | undefined): Promise<boolean> {
    const policy = asPolicy(info.policy);
    if (!policy || !POLICY_GATED_USAGES.has(usage)) return false;
    if (policy.keyStatus?.blocked) throw errors.forbidden(`Key '${info.label}' is blocked`);
    const operation = auth?.operation ?? OPERATION.sign;
    if (!USE_OPERATIONS.has(operation)) throw new WardenError(401, `operation ${operation} is not authorised by ruleUse`);
    const hash = checkAuthorization({
      label: info.label,
      rule: policy.ruleUse,
      operation,
      part: { tag: TAG.payload, value: auth?.payload ?? Buffer.alloc(0) },
      parameters: auth?.parameters ?? null,
      evidence: auth?.evidence ?? null,
      nowSeconds: Math.floor(this.now() / 1000),
      timestampKey: await this.timestampKeyRef(),
    });
    if (!hash) return false;
    if (auth?.deferConsumption) {
      // Checked now (no work for a used challenge) and again, atomically, by commitUse.
      const used = await this.db.selectFrom('consumed_challenges').select('hash').where('hash', '=', hash.toString('hex')).executeTakeFirst();
      if (used) throw new WardenError(401, 'These approvals were already used: every approved challenge authorises one operation');
      auth.deferConsumption({ label: info.label, hash });
      return true;
    }
    if (!(await consumeChallenge(this.db, hash, info.label, new Date(this.now()).toISOString()))) {
      throw new WardenError(401, 'These approvals were already used: every approved challenge authorises one operation');
    }
    return false;
  }

  async changePolicy(label: string, password: Password, change: PolicyChange, authorization: PolicyAuthorization): Promise<KeyInfo> {
    const row = await this.keys.get(label);
    if (!row?.sealed) throw errors.keyNotFound(label);
    const opened = await this.open(label, password);
    const { info } = opened;
    if (info.system) throw errors.forbidden(`Key '${label}' is a system key of this Warden`);
    const policy = asPolicy(info.policy);
    if (!policy) throw errors.forbidden(`Key '${label}' has no policy: block, unblock and modify apply to keys with a policy (SKA keys) only`);
    const ruleName = change.kind === 'block' ? 'ruleBlock' : change.kind === 'unblock' ? 'ruleUnblock' : 'ruleModify';
    const part = change.kind === 'modify' ? { tag: TAG.policy, value: encodeRules(change.rules) } : { tag: TAG.payload, value: Buffer.alloc(0) };
    const hash = checkAuthorization({
      label,
      rule: policy[ruleName],
      operation: OPERATION[change.kind],
      part,
      parameters: authorization.parameters,
      evidence: authorization.evidence,
      nowSeconds: Math.floor(this.now() / 1000),
      timestampKey: await this.timestampKeyRef(),
    });
    const next: Policy = change.kind === 'modify' ? { ...change.rules, keyStatus: { blocked: policy.keyStatus?.blocked === true } } : { ...policy, keyStatus: { blocked: change.kind === 'block' } };
    if (next.keyStatus.blocked && !next.ruleUnblock) throw new WardenError(600, `Key '${label}' is blocked and the new policy has no ruleUnblock: it could never be unblocked`);
    const newInfo: KeyInfo = { ...info, policy: next };
    const payload: SealedPayload = { ...opened.ref, pw: opened.pw };
    const sealed = await this.custody.seal(Buffer.from(JSON.stringify(payload)), keyAad(newInfo));
    const at = new Date(this.now()).toISOString();
    await this.db.transaction().execute(async (trx) => {
      if (hash && !(await consumeChallenge(trx, hash, label, at))) {
        throw new WardenError(401, 'These approvals were already used: every approved challenge authorises one operation');
      }
      // Compare-and-set on the sealed bytes: a concurrent change makes this one fail instead of losing either.
      const r = await trx.updateTable('keys').set({ policy: JSON.stringify(next), sealed }).where('label', '=', label).where('sealed', '=', Buffer.from(row.sealed as Buffer)).executeTakeFirst();
      if (Number(r.numUpdatedRows) !== 1) throw new WardenError(701, `Key '${label}' was changed concurrently; nothing was applied`);
    });
    this.cache.delete(label);
    return newInfo;
  }

  async setTimestampKey(label: string): Promise<void> {
    const { info } = await this.open(label, null);
    if (!info.system || info.algorithm !== 'EC') throw new Error(`hsm.timestampKeyName '${label}' must name an EC system key of this Warden`);
    this.timestampKeyName = label;
  }

  private async timestampKeyRef(): Promise<{ name: string; spki: Buffer } | null> {
    if (!this.timestampKeyName) return null;
    const { info } = await this.open(this.timestampKeyName, null);
    return info.publicKey ? { name: this.timestampKeyName, spki: info.publicKey } : null;
  }

  async issueTimestamp(part: { tag: number; value: Buffer }): Promise<SignedTimestamp> {
    const keyName = this.timestampKeyName;
    if (!keyName) throw new WardenError(701, 'No timestamp key is configured (hsm.timestampKeyName)');
    const time = Math.floor(this.now() / 1000);
    const struct = timestampStruct(part, time, keyName);
    const signature = await this.use(keyName, null, 'attest', async ({ material }) => {
      if (material.token) return rawToDer(await material.token.sign({ name: 'ECDSA', hash: 'sha256' }, struct));
      const der = material.privateKey as Buffer;
      let key = timestampKeyObjects.get(der);
      if (!key) {
        key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
        timestampKeyObjects.set(der, key);
      }
      return nodeSign('sha256', struct, { key, dsaEncoding: 'der' });
    }, { system: true });
    return { struct, signature, signatureWithAlgorithm: signatureWithAlgorithm(signature), time, keyName };
  }

  sealSecret(purpose: string, data: Buffer): Buffer {
    return seal(this.secrets.sealKey, data, canonical({ v: 1, kind: 'workflowSecret', purpose }));
  }

  openSecret(purpose: string, sealed: Buffer): Buffer {
    try {
      return unseal(this.secrets.sealKey, sealed, canonical({ v: 1, kind: 'workflowSecret', purpose }));
    } catch {
      throw new WardenError(701, 'A sealed workflow record failed its integrity check');
    }
  }

  setClock(now: () => number): void {
    this.now = now;
  }

  // --- Derivation and stateful signatures (issue 5, docs/algorithms.md) ----------------------------

  /**
   * A temporary derived key `master/path` (spec §2.7): the master is opened with the given password
   * (the derived key's password is the master's) and must allow derivation; the child inherits its
   * attributes, policy and system flag. Nothing is stored.
   */
  private async openDerived(label: string, password: Password): Promise<Opened> {
    const slash = label.indexOf('/');
    const masterLabel = label.slice(0, slash);
    const master = await this.open(masterLabel, password);
    refuseTokenDerivation(master.material, masterLabel);
    const child = deriveMaterial(master.info, master.material, masterLabel, label.slice(slash + 1));
    const info: KeyInfo = {
      ...master.info,
      label,
      publicKey: child.material.publicKey ?? null,
      certificate: null,
      useCount: 0,
      ext: child.ext,
    };
    return { info, material: child.material, ref: {}, pw: master.pw, temporary: true };
  }

  async deriveKey(masterLabel: string, password: Password, path: string, attributes: KeyAttributes | null): Promise<KeyInfo> {
    const master = await this.open(masterLabel, password);
    if (master.info.system) throw errors.forbidden(`Key '${masterLabel}' is a system key of this Warden`);
    // The label spells hardened indices with ' whatever the request used (h, H), so one key has one name.
    const normalized = formatPath(parsePath(path));
    const label = `${masterLabel}/${normalized}`;
    refuseTokenDerivation(master.material, masterLabel);
    const child = deriveMaterial(master.info, master.material, masterLabel, normalized);
    const inherited = master.info.attributes;
    // Spec §3.8: modifiable cannot be true when the master is not; derivation flags follow the master.
    if (attributes?.modifiable && !inherited.modifiable) throw new WardenError(606, `modifiable cannot be true: master key '${masterLabel}' is not modifiable`);
    const attrs: KeyAttributes = attributes ? { ...attributes, bip32: inherited.bip32, slip10: inherited.slip10, alwaysSensitive: false, neverExtractable: false } : { ...inherited };
    const info: KeyInfo = {
      ...master.info,
      label,
      id: null,
      creation: 'generated',
      createTime: isoSeconds(),
      attributes: attrs,
      publicKey: child.material.publicKey ?? null,
      certificate: null,
      useCount: 0,
      ext: child.ext,
    };
    // Sealed with the master's password verifier and policy: the derived key inherits both (spec §2.7, §3.8).
    const payload: SealedPayload = { ...this.custody.adopt(child.material), pw: master.pw };
    const sealed = await this.custody.seal(Buffer.from(JSON.stringify(payload)), keyAad(info));
    if (!(await this.keys.insert(infoToRow(info, sealed)))) throw errors.keyExists(label);
    return info;
  }

  async useStateful<T>(label: string, password: Password, fn: (key: OpenedKey, index: number) => Promise<T>, opts: UseOptions = {}): Promise<T> {
    return this.use(label, password, 'sign', async (key) => {
      const stateful = familyOfStored(key.info.algorithm).stateful;
      if (!stateful) throw new WardenError(607, `Key '${label}' is a ${key.info.algorithm} key, not a stateful hash-based key`);
      if (!key.material.privateKey) throw new WardenError(613, `Key '${label}' holds only a public key: it can verify but not sign`);
      // The index is durably reserved (committed) before the signature is computed, so a crash at any
      // point can only skip an index, never hand one out twice.
      const index = await this.reserveIndex(key.info, stateful.capacity(key.material));
      return fn(key, index);
    }, opts);
  }

  private async readState(info: KeyInfo): Promise<number> {
    const row = await this.db.selectFrom('keys').select('state').where('label', '=', info.label).executeTakeFirst();
    if (!row?.state) throw new WardenError(701, `Key '${info.label}' failed its integrity check: its one-time signature state is missing`);
    return openState(this.secrets, info, Buffer.from(row.state));
  }

  /** Per-key queue of reservations in this process (other nodes are kept out by the compare-and-set). */
  private readonly reservations = new Map<string, Promise<unknown>>();

  private reserveIndex(info: KeyInfo, capacity: number): Promise<number> {
    const previous = this.reservations.get(info.label) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.reserveNow(info, capacity));
    this.reservations.set(info.label, run);
    void run.finally(() => {
      if (this.reservations.get(info.label) === run) this.reservations.delete(info.label);
    }).catch(() => undefined);
    return run;
  }

  private async reserveNow(info: KeyInfo, capacity: number): Promise<number> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const row = await this.db.selectFrom('keys').select('state').where('label', '=', info.label).executeTakeFirst();
      if (!row?.state) throw new WardenError(701, `Key '${info.label}' failed its integrity check: its one-time signature state is missing`);
      const current = Buffer.from(row.state);
      const next = openState(this.secrets, info, current);
      if (next >= capacity) throw errors.forbidden(`Key '${info.label}' is exhausted: all ${capacity} one-time signatures have been used`);
      // Compare-and-set: one committed UPDATE (synchronous=FULL on SQLite) moves the sealed state on.
      const r = await this.db
        .updateTable('keys')
        .set({ state: sealState(this.secrets, info, next + 1) })
        .where('label', '=', info.label)
        .where('state', '=', current)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 1) return next;
    }
    throw new WardenError(701, `Key '${info.label}': could not reserve a one-time index (too much contention)`);
  }
}

/** AAD of a stateful key's sealed state: bound to the key's immutable identity, not to its policy. */
function stateAad(info: KeyInfo): string {
  return canonical({ v: 1, kind: 'keyState', label: info.label, createTime: info.createTime, publicKey: info.publicKey });
}

export function sealState(master: MasterKey, info: KeyInfo, next: number): Buffer {
  return seal(master.sealKey, Buffer.from(JSON.stringify({ next })), stateAad(info));
}

export function openState(master: MasterKey, info: KeyInfo, sealed: Buffer): number {
  try {
    const { next } = JSON.parse(unseal(master.sealKey, sealed, stateAad(info)).toString('utf8')) as { next: unknown };
    if (typeof next !== 'number' || !Number.isInteger(next) || next < 0) throw new SyntaxError('bad index');
    return next;
  } catch {
    throw new WardenError(701, `Key '${info.label}' failed its integrity check: its one-time signature state does not open`);
  }
}

/** Derivation needs the private bytes of the master: a token key never hands them out. */
function refuseTokenDerivation(material: KeyMaterial, label: string): void {
  if (material.token) throw new WardenError(611, `Key '${label}' lives on the PKCS#11 token, which has no BIP-32/SLIP-0010 derivation mechanism; Warden never takes a key out of the token to do it in software`);
}

/** Parsed timestamp keys per unsealed material buffer: parsing PKCS#8 costs more than the signature. */
const timestampKeyObjects = new WeakMap<Buffer, KeyObject>();

/** Private-key uses a key's ruleUse governs (verify/encrypt/wrap are public operations). */
const POLICY_GATED_USAGES: ReadonlySet<KeyUsage> = new Set<KeyUsage>(['sign', 'decrypt', 'unwrap', 'derive']);

export function dataObjectAad(name: string, attributes: string, createTime: string): string {
  return canonical({ v: 1, kind: 'dataObject', name, attributes, createTime });
}
