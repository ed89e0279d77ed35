import type { Projection, StoredEvent } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { ATTEMPT_FAILED, type AttemptFailed, type Priority } from '../schemas/events/envelope.js';
import { NOTIFICATION_CHANNELS } from '../schemas/http/notifications.js';

const CHANNELS: ReadonlySet<string> = new Set(NOTIFICATION_CHANNELS);
/** Outcomes that end a command's time in the queue; later events never reopen it. */
const FINAL: Record<string, 'sent' | 'failed' | 'refused'> = { sent: 'sent', failed: 'failed', refused: 'refused' };

interface Patch {
  id: string;
  /** Highest attempt number seen failing. */
  failedAttempts: number;
  status: 'retrying' | 'sent' | 'failed' | 'refused';
  nextAttemptAt: string | null;
  lastError: string | null;
  updatedAt: string;
  lastSeq: number;
}

const channelOf = (type: string) => {
  const dot = type.indexOf('.');
  return dot > 0 && CHANNELS.has(type.slice(0, dot)) ? { channel: type.slice(0, dot), verb: type.slice(dot + 1) } : undefined;
};

/**
 * `notification_queue`: one row per SMS, e-mail, push and Telegram command, with what the handler
 * runner is doing about it — queued, retrying (attempts, next attempt, last error), or done (sent,
 * failed, refused). Folded from `<channel>.requested`, the runner's `<channel>.attempt_failed`
 * and each channel's outcome events (`sent`, `failed`, `refused`), linked by causation id.
 */
export const notificationQueueProjection: Projection = {
  name: 'notification_queue',
  stream: 'EVENTS',
  filterSubject: 'evt.>',
  async apply(tx: TransactionSql, events: readonly StoredEvent[]) {
    const queued: Record<string, unknown>[] = [];
    const patches = new Map<string, Patch>();
    for (const e of events) {
      const kind = channelOf(e.type);
      if (!kind) continue;
      const { channel, verb } = kind;
      if (verb === 'requested') {
        const priority = ((e.data as { priority?: Priority }).priority ?? 'normal') as Priority;
        queued.push({ id: e.id, channel, priority, status: 'queued', created_at: e.time, updated_at: e.time, last_seq: e.seq });
        continue;
      }
      const final = FINAL[verb];
      if (verb !== ATTEMPT_FAILED && !final) continue;
      const id = e.causationId;
      if (!id) continue;
      const p = patches.get(id) ?? {
        id,
        failedAttempts: 0,
        status: 'retrying',
        nextAttemptAt: null,
        lastError: null,
        updatedAt: e.time,
        lastSeq: e.seq,
      };
      p.updatedAt = e.time;
      p.lastSeq = e.seq;
      if (verb === ATTEMPT_FAILED) {
        const d = e.data as AttemptFailed;
        p.failedAttempts = Math.max(p.failedAttempts, d.attempt);
        if (p.status === 'retrying') {
          p.nextAttemptAt = d.nextAttemptAt;
          p.lastError = d.error;
        }
      } else if (final && p.status === 'retrying') {
        p.status = final;
        // Channels that say which attempt ended it (`email.sent`) are taken at their word.
        const attempt = (e.data as { attempt?: unknown }).attempt;
        if (typeof attempt === 'number' && Number.isInteger(attempt)) p.failedAttempts = Math.max(p.failedAttempts, attempt - 1);
        p.nextAttemptAt = null;
        const { reason, detail } = e.data as { reason?: unknown; detail?: unknown };
        if (final !== 'sent' && typeof reason === 'string')
          p.lastError = typeof detail === 'string' ? `${reason}: ${detail}` : reason;
      }
      patches.set(id, p);
    }
    // A command re-sent under the same id (idempotent retry) is already here: keep the first.
    if (queued.length > 0) await tx`INSERT INTO notification_queue ${tx(queued)} ON CONFLICT (id) DO NOTHING`;
    if (patches.size === 0) return;
    const rows = [...patches.values()].map((p) => ({
      id: p.id,
      failed_attempts: p.failedAttempts,
      status: p.status,
      next_attempt_at: p.nextAttemptAt,
      last_error: p.lastError,
      updated_at: p.updatedAt,
      last_seq: p.lastSeq,
    }));
    // A finished command stays finished; `sent`/`failed` count the attempt that ended it.
    await tx`
      UPDATE notification_queue q SET
        attempts = CASE
          WHEN q.status IN ('sent', 'failed', 'refused') THEN q.attempts
          ELSE GREATEST(q.attempts, v.failed_attempts) + CASE WHEN v.status IN ('sent', 'failed') THEN 1 ELSE 0 END
        END,
        status = CASE WHEN q.status IN ('sent', 'failed', 'refused') THEN q.status ELSE v.status END,
        next_attempt_at = CASE WHEN q.status IN ('sent', 'failed', 'refused') THEN q.next_attempt_at ELSE v.next_attempt_at END,
        last_error = COALESCE(v.last_error, q.last_error),
        updated_at = v.updated_at,
        last_seq = v.last_seq
      FROM jsonb_to_recordset(${tx.json(rows)}) AS v(
        id uuid, failed_attempts int, status text, next_attempt_at timestamptz, last_error text,
        updated_at timestamptz, last_seq bigint
      )
      WHERE q.id = v.id`;
  },
  async reset(tx) {
    await tx`TRUNCATE notification_queue`;
  },
};
