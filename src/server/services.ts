// What a route handler may reach: the config, the keystore, the audit log and the attestation service.
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/log.ts';
import type { Config } from '../config/schema.ts';
import type { KeyStore } from '../keystore/interface.ts';
import type { Attestation } from '../pki/attestation.ts';

export interface Services {
  config: Config;
  keystore: KeyStore;
  audit: AuditLog;
  attestation: Attestation;
  logger: Logger;
  version: string;
}
