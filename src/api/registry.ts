// The one ordered route registry: every endpoint group of the API, top to bottom. The OpenAPI
// document and the route→role table are generated from what is listed here.
import { approvalRoutes } from './approvals.ts';
import { approverManagementRoutes } from './approver-management.ts';
import { asyncOperationRoutes } from './async-operations.ts';
import { attestationRoutes } from './attestation.ts';
import { blockModifyRoutes } from './block-modify.ts';
import { certificateRoutes } from './certificates.ts';
import { consoleRoutes } from './console.ts';
import { dataObjectRoutes } from './data-objects.ts';
import { derivationRoutes } from './derivation.ts';
import { fileEncryptionRoutes } from './file-encryption.ts';
import { encryptDecryptRoutes } from './encrypt-decrypt.ts';
import { keyRoutes } from './keys.ts';
import { macRoutes } from './mac.ts';
import { randomRoutes } from './random.ts';
import { requestRoutes } from './requests.ts';
import type { RouteGroup } from './route.ts';
import { timestampRoutes } from './timestamp.ts';
import { serviceRoutes } from './service.ts';
import { wrapUnwrapRoutes } from './wrap-unwrap.ts';
import { signVerifyRoutes } from './sign-verify.ts';

export const ROUTE_GROUPS: readonly RouteGroup[] = Object.freeze([keyRoutes, derivationRoutes, dataObjectRoutes, attestationRoutes, signVerifyRoutes, macRoutes, randomRoutes, encryptDecryptRoutes, wrapUnwrapRoutes, certificateRoutes, timestampRoutes, fileEncryptionRoutes, asyncOperationRoutes, blockModifyRoutes, requestRoutes, approvalRoutes, approverManagementRoutes, serviceRoutes, consoleRoutes]);
