// Table row types for Kysely. Column names are snake_case; repositories map them to domain types.
import type { Generated } from 'kysely';

export interface MetaTable {
  k: string;
  v: string;
}

export interface KeysTable {
  label: string;
  id: string | null;
  algorithm: string;
  algorithm_oid: string;
  curve_oid: string | null;
  key_size: number | null;
  key_class: string;
  creation: string;
  create_time: string;
  attributes: string;
  public_key: Buffer | null;
  certificate: Buffer | null;
  policy: string | null;
  system: number;
  sealed: Buffer | null;
  use_count: number;
  /** Stateful keys (LMS, XMSS): the next one-time index, sealed under the master key (issue 5). */
  state?: Buffer | null;
  /** JSON KeyExtension: derivation chain code, address format (issue 5); bound into the seal's AAD. */
  ext?: string | null;
}

export interface DataObjectsTable {
  name: string;
  attributes: string;
  create_time: string;
  value: Buffer;
}

export interface AuditTable {
  seq: Generated<number>;
  time: string;
  request_id: string | null;
  principal: string | null;
  method: string | null;
  route: string | null;
  action: string;
  key_label: string | null;
  outcome: string;
  details: string | null;
  mac: string;
}

export interface Database {
  meta: MetaTable;
  keys: KeysTable;
  data_objects: DataObjectsTable;
  audit_log: AuditTable;
  requests: RequestsTable;
  approval_tasks: ApprovalTasksTable;
  approvals: ApprovalsTable;
  consumed_challenges: ConsumedChallengesTable;
}

// Multi-authorization workflow (src/workflow/migration.ts, docs/workflow.md). Times are ISO-8601 UTC text.
export interface RequestsTable {
  id: string;
  type: string;
  key_label: string;
  status: string;
  created_at: string;
  updated_at: string;
  t0: string;
  expires_at: string | null;
  execute_after: string | null;
  claimed_at: string | null;
  execution_time: string | null;
  challenge: Buffer;
  request_json: string;
  params: string;
  secret: Buffer | null;
  payload_type: string | null;
  meta_data: string | null;
  meta_data_signature: string | null;
  result: Buffer | null;
  result_fetched: number;
  error: string | null;
}

export interface ApprovalTasksTable {
  id: string;
  request_id: string;
  approver: string;
  state: string;
  created_at: string;
  last_fetched_at: string;
}

export interface ApprovalsTable {
  request_id: string;
  approver: string;
  signature: Buffer;
  digest: string | null;
  approved_at: string;
}

export interface ConsumedChallengesTable {
  hash: string;
  key_label: string;
  used_at: string;
}
