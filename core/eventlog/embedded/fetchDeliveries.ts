import { GatewayError } from '../../../schemas/errors.js';
import type { Sql } from '../../stores/postgres.js';
import { expiredReason } from '../deadLetter.js';
import type { Delivery, StreamName } from '../port.js';
import { type ConsumerRow, type LogRow, toMessage } from './rows.js';
import type { pendingOfConsumer } from './settle.js';

export interface FetchDeliveries {
  sql: Sql;
  stream: StreamName;
  name: string;
  /** The consumer's filter as a regex on `subject`; null: the whole stream. */
  filterRe: string | null;
  /** Sequences scanned per fetch (bounds one query when the filter matches little). */
  scanWindow: number;
  pending: ReturnType<typeof pendingOfConsumer>;
}

interface FetchWork {
  last_seq: string | null;
  /** Until the earliest pending delivery of the consumer comes due again (ms; null: none pending). */
  due_in_ms: number | null;
  due: { seq: string; deliveries: number }[];
  fresh: string[];
}

/**
 * One fetch as one transaction: due redeliveries first (dead-lettering those out of deliveries),
 * then new messages past the consumer's delivered sequence. `more` = the scan window was cut short;
 * `dueInMs` (empty fetches only) = when the earliest pending delivery comes due, null if none.
 *
 * Round trips matter here (on PGlite every statement runs on the one backend the whole process
 * shares): after the consumer row is locked, its due redeliveries, the stream's end and the first
 * new matching sequences come back from one statement, and the new pending rows, the moved cursor
 * and the messages themselves from another. A fetch is BEGIN, three statements, COMMIT (it was
 * nine round trips); the rare redelivery and dead letter add their own.
 */
export const fetchDeliveries =
  ({ sql, stream, name, filterRe, scanWindow, pending }: FetchDeliveries) =>
  (max: number) =>
    sql.begin(async (tx) => {
      const [c] = await tx<ConsumerRow[]>`
        SELECT filter_subject, ack_wait_ms, max_deliver, dead_letter, delivered_seq FROM fleetgate_consumers
        WHERE stream = ${stream} AND name = ${name} FOR UPDATE`;
      if (!c) throw new GatewayError('GW_ERR_NOT_FOUND', `consumer ${stream}/${name} was deleted`);
      const from = Number(c.delivered_seq);
      // A statement of its own after the lock: its snapshot sees what a fetch of another process
      // that held the lock before committed. Everything up to the stream's end is committed
      // (appends are serialised per stream), so the window up to it can be read in the same one.
      const [w] = await tx<FetchWork[]>`
        SELECT s.last_seq,
          COALESCE((
            SELECT json_agg(json_build_object('seq', d.seq::text, 'deliveries', d.deliveries) ORDER BY d.seq)
            FROM (
              SELECT p.seq, p.deliveries FROM fleetgate_pending p
              WHERE p.stream = ${stream} AND p.consumer = ${name} AND p.visible_at <= clock_timestamp()
              ORDER BY p.seq LIMIT ${max}
            ) d
          ), '[]') AS due,
          ARRAY(
            SELECT l.seq::text FROM fleetgate_log l
            WHERE l.stream = ${stream} AND l.seq > ${from} AND l.seq <= LEAST(s.last_seq, ${from + scanWindow}::bigint)
            ${filterRe ? tx`AND l.subject ~ ${filterRe}` : tx``}
            ORDER BY l.seq LIMIT ${max}
          ) AS fresh,
          (SELECT (extract(epoch FROM min(p.visible_at) - clock_timestamp()) * 1000)::float8 FROM fleetgate_pending p
           WHERE p.stream = ${stream} AND p.consumer = ${name}) AS due_in_ms
        FROM (SELECT (SELECT last_seq FROM fleetgate_streams WHERE name = ${stream}) AS last_seq) s`;
      const work = w as FetchWork;
      const redeliver: number[] = [];
      for (const d of work.due) {
        if (d.deliveries >= c.max_deliver) await pending.deadLetterIn(tx, Number(d.seq), expiredReason(d.deliveries));
        else redeliver.push(Number(d.seq));
      }
      const counts = new Map<number, number>();
      if (redeliver.length) {
        const rows = await tx<{ seq: string; deliveries: number }[]>`
          UPDATE fleetgate_pending SET deliveries = deliveries + 1,
            visible_at = clock_timestamp() + ${c.ack_wait_ms} * interval '1 millisecond'
          WHERE stream = ${stream} AND consumer = ${name} AND seq = ANY(${redeliver}::bigint[])
          RETURNING seq, deliveries`;
        for (const r of rows) counts.set(Number(r.seq), r.deliveries);
      }
      let more = false;
      const room = max - redeliver.length;
      let seqs: number[] = [];
      let delivered = from;
      if (room > 0) {
        const last = Number(work.last_seq ?? 0);
        const upTo = Math.min(last, from + scanWindow);
        more = upTo < last;
        seqs = work.fresh.slice(0, room).map(Number);
        delivered = seqs.length === room ? (seqs[seqs.length - 1] as number) : upTo;
        if (seqs.length === room) more = true;
        for (const q of seqs) counts.set(q, 1);
      }
      if (counts.size === 0) {
        if (delivered > from) {
          await tx`UPDATE fleetgate_consumers SET delivered_seq = ${delivered} WHERE stream = ${stream} AND name = ${name}`;
        }
        // Only an empty fetch says when to look again: nothing it saw changes before then.
        return { deliveries: [] as Delivery[], more, dueInMs: work.due_in_ms };
      }
      // Data-modifying WITHs run whether or not the SELECT reads them.
      const rows = await tx<LogRow[]>`
        WITH taken AS (
          INSERT INTO fleetgate_pending (stream, consumer, seq, deliveries, visible_at)
          SELECT ${stream}, ${name}, s, 1, clock_timestamp() + ${c.ack_wait_ms} * interval '1 millisecond'
          FROM unnest(${seqs}::bigint[]) AS s
        ), moved AS (
          UPDATE fleetgate_consumers SET delivered_seq = GREATEST(delivered_seq, ${delivered})
          WHERE stream = ${stream} AND name = ${name}
        )
        SELECT seq, subject, msg_id, headers, events, stored_at FROM fleetgate_log
        WHERE stream = ${stream} AND seq = ANY(${[...counts.keys()]}::bigint[]) ORDER BY seq`;
      const deliveries = rows.map((r): Delivery => {
        const m = toMessage(stream, r);
        const deliveryCount = counts.get(m.seq) ?? 1;
        return { ...m, deliveryCount, ...pending.settle(m.seq, deliveryCount, c.max_deliver) };
      });
      return { deliveries, more, dueInMs: null as number | null };
    });
