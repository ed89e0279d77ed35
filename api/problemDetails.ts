import { type GatewayErrorCode, GatewayErrorCodes, isGatewayError } from '../schemas/errors.js';
import type { FieldError, Problem } from '../schemas/http/problem.js';

/** HTTP status per stable error code: the one mapping from errors to HTTP (STYLE E6). */
const STATUS: Record<GatewayErrorCode, number> = {
  GW_ERR_CONFIG: 500,
  GW_ERR_VERSION_CONFLICT: 409,
  GW_ERR_LOG_UNAVAILABLE: 503,
  GW_ERR_DATA_DIR_LOCKED: 500,
  GW_ERR_NOT_FOUND: 404,
  GW_ERR_CONFLICT: 409,
  GW_ERR_NOT_READY: 409,
  GW_ERR_GONE: 410,
  GW_ERR_RANGE_NOT_SATISFIABLE: 416,
  GW_ERR_RECORD_STALE: 409,
  GW_ERR_PROJECTION_FENCED: 409,
  GW_ERR_VALIDATION: 400,
  GW_ERR_MALFORMED_JSON: 400,
  GW_ERR_UNAUTHORIZED: 401,
  GW_ERR_FORBIDDEN: 403,
  GW_ERR_PAYLOAD_TOO_LARGE: 413,
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: 415,
  GW_ERR_RATE_LIMITED: 429,
  GW_ERR_IDEMPOTENCY_MISMATCH: 422,
  GW_ERR_IDEMPOTENCY_IN_PROGRESS: 409,
  GW_ERR_REQUEST_TIMEOUT: 408,
  GW_ERR_METHOD_NOT_ALLOWED: 405,
  GW_ERR_ROUTE_NOT_FOUND: 404,
  GW_ERR_INVALID_SIGNATURE: 401,
  GW_ERR_PROVIDER_UNAVAILABLE: 503,
  GW_ERR_PROVIDER_NOT_CONFIGURED: 503,
  GW_ERR_INTERNAL: 500,
  GW_ERR_SECRET_KEY_MISSING: 500,
  GW_ERR_SECRET_UNREADABLE: 500,
  GW_ERR_SECRETS_NO_KEY: 409,
};

export const statusOf = (code: GatewayErrorCode): number => STATUS[code];

/** A refusal that becomes a problem document; thrown by routes and the request pipeline. */
export class HttpProblem extends Error {
  constructor(
    readonly code: GatewayErrorCode,
    readonly detail?: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string>; members?: Record<string, unknown> } = {},
  ) {
    super(detail ?? GatewayErrorCodes[code]);
    this.name = 'HttpProblem';
  }
  get status() {
    return STATUS[this.code];
  }
}

export const PROBLEM_TYPE = 'application/problem+json';

const typeUri = (code: GatewayErrorCode) => `https://fleetgate.dev/problems/${code.slice(7).toLowerCase().replaceAll('_', '-')}`;

/** The problem document for any thrown value: our errors keep their code, anything else is a 500. */
export const toProblem = (
  e: unknown,
  ctx: { requestId: string; path: string },
): { problem: Problem; headers: Record<string, string> } => {
  let code: GatewayErrorCode = 'GW_ERR_INTERNAL';
  let detail: string | undefined;
  let errors: FieldError[] | undefined;
  let headers: Record<string, string> = {};
  let members: Record<string, unknown> | undefined;
  if (e instanceof HttpProblem) {
    ({ code, detail } = e);
    errors = e.extra.errors;
    members = e.extra.members;
    headers = e.extra.headers ?? {};
  } else if (isGatewayError(e) && STATUS[e.code] < 500) {
    code = e.code;
    detail = e.message;
  } else if (isGatewayError(e, 'GW_ERR_LOG_UNAVAILABLE')) {
    code = e.code;
    detail = 'the event log is unavailable; nothing was accepted, retry later';
    headers = { 'retry-after': '1' };
  }
  // A 500's detail never echoes the internal message: it may hold SQL, hosts or secrets.
  // Extension members (RFC 9457 3.2) first: the standard ones below always win.
  const problem: Problem = {
    ...members,
    type: typeUri(code),
    title: GatewayErrorCodes[code],
    status: STATUS[code],
    code,
    instance: ctx.path,
    requestId: ctx.requestId,
  };
  if (detail !== undefined) problem.detail = detail;
  if (errors?.length) problem.errors = errors;
  return { problem, headers };
};
