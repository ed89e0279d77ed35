/**
 * Stable error codes. Tests and edge mappers (HTTP problem+json, MQTT reason codes, WS close
 * codes) match on `code`, never on message text.
 */
export const GatewayErrorCodes = {
  GW_ERR_CONFIG: 'invalid configuration',
  GW_ERR_VERSION_CONFLICT: 'the subject moved on since the expected sequence',
  GW_ERR_LOG_UNAVAILABLE: 'the event log did not acknowledge the append',
  GW_ERR_DATA_DIR_LOCKED: 'another process holds the data directory',
  GW_ERR_NOT_FOUND: 'no such thing',
  GW_ERR_CONFLICT: 'it already exists',
  GW_ERR_NOT_READY: 'it is not done yet; ask again later',
  GW_ERR_GONE: 'it existed and has expired',
  GW_ERR_RANGE_NOT_SATISFIABLE: 'the requested byte range is outside the file',
  GW_ERR_RECORD_STALE: 'the mirror holds this version of the record or a newer one',
  GW_ERR_PROJECTION_FENCED: 'another runner advanced the projection checkpoint',
  GW_ERR_VALIDATION: 'the request does not match its schema',
  GW_ERR_MALFORMED_JSON: 'the body is not valid JSON',
  GW_ERR_UNAUTHORIZED: 'no valid API key',
  GW_ERR_FORBIDDEN: 'the API key lacks the scope this route needs',
  GW_ERR_PAYLOAD_TOO_LARGE: 'the body exceeds the size limit',
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: 'the content type is not accepted here',
  GW_ERR_RATE_LIMITED: 'too many requests',
  GW_ERR_IDEMPOTENCY_MISMATCH: 'the Idempotency-Key was used with another request',
  GW_ERR_IDEMPOTENCY_IN_PROGRESS: 'a request with this Idempotency-Key is still in progress',
  GW_ERR_REQUEST_TIMEOUT: 'the body did not arrive in time',
  GW_ERR_METHOD_NOT_ALLOWED: 'the route does not take this method',
  GW_ERR_ROUTE_NOT_FOUND: 'no such route',
  GW_ERR_INVALID_SIGNATURE: 'the webhook signature did not verify',
  GW_ERR_PROVIDER_UNAVAILABLE: 'a provider could not be reached; retry later',
  GW_ERR_PROVIDER_NOT_CONFIGURED: 'the provider has no credentials configured',
  GW_ERR_INTERNAL: 'an unexpected error; see the logs by request id',
  GW_ERR_SECRET_KEY_MISSING: 'a stored credential is encrypted under a key the key ring does not hold',
  GW_ERR_SECRET_UNREADABLE: 'a stored credential failed its integrity check',
  GW_ERR_SECRETS_NO_KEY: 'no encryption key is configured, so no credential can be stored',
} as const;
export type GatewayErrorCode = keyof typeof GatewayErrorCodes;

export class GatewayError extends Error {
  constructor(
    readonly code: GatewayErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export const isGatewayError = (e: unknown, code?: GatewayErrorCode): e is GatewayError =>
  e instanceof GatewayError && (code === undefined || e.code === code);

/** A listening port taken (or forbidden): says which variable sets it, so start-up can tell a default from a choice. */
export class PortUnavailableError extends GatewayError {
  constructor(
    readonly variable: string,
    port: number,
    options: ErrorOptions & { hint?: string },
  ) {
    const code = (options.cause as NodeJS.ErrnoException | undefined)?.code ?? 'unavailable';
    super('GW_ERR_CONFIG', `${variable} ${port} is not available (${code})${options.hint ? `: ${options.hint}` : ''}`, options);
  }
}

/** An append that named an expected last sequence for its subject, and the subject had moved on. */
export class VersionConflictError extends GatewayError {
  constructor(
    readonly subject: string,
    readonly expected: number,
    readonly actual: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      'GW_ERR_VERSION_CONFLICT',
      `subject ${subject}: expected last sequence ${expected}, found ${actual ?? 'another'}`,
      options,
    );
  }
}
