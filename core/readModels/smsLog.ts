import type { Priority } from '../../schemas/events/envelope.js';
import type { Sql, TransactionSql } from '../stores/postgres.js';

/** One event in a row's `history`, as `projections/smsLog.ts` appends it. */
export interface SmsLogHistoryEntry {
  type: string;
  time: string;
  seq: number;
  data?: Record<string, unknown>;
}

/**
 * A row of `sms_log` (`schemas/postgres/003_crm_read_models.sql`, 005, 008) as the `postgres` client
 * reads it: timestamps as `Date`, `bigint` as text. Written only by `projections/smsLog.ts`;
 * read by the API and the tests through the queries below.
 */
export interface SmsLogRow {
  id: string;
  recipient: string;
  message: string;
  priority: Priority;
  /** queued, sent, delivered, undelivered, failed, refused */
  status: string;
  provider: string | null;
  provider_message_id: string | null;
  provider_status: string | null;
  segments: number | null;
  cost_minor: string | null;
  currency: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  test_mode: boolean;
  source: string | null;
  requested_by: string | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  last_seq: string;
  history: SmsLogHistoryEntry[];
}

/** The SMS command `id` (the `sms.requested` event id). */
export const findSmsLog = async (sql: Sql | TransactionSql, id: string): Promise<SmsLogRow | undefined> =>
  (await sql<SmsLogRow[]>`SELECT * FROM sms_log WHERE id = ${id}`)[0];

/** The newest SMS a provider knows by `providerMessageId` (the legacy status action asks by it). */
export const findSmsLogByProviderMessageId = async (sql: Sql, providerMessageId: string): Promise<SmsLogRow | undefined> =>
  (
    await sql<SmsLogRow[]>`
      SELECT * FROM sms_log WHERE provider_message_id = ${providerMessageId} ORDER BY created_at DESC LIMIT 1`
  )[0];
