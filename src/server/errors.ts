// The one error catalogue: wire errorCode → reason key (spec §1.4), the WardenError class every
// failure path throws, and the code → HTTP status rule of spec README decision 1.

export const ERROR_REASONS = {
  1: 'res.error.technical',
  2: 'res.error.connectivity',
  100: 'res.error.impl',
  101: 'res.error.not.implemented',
  102: 'res.error.operation.unreachable',
  103: 'res.error.general',
  200: 'res.error.init',
  300: 'res.error.config.not.existent',
  301: 'res.error.config.not.valid',
  302: 'res.error.invalid.config.input',
  400: 'res.error.security.not.allowed',
  401: 'res.error.missing.approval',
  402: 'res.error.invalid.certificate',
  403: 'res.error.input.invalid.signature',
  404: 'res.error.input.timestamp.off',
  405: 'res.error.timestamp.signer.not.allowed',
  406: 'res.error.missing.access.token',
  407: 'res.error.parsing.key',
  408: 'res.error.reading.pem',
  409: 'res.error.parsing.certificate',
  410: 'res.error.decrypt.failed',
  411: 'res.error.invalid.certificate.request',
  412: 'res.error.invalid.onetimepassword',
  413: 'res.error.approver.not.existent',
  414: 'res.error.approver.not.onboarded',
  415: 'res.error.request.signer.not.allowed',
  416: 'res.error.missing.api.key',
  429: 'res.error.too.many.requests',
  450: 'res.error.client.subscription',
  451: 'res.error.client.endpoint.not.licensed',
  500: 'res.error.data.invalid.constellation',
  501: 'res.error.invalid.value.for.enum',
  503: 'res.error.service.unavailable',
  600: 'res.error.input.validation.failed',
  601: 'res.error.unsupported.approver.key.type',
  602: 'res.error.unsupported.combination.of.approval.types',
  603: 'res.error.input.keysize',
  604: 'res.error.input.no.name.for.certificate.approver',
  605: 'res.error.unsupported.cryptocurrency',
  606: 'res.error.key.attributes.invalid',
  607: 'res.error.algorithm.not.supported.by.key',
  608: 'res.error.key.already.existing',
  609: 'res.error.invalid.uuid',
  610: 'res.error.invalid.key.name',
  611: 'res.error.unsupported.operation',
  612: 'res.error.invalid.payload',
  613: 'res.error.invalid.key.type',
  614: 'res.error.operation.forbidden.for.key',
  615: 'res.error.data.object.already.existing',
  616: 'res.error.data.object.invalid.value',
  617: 'res.error.invalid.access.token',
  618: 'res.error.insufficient.login.information',
  619: 'res.error.invalid.number.range',
  620: 'res.error.key.password.mismatch',
  621: 'res.error.invalid.json',
  622: 'res.error.resource.not.found',
  623: 'res.error.invalid.file.header',
  624: 'res.error.key.invalid.tagLength',
  625: 'res.error.key.invalid.encoding',
  626: 'res.error.certificate.invalid.encoding',
  627: 'res.error.invalid.key.id',
  628: 'res.error.csr.invalid.format',
  629: 'res.error.unsupported.cipher',
  630: 'res.error.invalid.address.on.non.ska.key',
  631: 'res.error.invalid.api.key',
  632: 'res.error.approver.already.existing',
  633: 'res.error.input.no.value.for.approver.mgmt',
  634: 'res.error.derivation.not.supported.by.algorithm',
  635: 'res.error.encoding.exception',
  650: 'res.error.key.not.existent',
  651: 'res.error.request.not.existent',
  652: 'res.error.task.not.existent',
  653: 'res.error.data.object.not.existent',
  700: 'res.error.in.subystem',
  701: 'res.error.in.hsm',
  702: 'res.error.creation.integrity.key',
  703: 'res.error.io',
  704: 'res.error.file.not.found',
} as const satisfies Record<number, string>;

export type ErrorCode = keyof typeof ERROR_REASONS;

/**
 * HTTP status for a wire code (spec README decision 1). Transport-level failures that have no TSB
 * code of their own (unknown route, body too large, rate limit, database down) carry an explicit
 * status instead; see WardenError.status.
 */
export function statusForCode(code: ErrorCode): number {
  if (code === 401 || code === 402 || code === 406 || code === 416 || code === 617 || code === 631) return 401;
  if (code === 450 || code === 451) return 403;
  if (code >= 650 && code <= 653) return 404;
  if (code === 622) return 404;
  if (code === 429) return 429;
  if (code === 503) return 503;
  if (code === 1 || code === 2 || (code >= 700 && code < 800)) return 500;
  if (code >= 100 && code < 200) return 501;
  return 400;
}

export class WardenError extends Error {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly status: number;

  constructor(code: ErrorCode, message: string, options?: { status?: number; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WardenError';
    this.code = code;
    this.reason = ERROR_REASONS[code];
    this.status = options?.status ?? statusForCode(code);
  }

  toBody(): ErrorBody {
    return { errorCode: this.code, reason: this.reason, message: this.message };
  }
}

export interface ErrorBody {
  errorCode: number;
  reason: string;
  message: string;
}

/** Shorthands for the errors every module raises, so call sites read as intent. */
export const errors = {
  validation: (message: string) => new WardenError(600, message),
  keyNotFound: (label: string) => new WardenError(650, `Key '${label}' does not exist`),
  keyExists: (label: string) => new WardenError(608, `Key '${label}' already exists`),
  forbidden: (message: string) => new WardenError(614, message),
  passwordMismatch: () => new WardenError(620, 'Key password does not match'),
  hsm: (message: string, cause?: unknown) => new WardenError(701, message, { cause }),
};
