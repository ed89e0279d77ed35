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

/**
 * One fetch as one transaction: due redeliveries first (dead-lettering those out of deliveries),
 * then new messages past the consumer's delivered sequence. `more` = the scan window was cut short.
 */
export const fetchDeliveries =
  ({ sql, stream, name, filterRe, scanWindow, pending }: FetchDeliveries) =>
  (max: number) =>
    sql.begin(async (tx) => {
      const [c] = await tx<ConsumerRow[]>`
        SELECT filter_subject, ack_wait_ms, max_deliver, dead_letter, delivered_seq FROM fleetgate_consumers
        WHERE stream = ${stream} AND name = ${name} FOR UPDATE`;
      if (!c) throw new GatewayError('GW_ERR_NOT_FOUND', `consumer ${stream}/${name} was deleted`);
      const due = await tx<{ seq: string; deliveries: number }[]>`
        SELECT seq, deliveries FROM fleetgate_pending
        WHERE stream = ${stream} AND consumer = ${name} AND visible_at <= clock_timestamp()
        ORDER BY seq LIMIT ${max}`;
      const redeliver: number[] = [];
      for (const d of due) {
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
      if (room > 0) {
        const from = Number(c.delivered_seq);
        const [s] = await tx<{ last_seq: string }[]>`SELECT last_seq FROM fleetgate_streams WHERE name = ${stream}`;
        const upTo = Math.min(Number(s?.last_seq ?? 0), from + scanWindow);
        more = upTo < Number(s?.last_seq ?? 0);
        const fresh = await tx<{ seq: string }[]>`
          SELECT seq FROM fleetgate_log WHERE stream = ${stream} AND seq > ${from} AND seq <= ${upTo}
          ${filterRe ? tx`AND subject ~ ${filterRe}` : tx``} ORDER BY seq LIMIT ${room}`;
        const seqs = fresh.map((r) => Number(r.seq));
        const delivered = seqs.length === room ? (seqs[seqs.length - 1] as number) : upTo;
        if (seqs.length === room) more = true;
        if (seqs.length) {
          await tx`
            INSERT INTO fleetgate_pending (stream, consumer, seq, deliveries, visible_at)
            SELECT ${stream}, ${name}, s, 1, clock_timestamp() + ${c.ack_wait_ms} * interval '1 millisecond'
            FROM unnest(${seqs}::bigint[]) AS s`;
          for (const q of seqs) counts.set(q, 1);
        }
        if (delivered > from) {
          await tx`UPDATE fleetgate_consumers SET delivered_seq = ${delivered} WHERE stream = ${stream} AND name = ${name}`;
        }
      }
      if (counts.size === 0) return { deliveries: [] as Delivery[], more };
      const rows = await tx<LogRow[]>`
        SELECT seq, subject, msg_id, headers, events, stored_at FROM fleetgate_log
        WHERE stream = ${stream} AND seq = ANY(${[...counts.keys()]}::bigint[]) ORDER BY seq`;
      const deliveries = rows.map((r): Delivery => {
        const m = toMessage(stream, r);
        const deliveryCount = counts.get(m.seq) ?? 1;
        return { ...m, deliveryCount, ...pending.settle(m.seq, deliveryCount, c.max_deliver) };
      });
      return { deliveries, more };
    });
