import { GatewayError } from '../../../schemas/errors.js';
import type { Sql } from '../../stores/postgres.js';
import { defaultDeadLetterSubject } from '../deadLetter.js';
import type { Consumer, ConsumerConfig, ConsumerInfo } from '../port.js';
import { filterToRegex, validateFilter } from '../subjects.js';
import type { EmbeddedAppender } from './appender.js';
import { fetchDeliveries } from './fetchDeliveries.js';
import { unavailable } from './rows.js';
import { pendingOfConsumer } from './settle.js';
import type { AppendWakeups, ArmedWakeup } from './wakeups.js';

export interface EmbeddedConsumerOptions {
  appendOn: EmbeddedAppender['appendOn'];
  wakeups: AppendWakeups;
  pollMs: number;
  /** Where an idle poll's back-off stops (see idlePollCapMs). */
  idlePollCapMs: number;
  scanWindow: number;
  isClosed(): boolean;
}

/** Creates or updates the durable consumer in `fleetgate_consumers`; its state lives in the tables, not here. */
export const embeddedConsumer = async (sql: Sql, config: ConsumerConfig, opts: EmbeddedConsumerOptions): Promise<Consumer> => {
  if (!/^[A-Za-z0-9_-]+$/.test(config.name)) throw new RangeError(`invalid consumer name "${config.name}"`);
  if (config.filterSubject) validateFilter(config.filterSubject);
  const { stream, name } = config;
  const deadLetter = config.deadLetterSubject === undefined ? defaultDeadLetterSubject(name) : config.deadLetterSubject;
  const filterRe = config.filterSubject ? filterToRegex(config.filterSubject) : null;
  await sql`
    INSERT INTO fleetgate_consumers (stream, name, filter_subject, ack_wait_ms, max_deliver, dead_letter, delivered_seq)
    VALUES (${stream}, ${name}, ${config.filterSubject ?? null}, ${config.ackWaitMs}, ${config.maxDeliver},
            ${deadLetter}, ${Math.max(0, (config.startSeq ?? 1) - 1)})
    ON CONFLICT (stream, name) DO UPDATE SET filter_subject = excluded.filter_subject,
      ack_wait_ms = excluded.ack_wait_ms, max_deliver = excluded.max_deliver, dead_letter = excluded.dead_letter`;

  const pending = pendingOfConsumer({ sql, stream, name, deadLetter, appendOn: opts.appendOn, wakeups: opts.wakeups });
  const tryFetch = fetchDeliveries({ sql, stream, name, filterRe, scanWindow: opts.scanWindow, pending });

  /** Polls in a row that found nothing and were not cut short by a local append (see idlePollCapMs). */
  let idlePolls = 0;
  /**
   * After a fetch found nothing: listening for local appends since that query, and the time before
   * which nothing else can change what it found (the next poll, or the earliest pending delivery
   * coming due). A fetch call in between waits instead of querying: the callers fetch in a loop
   * with a short expiry, and each call used to start with a transaction on the shared backend.
   */
  let quiet: { armed: ArmedWakeup; until: number } | undefined;
  const endQuiet = () => {
    quiet?.armed.cancel();
    quiet = undefined;
  };
  return {
    config: Object.freeze({ ...config }),
    async fetch({ max, expiresMs }) {
      const deadline = Date.now() + expiresMs;
      for (;;) {
        if (opts.isClosed()) {
          endQuiet();
          return [];
        }
        if (quiet) {
          const left = deadline - Date.now();
          const untilDue = quiet.until - Date.now();
          if (untilDue > 0) {
            if (left <= 0) return [];
            const woken = await quiet.armed.waitKeeping(Math.min(untilDue, left));
            if (woken) idlePolls = 0;
            else if (untilDue > left) return [];
            else idlePolls = Math.min(idlePolls + 1, 8);
          }
          endQuiet();
          if (opts.isClosed()) return [];
        }
        // Armed before the query: an append committing while it runs wakes the wait at once.
        const armed = opts.wakeups.arm(stream, undefined, config.filterSubject);
        let got: Awaited<ReturnType<typeof tryFetch>>;
        try {
          got = await tryFetch(max);
        } catch (e) {
          armed.cancel();
          if (e instanceof GatewayError) throw e;
          throw unavailable('fetch', e);
        }
        if (got.deliveries.length > 0) {
          armed.cancel();
          idlePolls = 0;
          return got.deliveries;
        }
        if (got.more) {
          armed.cancel();
          if (deadline - Date.now() <= 0) return [];
          continue;
        }
        const pollMs = Math.min(opts.idlePollCapMs, opts.pollMs * 2 ** idlePolls);
        quiet = { armed, until: Date.now() + Math.min(pollMs, Math.max(0, got.dueInMs ?? Number.POSITIVE_INFINITY)) };
        if (deadline - Date.now() <= 0) return [];
      }
    },
    async info(): Promise<ConsumerInfo> {
      const [row] = await sql<{ pending: string; ack_pending: string }[]>`
        SELECT
          (SELECT count(*) FROM fleetgate_log l WHERE l.stream = c.stream AND l.seq > c.delivered_seq
             ${filterRe ? sql`AND l.subject ~ ${filterRe}` : sql``}) AS pending,
          (SELECT count(*) FROM fleetgate_pending p WHERE p.stream = c.stream AND p.consumer = c.name) AS ack_pending
        FROM fleetgate_consumers c WHERE c.stream = ${stream} AND c.name = ${name}`;
      return { pending: Number(row?.pending ?? 0), ackPending: Number(row?.ack_pending ?? 0) };
    },
  };
};
