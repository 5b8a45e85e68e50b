// Turning an asynchronous request body into a workflow request: metaData checks, the requestSignature
// gate, the body shown to approvers (passwords removed) and the 201 answer with the per-type id field.
import type { Services } from '../server/services.ts';
import { WardenError } from '../server/errors.ts';
import type { PayloadPart, RequestType } from './challenge.ts';
import type { RequestSignature, RequestSignatureVerifier } from './request-signature.ts';

const PASSWORD_FIELDS = new Set(['keyPassword', 'unwrapKeyPassword', 'password', 'newPassword', 'masterKeyPassword']);
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The body with every password field set to null: approvers see the request, never a key password. */
export function withoutPasswords(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutPasswords);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, PASSWORD_FIELDS.has(k) && v !== null ? null : withoutPasswords(v)]));
  }
  return value;
}

export function optionalB64(field: string, value: string | null | undefined): string | null {
  if (value === undefined || value === null || value === '') return null;
  if (!B64_RE.test(value)) throw new WardenError(600, `${field} is not valid Base64`);
  return value;
}

export interface Intake {
  type: RequestType;
  wrapper: string;
  body: Record<string, unknown>;
  label: string;
  password: string | null;
  part: PayloadPart;
  params: Record<string, unknown>;
  payloadType?: string | null;
  metaData?: string | null;
  metaDataSignature?: string | null;
}

/** Checks the request signature and creates the request; returns its id. */
export async function intake(s: Services, verifier: RequestSignatureVerifier, i: Intake): Promise<string> {
  verifier.check(i.body[i.wrapper], i.body.requestSignature as RequestSignature | null | undefined);
  return s.workflow.create({
    type: i.type,
    label: i.label,
    password: i.password,
    part: i.part,
    params: i.params,
    payloadType: i.payloadType ?? null,
    metaData: optionalB64(`${i.wrapper}.metaData`, i.metaData),
    metaDataSignature: optionalB64(`${i.wrapper}.metaDataSignature`, i.metaDataSignature),
    requestJson: JSON.stringify(withoutPasswords(i.body)),
  });
}
