import { COMMAND_RETRIED, type CommandRetried } from '../../schemas/events/command.js';
import { type DeadLetter, toDeadLetter } from '../eventlog/deadLetter.js';
import { newEvent } from '../eventlog/newEvent.js';
import type { EventEnvelope, EventLog } from '../eventlog/port.js';
import { metrics } from '../metrics.js';
import type { Sql } from '../stores/postgres.js';
import { providerAccepted } from './accepted.js';

export type { DeadLetter };

export interface ListDeadLetters {
  /** Only this consumer's (e.g. `email-normal`). */
  consumer?: string | undefined;
  /** Only those dead-lettered at or after this time (ms since the epoch). */
  from?: number | undefined;
  /** Only those after this DLQ sequence (the previous page's last). */
  after?: number | undefined;
  limit: number;
}

export interface RetryOutcome {
  seq: number;
  /** `retried`: each command not yet accepted was handed back to its handler, and the dead letter removed. */
  outcome: 'retried' | 'already_accepted';
  /** Command ids handed back, each with its `command.retried` event id. */
  retried: { commandId: string; retryEventId: string }[];
  /** Command ids a provider already accepted (their read model says so): left alone. */
  alreadyAccepted: string[];
}

/** Reads the DLQ stream in pages: it is small (what operators have not dealt with yet). */
const PAGE = 500;

/** The command a dead-lettered event stands for: a failed retry carries the original. */
const commandOf = (e: EventEnvelope): EventEnvelope => (e.type === COMMAND_RETRIED ? (e.data as CommandRetried).command : e);

/**
 * What an operator does with dead letters (`fleetgate dlq`, `/api/v1/dead-letters`): list them,
 * look at one, retry it once the cause is fixed, or drop it. A retry appends `command.retried`
 * under the command's own subject: the handler's queue delivers it, the runner handles the
 * original command (same id: the provider's idempotency key and the e-mail Message-ID repeat, so
 * nothing is sent twice), and the command's read model records the retry in its history.
 */
export const deadLetterOps = (deps: { log: EventLog; sql: Sql }) => {
  const { log, sql } = deps;

  const get = async (seq: number): Promise<DeadLetter | undefined> => {
    const [m] = await log.read('DLQ', 1, { fromSeq: seq });
    return m?.seq === seq ? toDeadLetter(m) : undefined;
  };

  const list = async (opts: ListDeadLetters): Promise<DeadLetter[]> => {
    const out: DeadLetter[] = [];
    let next = (opts.after ?? 0) + 1;
    for (;;) {
      const page = await log.read('DLQ', PAGE, { fromSeq: next });
      for (const m of page) {
        const d = toDeadLetter(m);
        if (!d) continue;
        if (opts.consumer !== undefined && d.consumer !== opts.consumer) continue;
        if (opts.from !== undefined && d.deadLetteredAt < opts.from) continue;
        out.push(d);
        if (out.length >= opts.limit) return out;
      }
      if (page.length < PAGE) return out;
      next = (page[page.length - 1]?.seq ?? next) + 1;
    }
  };

  const retry = async (seq: number, requestedBy: string): Promise<RetryOutcome | undefined> => {
    const d = await get(seq);
    if (!d) {
      metrics.deadLetterActions.inc({ action: 'not_found', consumer: '' });
      return undefined;
    }
    const commands = d.events.map(commandOf);
    const accepted = await Promise.all(commands.map((c) => providerAccepted(sql, c)));
    const todo = commands.filter((_, i) => !accepted[i]);
    const alreadyAccepted = commands.filter((_, i) => accepted[i]).map((c) => c.id);
    // Nothing left to send: leave the log and the dead letter as they are (`drop` removes it).
    if (todo.length === 0) {
      metrics.deadLetterActions.inc({ action: 'already_accepted', consumer: d.consumer });
      return { seq, outcome: 'already_accepted', retried: [], alreadyAccepted };
    }
    const retried: RetryOutcome['retried'] = [];
    for (const [i, command] of todo.entries()) {
      const event = newEvent({
        type: COMMAND_RETRIED,
        subject: d.subject,
        source: 'dlq',
        causationId: command.id,
        correlationId: command.correlationId ?? command.id,
        data: {
          command,
          deadLetter: {
            seq: d.seq,
            consumer: d.consumer,
            stream: d.stream,
            originalSeq: d.originalSeq,
            reason: d.reason,
            deliveries: d.deliveries,
            deadLetteredAt: new Date(d.deadLetteredAt).toISOString(),
          },
          requestedBy,
        },
      });
      // One id per (dead letter, command): two operators retrying at once append one retry.
      const ack = await log.append(d.subject, event, { msgId: `retry:${d.seq}:${i}` });
      const stored = ack.duplicate ? (await log.read(ack.stream, 1, { fromSeq: ack.seq }))[0]?.events[0]?.id : event.id;
      retried.push({ commandId: command.id, retryEventId: stored ?? event.id });
    }
    await log.removeDeadLetter(seq);
    metrics.deadLetterActions.inc({ action: 'retried', consumer: d.consumer });
    return { seq, outcome: 'retried', retried, alreadyAccepted };
  };

  const drop = async (seq: number) => {
    const d = await get(seq);
    const gone = d !== undefined && (await log.removeDeadLetter(seq));
    metrics.deadLetterActions.inc({ action: gone ? 'dropped' : 'not_found', consumer: d?.consumer ?? '' });
    return gone;
  };

  return { list, get, retry, drop };
};
export type DeadLetterOps = ReturnType<typeof deadLetterOps>;
