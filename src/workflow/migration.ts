// Tables of the multi-authorization workflow (docs/workflow.md): requests, their approval tasks, the
// approvals received, and the keystore's record of consumed challenges (replay guard).
import { sql, type Kysely } from 'kysely';
import type { Migration } from 'kysely/migration';

export function workflowMigration(dialect: 'sqlite' | 'postgres'): Migration {
  const blob = sql.raw(dialect === 'postgres' ? 'bytea' : 'blob');
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('key_label', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        // The keystore timestamp of the challenge (t0): time-locks and time-outs count from it.
        .addColumn('t0', 'text', (c) => c.notNull())
        // Latest instant until which some token still accepts approvals; null = no time-out.
        .addColumn('expires_at', 'text')
        .addColumn('execute_after', 'text')
        .addColumn('claimed_at', 'text')
        .addColumn('execution_time', 'text')
        .addColumn('challenge', blob, (c) => c.notNull())
        .addColumn('request_json', 'text', (c) => c.notNull())
        .addColumn('params', 'text', (c) => c.notNull())
        .addColumn('secret', blob)
        .addColumn('payload_type', 'text')
        .addColumn('meta_data', 'text')
        .addColumn('meta_data_signature', 'text')
        .addColumn('result', blob)
        .addColumn('result_fetched', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('error', 'text')
        .execute();
      await db.schema.createIndex('requests_status_due').on('requests').columns(['status', 'execute_after']).execute();
      await db.schema.createIndex('requests_key').on('requests').column('key_label').execute();
      await db.schema.createIndex('requests_created').on('requests').column('created_at').execute();
      await db.schema
        .createTable('approval_tasks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('approver', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_fetched_at', 'text', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('approval_tasks_request').on('approval_tasks').column('request_id').execute();
      await db.schema.createIndex('approval_tasks_approver').on('approval_tasks').columns(['approver', 'state']).execute();
      await db.schema
        .createTable('approvals')
        .addColumn('request_id', 'text', (c) => c.notNull())
        .addColumn('approver', 'text', (c) => c.notNull())
        .addColumn('signature', blob, (c) => c.notNull())
        .addColumn('digest', 'text')
        .addColumn('approved_at', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('approvals_pk', ['request_id', 'approver'])
        .execute();
      await db.schema
        .createTable('consumed_challenges')
        .addColumn('hash', 'text', (c) => c.primaryKey())
        .addColumn('key_label', 'text', (c) => c.notNull())
        .addColumn('used_at', 'text', (c) => c.notNull())
        .execute();
    },
  };
}
