import type { AttemptFailed } from '../../schemas/events/envelope.js';
import { derivedMsgId, newEvent } from '../eventlog/newEvent.js';
import type { Delivery, EventEnvelope, EventLog } from '../eventlog/port.js';
import type { AnyHandler, ResultEvent } from './handler.js';
import type { HandlerError } from './handlerError.js';
import { SPLIT_HEADER, type StoredEvent } from './projectionRunner.js';

/** A command as the runner handles it; `round` is set for an operator's retry of a dead letter. */
export type Cause = StoredEvent & { round?: string };

/** The set of message ids of one round: a retry's results must not collide with the first round's. */
const inRound = (cause: Cause, set: string) => (cause.round === undefined ? set : `${set}/${cause.round}`);

/**
 * The only writer of a handler's events. Message ids are deterministic per (cause, set, index),
 * so whatever a retried or crashed attempt appends again is a duplicate the log drops.
 */
export const handlerResults = (log: EventLog, handler: AnyHandler) => {
  const source = `handler/${handler.name}`;
  const append = async (cause: EventEnvelope, subject: string, type: string, data: unknown, msgId: string) => {
    const event = newEvent({
      type,
      subject,
      data,
      source,
      causationId: cause.id,
      correlationId: cause.correlationId ?? cause.id,
    });
    await log.append(subject, event, { msgId });
  };

  return {
    /** The outcome of a command (`set` defaults to the handler: one outcome per command). */
    async results(cause: Cause, results: readonly ResultEvent<string>[], set = handler.name) {
      for (const [i, r] of results.entries()) {
        await append(cause, r.subject, r.type, r.data, r.msgId ?? derivedMsgId(cause.id, inRound(cause, set), i));
      }
    },

    /** What a failed attempt established (`HandlerError.results`); one set per attempt. */
    async progress(cause: Cause, attempt: number, err: HandlerError) {
      await this.results(cause, err.results, `${handler.name}/progress-${attempt}`);
    },

    /** `<domain>.attempt_failed`, from the handler's declaration, for an attempt that will be retried. */
    async attemptFailed(cause: Cause, attempt: number, delayMs: number, err: HandlerError) {
      if (!handler.attemptFailed) return;
      const data: AttemptFailed = {
        attempt,
        error: err.message.slice(0, 1_000),
        nextAttemptAt: new Date(Date.now() + delayMs).toISOString(),
      };
      const msgId = derivedMsgId(cause.id, inRound(cause, `${handler.name}/attempt-${attempt}`), 0);
      await append(cause, cause.subject, handler.attemptFailed.type, data, msgId);
    },

    /*
     * A message of several commands (the API coalesces bursts) is first split into one message per
     * command, appended under the same subject: each is then handled, retried and dead-lettered on
     * its own, and a failure or crash never makes the handler redo a sibling it already finished.
     * Message ids derive from the original's position, so a split redone after a crash is a duplicate.
     */
    async split(delivery: Delivery, commands: readonly EventEnvelope[]) {
      await Promise.all(
        commands.map((e, i) =>
          log.append(delivery.subject, e, {
            msgId: `s-${delivery.stream}-${delivery.seq}-${i}`,
            headers: { [SPLIT_HEADER]: `${delivery.stream}:${delivery.seq}` },
          }),
        ),
      );
    },
  };
};
export type HandlerResults = ReturnType<typeof handlerResults>;
