import { COMMAND_RETRIED, type CommandRetried } from '../../schemas/events/command.js';
import type { Priority } from '../../schemas/events/envelope.js';
import type { Delivery, EventEnvelope } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';
import type { AnyHandler } from './handler.js';
import { asHandlerError } from './handlerError.js';
import type { Cause, HandlerResults } from './handlerResults.js';
import type { settleFailure } from './handlerSettle.js';

export interface HandleDeliveryOptions {
  handler: AnyHandler;
  results: HandlerResults;
  settle: ReturnType<typeof settleFailure>;
  logger: Logger;
  maxAttempts: number;
}

/**
 * One delivery, start to settlement: split when it holds several commands, else handle its
 * command, append the outcome and ack; a failure is settled (retry or give up).
 */
export const deliveryHandler = (opts: HandleDeliveryOptions) => {
  const { handler, results, settle, logger } = opts;
  const handles = (e: EventEnvelope) => (handler.eventTypes as readonly string[]).includes(e.type);
  /** An operator's retry of a dead letter (`command.retried`) stands for the command it carries. */
  const commandOf = (e: EventEnvelope): EventEnvelope | undefined => {
    if (e.type !== COMMAND_RETRIED) return handles(e) ? e : undefined;
    const original = (e.data as CommandRetried).command;
    return handles(original) ? original : undefined;
  };
  const mine = (d: Delivery) => d.events.filter((e) => commandOf(e) !== undefined);

  return async (delivery: Delivery, priority: Priority) => {
    const labels = { handler: handler.name, priority };
    const stop = metrics.handlerSeconds.startTimer({ handler: handler.name });
    try {
      const commands = mine(delivery);
      if (commands.length > 1) {
        try {
          await results.split(delivery, commands);
          await delivery.ack();
          metrics.handled.inc({ ...labels, outcome: 'split' }, commands.length);
        } catch (err) {
          // Nothing was attempted yet: no attempt records; the log dead-letters it after max deliveries.
          logger.warn({ err, seq: delivery.seq }, 'could not split a message of several commands; retrying');
          await delivery.nak(1_000, 'split failed').catch(() => {});
        }
        return;
      }
      const [first] = commands;
      if (first) {
        const original = commandOf(first) as EventEnvelope;
        // A retry is a round of its own: its results and attempt records get message ids apart
        // from the first round's (whose `*.failed` already holds the plain derived id).
        const cmd: Cause = {
          ...original,
          seq: delivery.seq,
          stream: delivery.stream,
          ...(first.type === COMMAND_RETRIED ? { round: `retry-${first.id}` } : {}),
        };
        try {
          const out = await handler.handle(cmd, { attempt: delivery.deliveryCount, maxAttempts: opts.maxAttempts });
          if (out?.length) await results.results(cmd, out);
        } catch (e) {
          const outcome = await settle(delivery, cmd, asHandlerError(e));
          if (outcome !== 'unsettled') metrics.handled.inc({ ...labels, outcome });
          return;
        }
      }
      await delivery.ack();
      metrics.handled.inc({ ...labels, outcome: 'ok' });
    } catch (err) {
      // The outcome is appended; ack wait brings the command back and its results are duplicates.
      logger.error({ err, seq: delivery.seq }, 'could not acknowledge; it will be redelivered');
    } finally {
      stop();
    }
  };
};
