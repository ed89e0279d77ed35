import type { Sql, TransactionSql } from '../../stores/postgres.js';
import { deadLetterHeaders, deadLetterMsgId } from '../deadLetter.js';
import type { Delivery, StreamName } from '../port.js';
import type { EmbeddedAppender } from './appender.js';
import type { LogRow } from './rows.js';
import type { AppendWakeups } from './wakeups.js';

export interface PendingOfConsumer {
  sql: Sql;
  stream: StreamName;
  name: string;
  /** Where dead letters go; null drops them. */
  deadLetter: string | null;
  appendOn: EmbeddedAppender['appendOn'];
  wakeups: AppendWakeups;
}

/**
 * A consumer's pending deliveries (`fleetgate_pending`): ack deletes, nak makes visible again
 * (or dead-letters on the last allowed delivery), term dead-letters, working restarts ack wait.
 */
export const pendingOfConsumer = ({ sql, stream, name, deadLetter, appendOn, wakeups }: PendingOfConsumer) => {
  /** Moves one pending message to the dead-letter subject (or drops it) – in `tx`. */
  const deadLetterIn = async (tx: TransactionSql, seq: number, reason: string) => {
    const [gone] = await tx<{ deliveries: number }[]>`
      DELETE FROM fleetgate_pending WHERE stream = ${stream} AND consumer = ${name} AND seq = ${seq} RETURNING deliveries`;
    if (!gone || deadLetter === null) return;
    const [m] = await tx<LogRow[]>`
      SELECT seq, subject, msg_id, headers, events, stored_at FROM fleetgate_log WHERE stream = ${stream} AND seq = ${seq}`;
    if (!m) return;
    await appendOn(tx, deadLetter, m.events, {
      msgId: deadLetterMsgId(stream, seq, name),
      headers: deadLetterHeaders({ stream, seq, subject: m.subject, consumer: name, deliveries: gone.deliveries, reason }),
    });
  };

  /*
   * Group acknowledgement, as the appender groups appends: acks that arrive while a DELETE is in
   * flight go together in the next one (a handler with many commands in flight acks them at about
   * the same time; one statement each was a round trip each on the process's one PGlite backend).
   * Alone, an ack goes at once. Each resolves only once the DELETE that carried it committed.
   */
  let acks: { seq: number; resolve(): void; reject(e: unknown): void }[] = [];
  let acking = false;
  const flushAcks = async () => {
    acking = true;
    while (acks.length > 0) {
      const group = acks;
      acks = [];
      try {
        await sql`
          DELETE FROM fleetgate_pending WHERE stream = ${stream} AND consumer = ${name}
            AND seq = ANY(${group.map((a) => a.seq)}::bigint[])`;
        for (const a of group) a.resolve();
      } catch (e) {
        for (const a of group) a.reject(e);
      }
    }
    acking = false;
  };

  const settle = (
    seq: number,
    deliveryCount: number,
    maxDeliver: number,
  ): Pick<Delivery, 'ack' | 'nak' | 'term' | 'working'> => ({
    ack: () =>
      new Promise<void>((resolve, reject) => {
        acks.push({ seq, resolve, reject });
        if (!acking) void flushAcks();
      }),
    nak: async (delayMs = 0, reason) => {
      if (deliveryCount >= maxDeliver) {
        await sql.begin((tx) => deadLetterIn(tx, seq, reason ?? `nak after ${deliveryCount} deliveries`));
        return;
      }
      await sql`
        UPDATE fleetgate_pending SET visible_at = clock_timestamp() + ${delayMs} * interval '1 millisecond',
          last_reason = ${reason ?? null}
        WHERE stream = ${stream} AND consumer = ${name} AND seq = ${seq}`;
      // A delayed one too: a consumer waiting for its earliest due delivery must look again, as
      // this one may now fall due before it.
      wakeups.emit(stream);
    },
    term: async (reason) => {
      await sql.begin((tx) => deadLetterIn(tx, seq, reason));
    },
    working: async () => {
      await sql`
        UPDATE fleetgate_pending p SET visible_at = clock_timestamp() + c.ack_wait_ms * interval '1 millisecond'
        FROM fleetgate_consumers c
        WHERE c.stream = p.stream AND c.name = p.consumer
          AND p.stream = ${stream} AND p.consumer = ${name} AND p.seq = ${seq} AND p.deliveries = ${deliveryCount}`;
    },
  });

  return { deadLetterIn, settle };
};
