import { JetStreamApiError } from '@nats-io/jetstream';
import { GatewayError } from '../../../schemas/errors.js';

export const unavailable = (op: string, cause: unknown) =>
  new GatewayError('GW_ERR_LOG_UNAVAILABLE', `jetstream event log: ${op} failed`, { cause });

/** Matches the server's error code (nats `jserrors.ts`), never its message. */
export const isApiError = (e: unknown, code: number) => e instanceof JetStreamApiError && e.code === code;

/** Runs a JetStream API call; what it throws becomes `unavailable(op)` unless it is ours already. */
export const guarded = async <T>(op: string, f: () => Promise<T>): Promise<T> => {
  try {
    return await f();
  } catch (e) {
    throw e instanceof GatewayError || e instanceof RangeError ? e : unavailable(op, e);
  }
};
