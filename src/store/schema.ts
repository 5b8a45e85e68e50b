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
}
