import { EventEmitter } from 'node:events';
import type postgres from 'postgres';
import { GatewayError, VersionConflictError } from '../../schemas/errors.js';
import { streamOfSubject } from '../../schemas/events/envelope.js';
import type { Sql, TransactionSql } from '../stores/postgres.js';
import { deadLetterHeaders, deadLetterMsgId, defaultDeadLetterSubject, expiredReason } from './deadLetter.js';
import { batchMsgId } from './newEvent.js';
import type {
  AppendAck,
  AppendOptions,
  Consumer,
  ConsumerConfig,
  ConsumerInfo,
  Delivery,
  EventEnvelope,
  EventLog,
  LogMessage,
  ReadOptions,
  StreamName,
} from './port.js';
import { filterToRegex, subjectMatches, validateFilter, validateSubject } from './subjects.js';

export interface EmbeddedEventLogOptions {
  /** How often a waiting fetch or follow looks for messages appended by another process. */
  pollMs?: number;
  /** Sequences a consumer scans per fetch when its filter matches little (bounds one query). */
  scanWindow?: number;
}

interface LogRow {
  seq: string;
  subject: string;
  msg_id: string;
  headers: Record<string, string>;
  events: EventEnvelope[];
  stored_at: Date;
}

interface ConsumerRow {
  filter_subject: string | null;
  ack_wait_ms: number;
  max_deliver: number;
  dead_letter: string | null;
  delivered_seq: string;
}

const toMessage = (stream: StreamName, r: LogRow): LogMessage => ({
  stream,
  seq: Number(r.seq),
  subject: r.subject,
  msgId: r.msg_id,
  storedAt: r.stored_at.getTime(),
  headers: r.headers,
  events: r.events,
});

/** follow() pages: at most this many messages, aiming at about FOLLOW_PAGE_EVENTS events. */
const FOLLOW_MAX_PAGE = 1_000;
const FOLLOW_FIRST_PAGE = 100;
const FOLLOW_PAGE_EVENTS = 10_000;
/** Most messages one group commit writes. */
const GROUP_MAX = 500;

const unavailable = (op: string, cause: unknown) =>
  new GatewayError('GW_ERR_LOG_UNAVAILABLE', `embedded event log: ${op} failed`, { cause });

/**
 * The event log as an append-only table in Postgres or PGlite (schemas/postgres/001_eventlog.sql).
 * Appends are serialised per stream by `fleetgate_append`, so a reader never skips a sequence
 * that commits late. Consumers keep their state in `fleetgate_consumers`/`fleetgate_pending`.
 */
export const embeddedEventLog = (sql: Sql, options: EmbeddedEventLogOptions = {}): EventLog => {
  const pollMs = options.pollMs ?? 200;
  const scanWindow = options.scanWindow ?? 20_000;
  const appended = new EventEmitter().setMaxListeners(0);
  let closed = false;

  /**
   * Resolves on a local append to `stream` that `filter` matches (any, without a filter), after
   * `ms`, or on abort – whichever comes first. Waking only the consumers an append concerns matters
   * on one PGlite backend: a dozen projections and a handler consumer per channel and priority
   * would otherwise each run a fetch query for every append.
   */
  const waitForAppend = (stream: StreamName, ms: number, signal?: AbortSignal, filter?: string) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        appended.off(stream, onAppend);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // No subject: a nak or close, which concerns every waiter.
      const onAppend = (subject?: string) => {
        if (!filter || subject === undefined || subjectMatches(filter, subject)) done();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      appended.on(stream, onAppend);
      signal?.addEventListener('abort', done, { once: true });
    });

  const appendOn = async (
    q: Sql | TransactionSql,
    subject: string,
    events: readonly EventEnvelope[],
    opts: AppendOptions,
  ): Promise<AppendAck> => {
    validateSubject(subject);
    const stream = streamOfSubject(subject);
    if (events.length === 0) throw new RangeError('append needs at least one event');
    const msgId = opts.msgId ?? batchMsgId(events);
    try {
      const [row] = await q<{ seq: string; duplicate: boolean }[]>`
        SELECT seq, duplicate FROM fleetgate_append(
          ${stream}, ${subject}, ${msgId}, ${q.json(opts.headers ?? {})},
          ${q.json(events as unknown as postgres.JSONValue)}, ${opts.expectedLastSubjectSeq ?? null}::bigint)`;
      appended.emit(stream, subject);
      return { stream, seq: Number(row?.seq), duplicate: Boolean(row?.duplicate) };
    } catch (e) {
      const err = e as { code?: string; detail?: string };
      if (err.code === 'FG409') {
        throw new VersionConflictError(subject, opts.expectedLastSubjectSeq ?? 0, Number(err.detail), { cause: e });
      }
      throw unavailable('append', e);
    }
  };

  /*
   * Group commit: appends that arrive while one is in flight are written together by a single
   * statement (one transaction, one WAL flush), each still its own message with its own sequence,
   * message id and dedupe. At low load every append goes alone, so latency does not grow.
   * Appends with an expected subject sequence go alone: their conflict must fail only them.
   */
  interface Queued {
    subject: string;
    stream: StreamName;
    msgId: string;
    headers: Record<string, string>;
    events: readonly EventEnvelope[];
    resolve(ack: AppendAck): void;
    reject(e: unknown): void;
  }
  const queue: Queued[] = [];
  let flushing = false;

  const flushGroup = async (group: Queued[]) => {
    const payload = group.map((g) => ({
      stream: g.stream,
      subject: g.subject,
      msgId: g.msgId,
      headers: g.headers,
      events: g.events,
    }));
    try {
      const rows = await sql<{ seq: string; duplicate: boolean }[]>`
        SELECT r.seq, r.duplicate
        FROM jsonb_array_elements(${sql.json(payload as unknown as postgres.JSONValue)}) WITH ORDINALITY AS g(m, ord),
             LATERAL fleetgate_append(g.m->>'stream', g.m->>'subject', g.m->>'msgId', g.m->'headers', g.m->'events', NULL) r
        ORDER BY g.ord`;
      for (const key of new Set(group.map((g) => `${g.stream} ${g.subject}`))) {
        const [stream, subject] = key.split(' ') as [StreamName, string];
        appended.emit(stream, subject);
      }
      group.forEach((g, i) => {
        const row = rows[i];
        g.resolve({ stream: g.stream, seq: Number(row?.seq), duplicate: Boolean(row?.duplicate) });
      });
    } catch (e) {
      const err = unavailable('append', e);
      for (const g of group) g.reject(err);
    }
  };

  const flush = async () => {
    flushing = true;
    try {
      while (queue.length > 0) await flushGroup(queue.splice(0, GROUP_MAX));
    } finally {
      flushing = false;
    }
  };

  const appendGrouped = (subject: string, events: readonly EventEnvelope[], opts: AppendOptions) =>
    new Promise<AppendAck>((resolve, reject) => {
      validateSubject(subject);
      if (events.length === 0) throw new RangeError('append needs at least one event');
      const stream = streamOfSubject(subject);
      const msgId = opts.msgId ?? batchMsgId(events);
      queue.push({ subject, stream, msgId, headers: opts.headers ?? {}, events, resolve, reject });
      if (!flushing) void flush();
    });

  const read = async (stream: StreamName, max: number, opts: ReadOptions = {}): Promise<LogMessage[]> => {
    if (opts.filterSubject) validateFilter(opts.filterSubject);
    const re = opts.filterSubject ? filterToRegex(opts.filterSubject) : null;
    const rows = await sql<LogRow[]>`
      SELECT seq, subject, msg_id, headers, events, stored_at FROM fleetgate_log
      WHERE stream = ${stream} AND seq >= ${opts.fromSeq ?? 1} ${re ? sql`AND subject ~ ${re}` : sql``}
      ORDER BY seq LIMIT ${max}`;
    return rows.map((r) => toMessage(stream, r));
  };

  async function* follow(stream: StreamName, opts: ReadOptions & { signal: AbortSignal }): AsyncIterable<LogMessage> {
    let next = opts.fromSeq ?? 1;
    let limit = FOLLOW_FIRST_PAGE;
    /** The next page, asked for while the caller works through this one. */
    let ahead: Promise<LogMessage[]> | undefined;
    const readAhead = (fromSeq: number) => {
      const p = read(stream, limit, { ...opts, fromSeq });
      p.catch(() => {}); // handled when awaited; never an unhandled rejection meanwhile
      return p;
    };
    try {
      while (!opts.signal.aborted && !closed) {
        const asked = limit;
        // Read before the page: an append committing between the page query and a later
        // lastSeq() would otherwise be skipped as "unmatched" without ever being read.
        const committed = opts.filterSubject && !ahead ? await lastSeq(stream) : 0;
        const batch = await (ahead ?? read(stream, limit, { ...opts, fromSeq: next }));
        ahead = undefined;
        const full = batch.length === asked;
        if (batch.length > 0) {
          // Size pages by events, not messages: a page of big batches is a big result, which
          // PGlite (on this thread) produces and postgres.js parses in one go.
          const events = batch.reduce((n, m) => n + m.events.length, 0);
          limit = Math.max(1, Math.min(FOLLOW_MAX_PAGE, asked * 4, Math.floor((FOLLOW_PAGE_EVENTS * batch.length) / events)));
          if (full) ahead = readAhead((batch[batch.length - 1] as LogMessage).seq + 1);
        }
        for (const m of batch) {
          if (opts.signal.aborted) return;
          next = m.seq + 1;
          yield m;
        }
        if (!full) {
          // Unmatched sequences in between are skipped for good: everything up to lastSeq is committed.
          if (opts.filterSubject) next = Math.max(next, committed + 1);
          await waitForAppend(stream, pollMs, opts.signal, opts.filterSubject);
        }
      }
    } finally {
      await ahead?.catch(() => {});
    }
  }

  const lastSeq = async (stream: StreamName) => {
    const [row] = await sql<{ last_seq: string }[]>`SELECT last_seq FROM fleetgate_streams WHERE name = ${stream}`;
    return Number(row?.last_seq ?? 0);
  };

  const consumer = async (config: ConsumerConfig): Promise<Consumer> => {
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

    const settle = (
      seq: number,
      deliveryCount: number,
      maxDeliver: number,
    ): Pick<Delivery, 'ack' | 'nak' | 'term' | 'working'> => ({
      ack: async () => {
        await sql`DELETE FROM fleetgate_pending WHERE stream = ${stream} AND consumer = ${name} AND seq = ${seq}`;
      },
      nak: async (delayMs = 0, reason) => {
        if (deliveryCount >= maxDeliver) {
          await sql.begin((tx) => deadLetterIn(tx, seq, reason ?? `nak after ${deliveryCount} deliveries`));
          return;
        }
        await sql`
          UPDATE fleetgate_pending SET visible_at = clock_timestamp() + ${delayMs} * interval '1 millisecond',
            last_reason = ${reason ?? null}
          WHERE stream = ${stream} AND consumer = ${name} AND seq = ${seq}`;
        if (delayMs <= 0) appended.emit(stream);
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

    /** One transaction: due redeliveries first, then new messages. `more` = the scan window was cut short. */
    const tryFetch = (max: number) =>
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
          if (d.deliveries >= c.max_deliver) await deadLetterIn(tx, Number(d.seq), expiredReason(d.deliveries));
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
          return { ...m, deliveryCount, ...settle(m.seq, deliveryCount, c.max_deliver) };
        });
        return { deliveries, more };
      });

    return {
      config: Object.freeze({ ...config }),
      async fetch({ max, expiresMs }) {
        const deadline = Date.now() + expiresMs;
        for (;;) {
          if (closed) return [];
          let got: { deliveries: Delivery[]; more: boolean };
          try {
            got = await tryFetch(max);
          } catch (e) {
            if (e instanceof GatewayError) throw e;
            throw unavailable('fetch', e);
          }
          if (got.deliveries.length > 0) return got.deliveries;
          const left = deadline - Date.now();
          if (left <= 0) return [];
          if (!got.more) await waitForAppend(stream, Math.min(pollMs, left), undefined, config.filterSubject);
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

  return {
    kind: 'embedded',
    append: (subject, events, opts = {}) => {
      const list = Array.isArray(events) ? events : [events as EventEnvelope];
      return opts.expectedLastSubjectSeq === undefined ? appendGrouped(subject, list, opts) : appendOn(sql, subject, list, opts);
    },
    consumer,
    async deleteConsumer(stream, name) {
      await sql`DELETE FROM fleetgate_consumers WHERE stream = ${stream} AND name = ${name}`;
    },
    read,
    follow,
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
      appended.emit('EVENTS');
      appended.emit('GPS');
      appended.emit('DLQ');
    },
  };
};
