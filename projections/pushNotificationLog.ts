import type { PushNotificationLogHistoryEntry } from '../core/readModels/pushNotificationLog.js';
import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type PushEvent, type PushPartiallySent, type PushSent, pushEvents } from '../schemas/events/push.js';

type EntryDetail = Omit<PushNotificationLogHistoryEntry, 'type' | 'time' | 'seq'>;
const entry = (tx: TransactionSql, e: Stored<PushEvent>, detail: EntryDetail = {}) =>
  tx.json([{ type: e.type, time: e.time, seq: e.seq, ...detail }] as never);

const messageIds = (d: PushSent | PushPartiallySent) => d.results.flatMap((r) => (r.messageId ? [r.messageId] : []));

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
    // Sent together (pipelined on the transaction's connection, run in this order): one round trip
    // for the batch instead of one per event, which held the embedded store's only connection.
    const writes: Promise<unknown>[] = [];
    for (const e of events) {
      const id = e.causationId;
      switch (e.type) {
        case 'push.requested': {
          const d = e.data;
          // A command re-sent under the same id (idempotent retry) is already here: keep the first.
          writes.push(tx`
            INSERT INTO push_notification_log (id, user_id, token, title, body, data, priority, status, created_at, updated_at, last_seq, history)
            VALUES (${e.id}, ${d.userId ?? null}, ${d.token ?? null}, ${d.title}, ${d.body}, ${d.data ? tx.json(d.data) : null},
              ${d.priority}, 'queued', ${e.time}, ${e.time}, ${e.seq}, ${entry(tx, e)})
            ON CONFLICT (id) DO NOTHING`);
          break;
        }
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
          writes.push(tx`
            UPDATE push_notification_log SET status = 'sent', results = ${tx.json(d.results as never)},
              success_count = ${d.successCount}, failure_count = ${d.failureCount}, provider_message_ids = ${messageIds(d)}::text[],
              attempts = greatest(attempts, ${d.attempt}), test_mode = ${d.testMode}, sent_at = ${e.time},
              error_code = ${failure?.code ?? null}, error_message = ${failure?.message ?? null}, next_attempt_at = NULL,
              updated_at = ${e.time}, last_seq = ${e.seq},
              history = history || ${entry(tx, e, { successCount: d.successCount, failureCount: d.failureCount })}
            WHERE id = ${id ?? null}`);
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
    await Promise.all(writes);
  },
  async reset(tx) {
    await tx`TRUNCATE push_notification_log`;
  },
};
