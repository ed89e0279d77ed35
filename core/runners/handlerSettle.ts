import type { Delivery } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import type { AnyHandler } from './handler.js';
import type { HandlerError } from './handlerError.js';
import type { HandlerResults } from './handlerResults.js';
import type { StoredEvent } from './projectionRunner.js';

/** Exponential back-off with "equal jitter": half fixed, half random, capped. */
export const backoffDelay = (attempt: number, baseMs: number, maxMs: number, random = Math.random) => {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
};

export interface SettleOptions {
  handler: AnyHandler;
  results: HandlerResults;
  logger: Logger;
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  random?: () => number;
}

/**
 * Settles a delivery whose command failed: given up on (the handler's outcome events, then the
 * dead letter) or handed back for a later attempt (`attempt_failed`, then nak with back-off).
 * Either way the attempt's own results (`HandlerError.results`) are appended first.
 */
export const settleFailure = (opts: SettleOptions) => {
  const { handler, results, logger } = opts;

  const giveUp = async (delivery: Delivery, cmd: StoredEvent, attempt: number, err: HandlerError) => {
    const reason = err.retryable ? `gave up after ${attempt} attempts: ${err.message}` : `permanent: ${err.message}`;
    logger.warn({ seq: delivery.seq, attempt, reason }, 'dead-lettering command');
    try {
      await results.progress(cmd, attempt, err);
      await results.results(cmd, handler.onGiveUp?.(cmd, reason, err) ?? []);
      await delivery.term(reason);
      return 'dead_letter' as const;
    } catch (settleErr) {
      // Left unacknowledged: ack wait brings it back, and the log's dedupe absorbs the repeat.
      logger.error({ err: settleErr, seq: delivery.seq }, 'could not dead-letter; it will be redelivered');
      return 'unsettled' as const;
    }
  };

  const retryLater = async (delivery: Delivery, cmd: StoredEvent, attempt: number, err: HandlerError) => {
    const delay = Math.min(
      opts.backoffMaxMs,
      Math.max(err.retryAfterMs ?? 0, backoffDelay(attempt, opts.backoffBaseMs, opts.backoffMaxMs, opts.random)),
    );
    logger.info({ seq: delivery.seq, attempt, delayMs: delay, err: err.message }, 'retrying command');
    // A lost record is logged, not fatal: the retry is what matters. The queue's read model
    // (attempts, next attempt, last error) is folded from `attempt_failed`.
    await results
      .progress(cmd, attempt, err)
      .catch((appendErr) => logger.warn({ err: appendErr, seq: delivery.seq }, 'could not record the attempt’s results'));
    await results
      .attemptFailed(cmd, attempt, delay, err)
      .catch((appendErr) => logger.warn({ err: appendErr, seq: delivery.seq }, 'could not record the failed attempt'));
    await delivery
      .nak(delay, err.message)
      .catch((nakErr) => logger.error({ err: nakErr }, 'nak failed; ack wait will redeliver'));
    return 'retry' as const;
  };

  return async (delivery: Delivery, cmd: StoredEvent, err: HandlerError) => {
    const attempt = delivery.deliveryCount;
    const last = !err.retryable || attempt >= opts.maxAttempts;
    return last ? giveUp(delivery, cmd, attempt, err) : retryLater(delivery, cmd, attempt, err);
  };
};
