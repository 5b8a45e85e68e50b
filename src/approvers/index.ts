// Start-up of approver management (spec multi-authorization §5): the backup key on first start, the
// forgot-password restore executor in the workflow, and the service the routes and policies use.
import { ApproverService, type ApproverServiceDeps } from './service.ts';

export async function openApproverManagement(deps: ApproverServiceDeps): Promise<ApproverService> {
  const service = new ApproverService(deps);
  await service.ensureBackupKey();
  service.attachToWorkflow();
  return service;
}

export { ApproverService };
