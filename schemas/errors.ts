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
  GW_ERR_PROJECTION_FENCED: 'another runner advanced the projection checkpoint',
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
