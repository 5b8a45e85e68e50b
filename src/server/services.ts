// What a route handler may reach: the config, the keystore, the audit log and the attestation service.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.ts';
import type { Config } from '../config/schema.ts';
import type { KeyStore } from '../keystore/interface.ts';
import type { ApproverService } from '../approvers/service.ts';
import type { Attestation } from '../pki/attestation.ts';
import type { Workflow } from '../workflow/engine.ts';

export interface Services {
  config: Config;
  keystore: KeyStore;
  audit: AuditLog;
  attestation: Attestation;
  logger: Logger;
  version: string;
  /** Multi-authorization workflow: requests, tasks, approvals, scheduler (docs/workflow.md). */
  workflow: Workflow;
  /** Approver management and the approver-name directory of policies (docs/approvers.md). */
  approvers?: ApproverService;
}
