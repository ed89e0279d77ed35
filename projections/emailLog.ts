import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { type CommandEvent, commandEvents } from '../schemas/events/command.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type EmailEvent as EmailDomainEvent, type EmailRequested, emailEvents } from '../schemas/events/email.js';

/** The e-mail domain's events, and an operator's retry of a dead-lettered e-mail command. */
type EmailEvent = EmailDomainEvent | CommandEvent;

type Json = Parameters<TransactionSql['json']>[0];
const entry = (e: Stored<EmailEvent>, data?: object): Json =>
  ({ type: e.type, time: e.time, seq: e.seq, ...(data ? { data } : {}) }) as Json;

/** Decoded size from the base64 length: the content itself is never stored. */
const decodedSize = (b64: string) => (b64.length / 4) * 3 - (b64.endsWith('==') ? 2 : b64.endsWith('=') ? 1 : 0);

const str = (v: unknown) => (typeof v === 'string' ? v : null);

/**
 * Read defensively: the API validates commands, but a malformed one from another producer must
 * not stop the read model (the handler fails it with INVALID_COMMAND, and that lands here too).
 */
const requestedRow = (tx: TransactionSql, e: Stored<EmailEvent> & { type: 'email.requested' }) => {
  const d: Partial<EmailRequested> = e.data ?? {};
  const files = (Array.isArray(d.attachments) ? d.attachments : []).map((a) => ({
    filename: String(a?.filename ?? ''),
    contentType: String(a?.contentType ?? ''),
    size: typeof a?.contentBase64 === 'string' ? decodedSize(a.contentBase64) : 0,
  }));
  const locale = d.data?.locale;
  return {
    id: e.id,
    recipient: str(d.to) ?? '',
    subject: str(d.subject),
    template: str(d.template),
    locale: str(locale),
    status: 'queued',
    attachments: files.length,
    attachment_files: tx.json(files),
    priority: str(d.priority) ?? 'normal',
    source: str(d.via),
    requested_by: str(d.requestedBy),
    created_at: e.time,
    updated_at: e.time,
    last_seq: e.seq,
    history: tx.json([entry(e)]),
  };
};

/** What an `email.sent` writes to its row. */
interface SentRow {
  id: string;
  attempt: number;
  message_id: string;
  response: string;
  accepted: unknown;
  rejected: unknown;
  test_mode: boolean;
  subject: string;
  template: string | null;
  locale: string | null;
  time: string;
  seq: number;
  entry: unknown;
}

/** `email.sent` for several commands (distinct ids) in one statement, the rows from one JSON parameter. */
const updateSent = (tx: TransactionSql, rows: SentRow[]) =>
  tx`UPDATE email_log AS l SET status = 'sent', attempts = greatest(l.attempts + 1, v.attempt),
       provider_message_id = v.message_id, smtp_response = v.response, accepted = v.accepted, rejected = v.rejected,
       test_mode = v.test_mode, subject = v.subject, template = coalesce(v.template, l.template),
       locale = coalesce(v.locale, l.locale), error_message = NULL, error_code = NULL, next_attempt_at = NULL,
       sent_at = v.time, updated_at = v.time, last_seq = v.seq, history = l.history || jsonb_build_array(v.entry)
     FROM jsonb_to_recordset(${tx.json(rows as never)}) AS v(id uuid, attempt integer, message_id text, response text,
       accepted jsonb, rejected jsonb, test_mode boolean, subject text, template text, locale text, time timestamptz,
       seq bigint, entry jsonb)
     WHERE l.id = v.id`;

/**
 * `email_log`: one row per e-mail command. `queued` → `sent` | `failed`, and `failed` → `queued`
 * again when an operator retries its dead letter (`command.retried`); every failed attempt
 * the runner records (`email.attempt_failed`) and the outcome count as attempts, and each event
 * is appended to `history`. Outcomes find their row by `causationId` (the command's id).
 */
export const emailLogProjection: FoldProjection<EmailEvent> = {
  kind: 'fold',
  name: 'email_log',
  stream: 'EVENTS',
  filterSubject: 'evt.email.>',
  reads: readsDomains(emailEvents, commandEvents),
  async apply(tx, events) {
    const requested = events
      .filter((e): e is Extract<Stored<EmailEvent>, { type: 'email.requested' }> => e.type === 'email.requested')
      .map((e) => requestedRow(tx, e));
    // A command re-sent under the same id (idempotent retry) is already here: keep the first.
    if (requested.length) await tx`INSERT INTO email_log ${tx(requested)} ON CONFLICT (id) DO NOTHING`;
    // Sent together (pipelined on the transaction's connection, run in this order): one round trip
    // for the batch instead of one per event, which held the embedded store's only connection.
    const updates: Promise<unknown>[] = [];
    // A run of `email.sent` for distinct commands is one statement: each statement costs the
    // backend far more than its rows. A second outcome of the same command, or any other update,
    // ends the run first, so the statements still apply in event order.
    let sent = new Map<string, SentRow>();
    const flushSent = () => {
      if (sent.size === 0) return;
      updates.push(updateSent(tx, [...sent.values()]));
      sent = new Map();
    };
    for (const e of events) {
      const id = e.causationId;
      if (id === undefined) continue;
      if (e.type !== 'email.sent' || sent.has(id)) flushSent();
      switch (e.type) {
        case 'email.attempt_failed': {
          const d = e.data;
          updates.push(tx`UPDATE email_log SET attempts = attempts + 1, error_message = ${d.error}, error_code = NULL,
                   next_attempt_at = ${d.nextAttemptAt}, updated_at = ${e.time}, last_seq = ${e.seq},
                   history = history || ${tx.json([entry(e, d)])}
                 WHERE id = ${id} AND status = 'queued'`);
          break;
        }
        case 'email.sent': {
          const d = e.data;
          sent.set(id, {
            id,
            attempt: d.attempt,
            message_id: d.messageId,
            response: d.response,
            accepted: d.accepted,
            rejected: d.rejected,
            test_mode: d.testMode,
            subject: d.subject,
            template: d.template ?? null,
            locale: d.locale ?? null,
            time: e.time,
            seq: e.seq,
            entry: {
              type: e.type,
              time: e.time,
              seq: e.seq,
              data: { messageId: d.messageId, response: d.response, testMode: d.testMode },
            },
          });
          break;
        }
        case 'email.failed': {
          const d = e.data;
          updates.push(tx`UPDATE email_log SET status = 'failed', attempts = attempts + 1, error_message = ${d.reason},
                   error_code = ${d.code ?? null}, test_mode = coalesce(${d.testMode ?? null}, test_mode),
                   next_attempt_at = NULL, updated_at = ${e.time}, last_seq = ${e.seq},
                   history = history || ${tx.json([entry(e, d)])}
                 WHERE id = ${id}`);
          break;
        }
        // The command is queued again: its new outcome follows (a failure counts as attempts again).
        case 'command.retried': {
          const d = e.data;
          if (d.command.type !== 'email.requested') break;
          updates.push(tx`UPDATE email_log SET status = 'queued', next_attempt_at = NULL, updated_at = ${e.time},
                   last_seq = ${e.seq},
                   history = history || ${tx.json([entry(e, { deadLetter: d.deadLetter, requestedBy: d.requestedBy })])}
                 WHERE id = ${d.command.id} AND status = 'failed'`);
          break;
        }
        // Inserted above.
        case 'email.requested':
          break;
        default:
          unhandledEvent(e);
      }
    }
    flushSent();
    await Promise.all(updates);
  },
  async reset(tx) {
    await tx`TRUNCATE email_log`;
  },
};
