import type { PushNotificationLogHistoryEntry } from '../core/readModels/pushNotificationLog.js';
import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type PushEvent, type PushPartiallySent, type PushSent, pushEvents } from '../schemas/events/push.js';

type EntryDetail = Omit<PushNotificationLogHistoryEntry, 'type' | 'time' | 'seq'>;
const entry = (tx: TransactionSql, e: Stored<PushEvent>, detail: EntryDetail = {}) =>
  tx.json([{ type: e.type, time: e.time, seq: e.seq, ...detail }] as never);

const messageIds = (d: PushSent | PushPartiallySent) => d.results.flatMap((r) => (r.messageId ? [r.messageId] : []));

/** What a `push.sent` writes to its row. */
interface SentRow {
  id: string;
  results: unknown;
  success_count: number;
  failure_count: number;
  provider_message_ids: string[];
  attempt: number;
  test_mode: boolean;
  error_code: string | null;
  error_message: string | null;
  time: string;
  seq: number;
  entry: unknown;
}

/** `push.sent` for several commands (distinct ids) in one statement, the rows from one JSON parameter. */
const updateSent = (tx: TransactionSql, rows: SentRow[]) =>
  tx`UPDATE push_notification_log AS l SET status = 'sent', results = v.results, success_count = v.success_count,
       failure_count = v.failure_count, provider_message_ids = v.provider_message_ids,
       attempts = greatest(l.attempts, v.attempt), test_mode = v.test_mode, sent_at = v.time, error_code = v.error_code,
       error_message = v.error_message, next_attempt_at = NULL, updated_at = v.time, last_seq = v.seq,
       history = l.history || jsonb_build_array(v.entry)
     FROM jsonb_to_recordset(${tx.json(rows as never)}) AS v(id uuid, results jsonb, success_count integer,
       failure_count integer, provider_message_ids text[], attempt integer, test_mode boolean, error_code text,
       error_message text, time timestamptz, seq bigint, entry jsonb)
     WHERE l.id = v.id`;

/**
 * `push_notification_log`: one row per push command: queued → retrying (`push.attempt_failed`
 * from the handler runner, `push.partially_sent` from the handler) → sent | failed, each device's
 * latest FCM result, and the whole history. Outcomes find their row by `causationId`.
 */
export const pushNotificationLogProjection: FoldProjection<PushEvent> = {
  kind: 'fold',
  name: 'push_notification_log',
  stream: 'EVENTS',
  filterSubject: 'evt.push.>',
  reads: readsDomains(pushEvents),
  async apply(tx, events) {
    // Every command's row first, in one statement (its outcomes come after it in the log, so none
    // of this batch's updates can precede it). A command re-sent under the same id (idempotent
    // retry) is already here: keep the first.
    const requested = events
      .filter((e): e is Extract<Stored<PushEvent>, { type: 'push.requested' }> => e.type === 'push.requested')
      .map((e) => {
        const d = e.data;
        return {
          id: e.id,
          user_id: d.userId ?? null,
          token: d.token ?? null,
          title: d.title,
          body: d.body,
          data: d.data ? tx.json(d.data) : null,
          priority: d.priority,
          status: 'queued',
          created_at: e.time,
          updated_at: e.time,
          last_seq: e.seq,
          history: entry(tx, e),
        };
      });
    if (requested.length) await tx`INSERT INTO push_notification_log ${tx(requested)} ON CONFLICT (id) DO NOTHING`;
    // Sent together (pipelined on the transaction's connection, run in this order): one round trip
    // for the batch instead of one per event, which held the embedded store's only connection.
    const writes: Promise<unknown>[] = [];
    // A run of `push.sent` for distinct commands is one statement: each statement costs the
    // backend far more than its rows. A second outcome of the same command, or any other update,
    // ends the run first, so the statements still apply in event order.
    let sent = new Map<string, SentRow>();
    const flushSent = () => {
      if (sent.size === 0) return;
      writes.push(updateSent(tx, [...sent.values()]));
      sent = new Map();
    };
    for (const e of events) {
      const id = e.causationId;
      if (e.type !== 'push.sent' || id === undefined || sent.has(id)) flushSent();
      switch (e.type) {
        case 'push.requested':
          break;
        case 'push.attempt_failed': {
          const d = e.data;
          writes.push(tx`
            UPDATE push_notification_log SET status = 'retrying', attempts = greatest(attempts, ${d.attempt}),
              error_message = ${d.error}, next_attempt_at = ${d.nextAttemptAt}, updated_at = ${e.time}, last_seq = ${e.seq},
              history = history || ${entry(tx, e, { attempt: d.attempt, error: d.error })}
            WHERE id = ${id ?? null}`);
          break;
        }
        case 'push.partially_sent': {
          const d = e.data;
          writes.push(tx`
            UPDATE push_notification_log SET status = 'partially_sent', results = ${tx.json(d.results as never)},
              success_count = ${d.successCount}, failure_count = ${d.failureCount}, provider_message_ids = ${messageIds(d)}::text[],
              test_mode = ${d.testMode}, updated_at = ${e.time}, last_seq = ${e.seq},
              history = history || ${entry(tx, e, { attempt: d.attempt, successCount: d.successCount, pending: d.pending.length })}
            WHERE id = ${id ?? null}`);
          break;
        }
        case 'push.sent': {
          const d = e.data;
          const failure = d.results.find((r) => r.error)?.error;
          if (id === undefined) break;
          sent.set(id, {
            id,
            results: d.results,
            success_count: d.successCount,
            failure_count: d.failureCount,
            provider_message_ids: messageIds(d),
            attempt: d.attempt,
            test_mode: d.testMode,
            error_code: failure?.code ?? null,
            error_message: failure?.message ?? null,
            time: e.time,
            seq: e.seq,
            entry: { type: e.type, time: e.time, seq: e.seq, successCount: d.successCount, failureCount: d.failureCount },
          });
          break;
        }
        case 'push.failed': {
          const d = e.data;
          writes.push(tx`
            UPDATE push_notification_log SET status = 'failed', error_message = ${d.reason}, error_code = ${d.code ?? null},
              results = coalesce(${d.results ? tx.json(d.results as never) : null}, results),
              success_count = coalesce(${d.successCount ?? null}, success_count),
              failure_count = coalesce(${d.failureCount ?? null}, failure_count),
              attempts = coalesce(${d.attempt ?? null}::int, attempts + 1), test_mode = ${d.testMode}, next_attempt_at = NULL,
              updated_at = ${e.time}, last_seq = ${e.seq},
              history = history || ${entry(tx, e, { reason: d.reason, code: d.code })}
            WHERE id = ${id ?? null}`);
          break;
        }
        // Tokens are `device_tokens`' (`evt.push.tokens`).
        case 'push.token_registered':
        case 'push.token_revoked':
          break;
        default:
          unhandledEvent(e);
      }
    }
    flushSent();
    await Promise.all(writes);
  },
  async reset(tx) {
    await tx`TRUNCATE push_notification_log`;
  },
};
