import type { ResultEvent } from './handler.js';

export interface HandlerErrorOptions<D> extends ErrorOptions {
  /** The provider's stated wait (Retry-After); the runner's back-off applies when absent. */
  retryAfterMs?: number;
  /** What the handler's `onGiveUp` needs to name the failure, should this attempt be the last. */
  details?: D;
  /**
   * Facts this attempt established before it failed (a multicast's progress, a revoked token, a
   * blocked chat): the runner appends them whatever happens next, retry or give-up.
   */
  results?: readonly ResultEvent[];
}

/**
 * A handler failure. `retryable: false` (an invalid phone number, an unregistered token) goes to
 * the dead letter at once; retryable ones are retried with back-off until the attempts run out.
 * A channel declares its subclass with typed `details` in its `port.ts` (`SmsSendError`, …).
 */
export class HandlerError<D = unknown> extends Error {
  readonly retryAfterMs: number | undefined;
  readonly details: D | undefined;
  readonly results: readonly ResultEvent[];
  constructor(
    message: string,
    readonly retryable: boolean,
    opts: HandlerErrorOptions<D> = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.retryAfterMs = opts.retryAfterMs;
    this.details = opts.details;
    this.results = opts.results ?? [];
  }
}

/** Anything else a handler threw (a database error, a bug) is retryable: the attempt limit bounds it. */
export const asHandlerError = (e: unknown): HandlerError =>
  e instanceof HandlerError ? e : new HandlerError(String((e as Error)?.message ?? e), true, { cause: e });
