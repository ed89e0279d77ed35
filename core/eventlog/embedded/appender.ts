import type postgres from 'postgres';
import { VersionConflictError } from '../../../schemas/errors.js';
import { streamOfSubject } from '../../../schemas/events/envelope.js';
import type { Sql, TransactionSql } from '../../stores/postgres.js';
import { batchMsgId } from '../newEvent.js';
import type { AppendAck, AppendOptions, EventEnvelope, StreamName } from '../port.js';
import { validateSubject } from '../subjects.js';
import { unavailable } from './rows.js';
import type { AppendWakeups } from './wakeups.js';

/** Most messages one group commit writes. */
const GROUP_MAX = 500;

export interface EmbeddedAppender {
  /** One message by its own statement on `q` (a transaction, or the pool): the conditional path. */
  appendOn(q: Sql | TransactionSql, subject: string, events: readonly EventEnvelope[], opts: AppendOptions): Promise<AppendAck>;
  /** One message by the next group commit. */
  appendGrouped(subject: string, events: readonly EventEnvelope[], opts: AppendOptions): Promise<AppendAck>;
}

interface Queued {
  subject: string;
  stream: StreamName;
  msgId: string;
  headers: Record<string, string>;
  events: readonly EventEnvelope[];
  resolve(ack: AppendAck): void;
  reject(e: unknown): void;
}

/**
 * Appends through `fleetgate_append`, which serialises them per stream so a reader never skips a
 * sequence that commits late.
 *
 * Group commit: appends that arrive while one is in flight are written together by a single
 * statement (one transaction, one WAL flush), each still its own message with its own sequence,
 * message id and dedupe. At low load every append goes alone, so latency does not grow.
 * Appends with an expected subject sequence go alone: their conflict must fail only them.
 */
export const embeddedAppender = (sql: Sql, wakeups: AppendWakeups): EmbeddedAppender => {
  const appendOn: EmbeddedAppender['appendOn'] = async (q, subject, events, opts) => {
    validateSubject(subject);
    const stream = streamOfSubject(subject);
    if (events.length === 0) throw new RangeError('append needs at least one event');
    const msgId = opts.msgId ?? batchMsgId(events);
    try {
      const [row] = await q<{ seq: string; duplicate: boolean }[]>`
        SELECT seq, duplicate FROM fleetgate_append(
          ${stream}, ${subject}, ${msgId}, ${q.json(opts.headers ?? {})},
          ${q.json(events as unknown as postgres.JSONValue)}, ${opts.expectedLastSubjectSeq ?? null}::bigint)`;
      wakeups.emit(stream, subject);
      return { stream, seq: Number(row?.seq), duplicate: Boolean(row?.duplicate) };
    } catch (e) {
      const err = e as { code?: string; detail?: string };
      if (err.code === 'FG409') {
        throw new VersionConflictError(subject, opts.expectedLastSubjectSeq ?? 0, Number(err.detail), { cause: e });
      }
      throw unavailable('append', e);
    }
  };

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
        wakeups.emit(stream, subject);
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

  const appendGrouped: EmbeddedAppender['appendGrouped'] = (subject, events, opts) =>
    new Promise<AppendAck>((resolve, reject) => {
      validateSubject(subject);
      if (events.length === 0) throw new RangeError('append needs at least one event');
      const stream = streamOfSubject(subject);
      const msgId = opts.msgId ?? batchMsgId(events);
      queue.push({ subject, stream, msgId, headers: opts.headers ?? {}, events, resolve, reject });
      if (!flushing) void flush();
    });

  return { appendOn, appendGrouped };
};
