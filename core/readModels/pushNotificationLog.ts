import type { Priority } from '../../schemas/events/envelope.js';
import type { PushRequested, PushTokenResult } from '../../schemas/events/push.js';
import type { Sql } from '../stores/postgres.js';

/** One event in a row's `history`, as `projections/pushNotificationLog.ts` appends it: its details inline. */
export interface PushNotificationLogHistoryEntry {
  type: string;
  time: string;
  seq: number;
  attempt?: number;
  error?: string;
  successCount?: number;
  failureCount?: number;
  /** Tokens left for the next attempt after a partial send. */
  pending?: number;
  reason?: string;
  code?: string;
}

/**
 * A row of `push_notification_log` (`schemas/postgres/003_crm_read_models.sql`, 010) as the
 * `postgres` client reads it: timestamps as `Date`, `bigint` as text. Written only by
 * `projections/pushNotificationLog.ts`; read by the tests through the query below.
 */
export interface PushNotificationLogRow {
  id: string;
  user_id: string | null;
  token: string | null;
  title: string;
  body: string;
  data: Exclude<PushRequested['data'], undefined> | null;
  priority: Priority;
  /** queued, retrying, partially_sent, sent, failed */
  status: string;
  success_count: number;
  failure_count: number;
  provider_message_ids: string[] | null;
  /** Each device's latest FCM result. */
  results: PushTokenResult[] | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  next_attempt_at: Date | null;
  test_mode: boolean;
  created_at: Date;
  sent_at: Date | null;
  updated_at: Date;
  last_seq: string;
  history: PushNotificationLogHistoryEntry[];
}

/** The push command `id` (the `push.requested` event id). */
export const findPushNotificationLog = async (sql: Sql, id: string): Promise<PushNotificationLogRow | undefined> =>
  (await sql<PushNotificationLogRow[]>`SELECT * FROM push_notification_log WHERE id = ${id}`)[0];
