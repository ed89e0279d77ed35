import type { Priority } from '../../schemas/events/envelope.js';
import type { NotificationChannel } from '../../schemas/http/notifications.js';
import type { Sql } from '../stores/postgres.js';

/**
 * A row of `notification_queue` (`schemas/postgres/003_crm_read_models.sql`) as the `postgres`
 * client reads it: timestamps as `Date`, `bigint` as text. Written only by
 * `projections/notificationQueue.ts`; read by the API through the queries below.
 */
export interface NotificationQueueRow {
  id: string;
  channel: NotificationChannel;
  priority: Priority;
  /** queued, retrying, sent, failed, refused */
  status: string;
  attempts: number;
  max_attempts: number | null;
  next_attempt_at: Date | null;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  last_seq: string;
}

/** Unfinished commands of one channel, priority and status: how many, and since when the oldest waits. */
export interface NotificationQueueDepth extends Pick<NotificationQueueRow, 'channel' | 'priority' | 'status'> {
  /** `count(*)`, a bigint: text. */
  count: string;
  oldest: Date;
}

/** A queued command as `GET /api/v1/notifications/queue` lists it. */
export type NotificationQueueItem = Omit<NotificationQueueRow, 'max_attempts' | 'last_seq'>;

/** The unfinished (queued or retrying) commands of `channels`, counted per channel, priority and status. */
export const notificationQueueDepth = (sql: Sql, channels: readonly NotificationChannel[]): Promise<NotificationQueueDepth[]> =>
  sql<NotificationQueueDepth[]>`
    SELECT channel, priority, status, count(*) AS count, min(created_at) AS oldest FROM notification_queue
    WHERE status IN ('queued', 'retrying') AND channel IN ${sql(channels)}
    GROUP BY channel, priority, status ORDER BY channel, priority, status`;

/** The newest `limit` commands of `channels`, only those in `status` when given. */
export const listNotificationQueue = (
  sql: Sql,
  filter: { channels: readonly NotificationChannel[]; status?: string; limit: number },
): Promise<NotificationQueueItem[]> => {
  const { channels, status, limit } = filter;
  return sql<NotificationQueueItem[]>`
    SELECT id, channel, priority, status, attempts, next_attempt_at, last_error, created_at, updated_at FROM notification_queue
    WHERE channel IN ${sql(channels)} ${status ? sql`AND status = ${status}` : sql``}
    ORDER BY created_at DESC LIMIT ${limit}`;
};
