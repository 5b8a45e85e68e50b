// The approvers table (spec multi-authorization §5, §7.3: "approvers (name, wrapped PKCS#12, certificate,
// OTC, onboarding flag)"): its migration and the repository that moves its rows. Secrets arrive here
// already sealed or hashed (service.ts); this file only stores them.
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import type { Database } from '../store/schema.ts';

export interface ApproversTable {
  name: string;
  /** RSA or EC. */
  algorithm: string;
  /** DER self-signed certificate of the approver key: what onboarded_approver_certificate resolves to. */
  certificate: Buffer;
  /** The PKCS#12 (protected by the backup password), sealed under the master key for onboarding. */
  p12: Buffer;
  /** The private key (PKCS#8) wrapped by the backup key (backup.ts): only an unwrap request opens it. */
  backup: Buffer;
  backup_key: string;
  created_at: string;
  updated_at: string;
  /** First successful onboarding; null while the approver is pending. */
  onboarded_at: string | null;
  /** HMAC of the outstanding one-time code (one-time-code.ts); null = none outstanding. */
  otc_hash: string | null;
  otc_expires_at: string | null;
  otc_attempts: number;
  /** A forgot-password restore in progress: its id and the new backup password, sealed. */
  restore_id: string | null;
  restore_secret: Buffer | null;
}

export type ApproverRow = ApproversTable;

export function approversMigration(dialect: 'sqlite' | 'postgres'): Migration {
  const blob = sql.raw(dialect === 'postgres' ? 'bytea' : 'blob');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('approvers')
        .addColumn('name', dialect === 'postgres' ? sql.raw('text collate "C"') : 'text', (c) => c.primaryKey())
        .addColumn('algorithm', 'text', (c) => c.notNull())
        .addColumn('certificate', blob, (c) => c.notNull())
        .addColumn('p12', blob, (c) => c.notNull())
        .addColumn('backup', blob, (c) => c.notNull())
        .addColumn('backup_key', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .addColumn('onboarded_at', 'text')
        .addColumn('otc_hash', 'text')
        .addColumn('otc_expires_at', 'text')
        .addColumn('otc_attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('restore_id', 'text')
        .addColumn('restore_secret', blob)
        .execute();
    },
  };
}

type Db = Kysely<Database & { approvers: ApproversTable }>;

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

export class ApproversRepository {
  private readonly db: Db;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<{ approvers: ApproversTable }>();
  }

  /** Inserts a new approver; false when the name is taken (never overwrites). */
  async insert(row: ApproverRow): Promise<boolean> {
    try {
      await this.db.insertInto('approvers').values(row).execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async get(name: string): Promise<ApproverRow | undefined> {
    return this.db.selectFrom('approvers').selectAll().where('name', '=', name).executeTakeFirst();
  }

  async exists(name: string): Promise<boolean> {
    return (await this.db.selectFrom('approvers').select('name').where('name', '=', name).executeTakeFirst()) !== undefined;
  }

  async all(): Promise<Pick<ApproverRow, 'name' | 'certificate' | 'onboarded_at' | 'otc_hash'>[]> {
    return this.db.selectFrom('approvers').select(['name', 'certificate', 'onboarded_at', 'otc_hash']).orderBy('name').execute();
  }

  async update(name: string, patch: Partial<ApproverRow>): Promise<boolean> {
    const r = await this.db.updateTable('approvers').set(patch).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Counts a wrong one-time code against the outstanding code (atomic, so parallel guesses all count). */
  async countWrongAttempt(name: string, otcHash: string): Promise<void> {
    await this.db
      .updateTable('approvers')
      .set((eb) => ({ otc_attempts: eb('otc_attempts', '+', 1) }))
      .where('name', '=', name)
      .where('otc_hash', '=', otcHash)
      .execute();
  }

  /**
   * Spends the outstanding code: only the caller whose update clears exactly this hash (with attempts
   * left) succeeds, so a code works once even when two onboardings race.
   */
  async consumeCode(name: string, otcHash: string, maxAttempts: number, patch: Partial<ApproverRow>): Promise<boolean> {
    const r = await this.db
      .updateTable('approvers')
      .set({ ...patch, otc_hash: null, otc_expires_at: null, otc_attempts: 0 })
      .where('name', '=', name)
      .where('otc_hash', '=', otcHash)
      .where('otc_attempts', '<', maxAttempts)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async delete(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('approvers').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
