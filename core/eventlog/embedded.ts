import type { Sql } from '../stores/postgres.js';
import { embeddedAppender } from './embedded/appender.js';
import { embeddedConsumer } from './embedded/consumer.js';
import { embeddedReader } from './embedded/reader.js';
import { appendWakeups, idlePollCapMs, ONLY_WRITER_IDLE_POLL_CAP_MS } from './embedded/wakeups.js';
import type { EventEnvelope, EventLog } from './port.js';

/**
 * What vehicle_positions waits anyway to fill a fold (PROJECTION_BATCH_DELAY_MS, 20 ms), a tenth
 * of gps_tracking's (GPS_CLICKHOUSE_BATCH_MS, 200 ms), and a blink on the live map.
 */
const GPS_FOLLOW_LINGER_MS = 20;

export interface EmbeddedEventLogOptions {
  /** How often a waiting fetch or follow looks for messages appended by another process. */
  pollMs?: number;
  /** Sequences a consumer scans per fetch when its filter matches little (bounds one query). */
  scanWindow?: number;
  /**
   * No other process appends to this log (PGlite behind the data-dir lock): idle polls back off
   * to ONLY_WRITER_IDLE_POLL_CAP_MS instead of a second, as local appends wake readers at once.
   */
  onlyWriter?: boolean;
  /** How long a GPS follower woken by an append waits for more before reading (see EmbeddedReaderOptions). */
  gpsLingerMs?: number;
}

/**
 * The event log as an append-only table in Postgres or PGlite (schemas/postgres/001_eventlog.sql).
 * Appends are serialised per stream by `fleetgate_append`, so a reader never skips a sequence
 * that commits late. Consumers keep their state in `fleetgate_consumers`/`fleetgate_pending`.
 * The parts: `embedded/appender.ts` (group commit), `embedded/reader.ts` (read, follow),
 * `embedded/consumer.ts` with `fetchDeliveries.ts` and `settle.ts` (ack, redeliver, dead letters).
 */
export const embeddedEventLog = (sql: Sql, options: EmbeddedEventLogOptions = {}): EventLog => {
  const pollMs = options.pollMs ?? 200;
  const scanWindow = options.scanWindow ?? 20_000;
  const idleCapMs = options.onlyWriter ? Math.max(pollMs, ONLY_WRITER_IDLE_POLL_CAP_MS) : idlePollCapMs(pollMs);
  const wakeups = appendWakeups();
  let closed = false;
  const isClosed = () => closed;
  const { appendOn, appendGrouped } = embeddedAppender(sql, wakeups);
  const { read, follow, lastSeq } = embeddedReader(sql, {
    wakeups,
    pollMs,
    idlePollCapMs: idleCapMs,
    gpsLingerMs: options.gpsLingerMs ?? GPS_FOLLOW_LINGER_MS,
    isClosed,
  });

  return {
    kind: 'embedded',
    append: (subject, events, opts = {}) => {
      const list = Array.isArray(events) ? events : [events as EventEnvelope];
      return opts.expectedLastSubjectSeq === undefined ? appendGrouped(subject, list, opts) : appendOn(sql, subject, list, opts);
    },
    consumer: (config) =>
      embeddedConsumer(sql, config, { appendOn, wakeups, pollMs, idlePollCapMs: idleCapMs, scanWindow, isClosed }),
    async deleteConsumer(stream, name) {
      await sql`DELETE FROM fleetgate_consumers WHERE stream = ${stream} AND name = ${name}`;
    },
    read,
    follow,
    async removeDeadLetter(seq) {
      // A gap is fine for readers: they read `seq >= next`, never count on consecutive numbers.
      const gone = await sql`DELETE FROM fleetgate_log WHERE stream = 'DLQ' AND seq = ${seq} RETURNING seq`;
      return gone.length > 0;
    },
    lastSeq,
    async ping() {
      try {
        await sql`SELECT 1`;
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      closed = true;
      wakeups.emit('EVENTS');
      wakeups.emit('GPS');
      wakeups.emit('DLQ');
    },
  };
};
