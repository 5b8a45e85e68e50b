// Versioned migrations, applied in order by Kysely's Migrator. Types stay portable between SQLite
// and PostgreSQL: text, integer, and a binary type chosen per dialect (bytea / blob; the audit
// sequence is bigserial on PostgreSQL, an autoincrement integer primary key on SQLite).
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';
import { workflowMigration } from '../../workflow/migration.ts';
import { approversMigration } from '../../approvers/repository.ts';

type Dialect = 'sqlite' | 'postgres';

export function migrations(dialect: Dialect): Record<string, Migration> {
  const blob = dialect === 'postgres' ? 'bytea' : 'blob';
  const seq = dialect === 'postgres' ? 'bigserial' : 'integer';
  return {
    '001_initial': {
      async up(db: Kysely<unknown>) {
        await db.schema.createTable('meta').addColumn('k', 'text', (c) => c.primaryKey()).addColumn('v', 'text', (c) => c.notNull()).execute();
        await db.schema
          .createTable('keys')
          .addColumn('label', 'text', (c) => c.primaryKey())
          .addColumn('id', 'text')
          .addColumn('algorithm', 'text', (c) => c.notNull())
          .addColumn('algorithm_oid', 'text', (c) => c.notNull())
          .addColumn('curve_oid', 'text')
          .addColumn('key_size', 'integer')
          .addColumn('key_class', 'text', (c) => c.notNull())
          .addColumn('creation', 'text', (c) => c.notNull())
          .addColumn('create_time', 'text', (c) => c.notNull())
          .addColumn('attributes', 'text', (c) => c.notNull())
          .addColumn('public_key', sql.raw(blob))
          .addColumn('certificate', sql.raw(blob))
          .addColumn('policy', 'text')
          .addColumn('system', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('sealed', sql.raw(blob))
          .addColumn('use_count', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        await db.schema
          .createTable('data_objects')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('attributes', 'text', (c) => c.notNull())
          .addColumn('create_time', 'text', (c) => c.notNull())
          .addColumn('value', sql.raw(blob), (c) => c.notNull())
          .execute();
        await db.schema
          .createTable('audit_log')
          .addColumn('seq', sql.raw(seq), (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('time', 'text', (c) => c.notNull())
          .addColumn('request_id', 'text')
          .addColumn('principal', 'text')
          .addColumn('method', 'text')
          .addColumn('route', 'text')
          .addColumn('action', 'text', (c) => c.notNull())
          .addColumn('key_label', 'text')
          .addColumn('outcome', 'text', (c) => c.notNull())
          .addColumn('details', 'text')
          .addColumn('mac', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('audit_log_time').on('audit_log').column('time').execute();
      },
    },
    '002_workflow': workflowMigration(dialect),
    // PostgreSQL compares text by the database's locale (en_US.UTF-8 sorts "a" before "B"); SQLite
    // compares bytes. Labels, names and ISO times are compared and ordered byte-wise on both, so
    // GET /v1/key lists in the same order whichever database runs underneath. (New text columns
    // that are sorted or range-compared: add collate "C" on PostgreSQL too.)
    '003_bytewise_collation': {
      async up(db: Kysely<unknown>) {
        if (dialect !== 'postgres') return;
        for (const [table, column] of [['keys', 'label'], ['data_objects', 'name'], ['audit_log', 'time']] as const) {
          await sql`alter table ${sql.table(table)} alter column ${sql.ref(column)} type text collate "C"`.execute(db);
        }
      },
    },
    // Issue 5: the sealed next one-time index of stateful keys (LMS, XMSS) and the key extension
    // (derivation chain code, address format). Both nullable: existing keys are unaffected.
    '004_key_state_and_extension': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('keys').addColumn('state', sql.raw(blob)).execute();
        await db.schema.alterTable('keys').addColumn('ext', 'text').execute();
      },
    },
    // Issue 7: approver management (src/approvers/, docs/approvers.md).
    '005_approvers': approversMigration(dialect),
  };
}
