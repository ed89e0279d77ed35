import type { EmailStatus } from '../../schemas/http/email.js';
import type { Sql } from '../stores/postgres.js';

/** One event in a row's `history`, as `projections/emailLog.ts` appends it. */
export interface EmailLogHistoryEntry {
  type: string;
  time: string;
  seq: number;
  data?: Record<string, unknown>;
}

/**
 * A row of `email_log` (`schemas/postgres/003_crm_read_models.sql`, 005, 009) as the `postgres`
 * client reads it: timestamps as `Date`, `bigint` as text. Written only by
 * `projections/emailLog.ts`; read by the API and the tests through the queries below.
 */
export interface EmailLogRow {
  id: string;
  recipient: string;
  subject: string | null;
  template: string | null;
  locale: string | null;
  /** queued, sent, failed */
  status: string;
  priority: EmailStatus['priority'];
  provider_message_id: string | null;
  smtp_response: string | null;
  accepted: string[];
  rejected: string[];
  /** How many files were attached; their names, types and decoded sizes (never the content). */
  attachments: number;
  attachment_files: EmailStatus['attachments'];
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  next_attempt_at: Date | null;
  test_mode: boolean;
  source: string | null;
  requested_by: string | null;
  created_at: Date;
  sent_at: Date | null;
  updated_at: Date;
  last_seq: string;
  history: EmailLogHistoryEntry[];
}

/** The e-mail command `id` (the `email.requested` event id). */
export const findEmailLog = async (sql: Sql, id: string): Promise<EmailLogRow | undefined> =>
  (await sql<EmailLogRow[]>`SELECT * FROM email_log WHERE id = ${id}`)[0];

/** Only the status of e-mail `id`: the API polls it while a caller waits for the outcome. */
export const findEmailLogStatus = async (sql: Sql, id: string): Promise<string | undefined> =>
  (await sql<Pick<EmailLogRow, 'status'>[]>`SELECT status FROM email_log WHERE id = ${id}`)[0]?.status;
