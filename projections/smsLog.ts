import type { SmsLogRow } from '../core/readModels/smsLog.js';
import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import { type CommandEvent, commandEvents } from '../schemas/events/command.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type Money, type SmsEvent as SmsDomainEvent, smsEvents } from '../schemas/events/sms.js';

/** The SMS domain's events, and an operator's retry of a dead-lettered SMS command. */
type SmsEvent = SmsDomainEvent | CommandEvent;

type Folded =
  | 'id'
  | 'status'
  | 'provider'
  | 'provider_message_id'
  | 'provider_status'
  | 'segments'
  | 'currency'
  | 'error_code'
  | 'error_message'
  | 'attempts'
  | 'test_mode';
/**
 * The columns of `sms_log` a later event can change, as the fold holds them: read back from the
 * table, or set from an event (times as ISO text, amounts and positions as numbers).
 */
export type SmsLogFoldRow = Pick<SmsLogRow, Folded> & {
  cost_minor: string | number | null;
  sent_at: Date | string | null;
  delivered_at: Date | string | null;
  updated_at: Date | string;
  last_seq: string | number;
  history: unknown[];
};

/** States a delivery report set; sending outcomes arriving after one (out of order) do not undo it. */
const REPORTED = new Set(['delivered', 'undelivered']);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const historyEntry = (e: Stored<SmsEvent>, withData: boolean) => {
  if (!withData) return { type: e.type, time: e.time, seq: e.seq };
  // A retry carries the whole command again: the history names the dead letter and who asked.
  const data = e.type === 'command.retried' ? { deadLetter: e.data.deadLetter, requestedBy: e.data.requestedBy } : e.data;
  return { type: e.type, time: e.time, seq: e.seq, data };
};

/**
 * The command an outcome belongs to: `smsId` in our events, the cause for the runner's
 * `attempt_failed`; undefined for events that are not an outcome of one command.
 */
const smsIdOf = (e: SmsEvent): string | undefined => {
  let id: string | undefined;
  switch (e.type) {
    case 'sms.attempt_failed':
      id = e.causationId;
      break;
    case 'command.retried':
      id = e.data.command.type === 'sms.requested' ? e.data.command.id : undefined;
      break;
    case 'sms.sent':
    case 'sms.failed':
    case 'sms.refused':
    case 'sms.delivered':
    case 'sms.undelivered':
    case 'sms.status_reported':
      id = e.data.smsId;
      break;
    // The command itself is inserted, not folded; opt-outs are `sms_opt_outs`.
    case 'sms.requested':
    case 'sms.opted_out':
    case 'sms.opted_in':
      return undefined;
    default:
      return unhandledEvent(e);
  }
  return id && UUID.test(id) ? id : undefined;
};

const setCost = (row: SmsLogFoldRow, cost: Money | null | undefined) => {
  if (!cost) return;
  row.cost_minor = cost.amountMinor;
  row.currency = cost.currency;
};

/**
 * One event into a row, pure: queued → sent → delivered | undelivered, or failed, or refused.
 * Reports may overtake the `sms.sent` they follow (a callback folded first): a sending outcome
 * then fills in the provider fields and leaves the reported state.
 */
export const evolveSmsLog = (row: SmsLogFoldRow, e: Stored<SmsEvent>): SmsLogFoldRow => {
  const next: SmsLogFoldRow = { ...row, updated_at: e.time, last_seq: e.seq, history: [...row.history, historyEntry(e, true)] };
  switch (e.type) {
    case 'sms.attempt_failed': {
      const d = e.data;
      next.attempts = Math.max(row.attempts, d.attempt);
      next.error_message = d.error;
      return next;
    }
    case 'sms.sent': {
      const d = e.data;
      if (!REPORTED.has(row.status)) next.status = 'sent';
      next.provider = d.provider;
      next.provider_message_id = d.providerMessageId;
      next.segments = d.segments;
      setCost(next, d.cost);
      next.test_mode = d.testMode;
      next.attempts = Math.max(row.attempts, d.attempt);
      next.sent_at = e.time;
      return next;
    }
    case 'sms.failed': {
      const d = e.data;
      if (row.status === 'queued') next.status = 'failed';
      next.attempts = row.attempts + 1;
      next.error_code = d.code ?? null;
      next.error_message = d.reason;
      if (d.provider && !row.provider) next.provider = d.provider;
      return next;
    }
    case 'sms.refused': {
      const d = e.data;
      if (row.status === 'queued') next.status = 'refused';
      next.error_code = d.reason;
      next.error_message = d.detail;
      return next;
    }
    case 'sms.delivered':
    case 'sms.undelivered': {
      const d = e.data;
      next.status = e.type === 'sms.delivered' ? 'delivered' : 'undelivered';
      next.provider = row.provider ?? d.provider;
      next.provider_message_id = row.provider_message_id ?? d.providerMessageId;
      next.provider_status = d.providerStatus;
      next.delivered_at = e.type === 'sms.delivered' ? d.at : null;
      setCost(next, d.cost);
      if (e.type === 'sms.undelivered') {
        next.error_code = e.data.errorCode ?? d.providerStatus;
        next.error_message = e.data.errorMessage ?? `not delivered (${d.provider} status ${d.providerStatus})`;
      }
      return next;
    }
    case 'sms.status_reported': {
      const d = e.data;
      if (!REPORTED.has(row.status)) next.provider_status = d.providerStatus;
      setCost(next, d.cost);
      return next;
    }
    // Queued again by an operator (`fleetgate dlq retry`): its new outcome follows.
    case 'command.retried':
      if (row.status === 'failed') next.status = 'queued';
      return next;
    // Not outcomes of a command (`smsIdOf` leaves them out): the row stays as it is.
    case 'sms.requested':
    case 'sms.opted_out':
    case 'sms.opted_in':
      return row;
    default:
      return unhandledEvent(e);
  }
};

/**
 * `sms_log`: one row per SMS command with its current state and its whole history (every event
 * with its data). Rows touched by a batch are read once, folded in memory and written once.
 */
export const smsLogProjection: FoldProjection<SmsEvent> = {
  kind: 'fold',
  name: 'sms_log',
  stream: 'EVENTS',
  filterSubject: 'evt.sms.>',
  reads: readsDomains(smsEvents, commandEvents),
  async apply(tx, events) {
    const requested = events
      .filter((e) => e.type === 'sms.requested')
      .map((e) => {
        const d = e.data;
        return {
          id: e.id,
          recipient: d.to,
          message: d.text,
          priority: d.priority,
          status: 'queued',
          provider: d.provider ?? null,
          source: d.via,
          requested_by: d.requestedBy,
          created_at: e.time,
          updated_at: e.time,
          last_seq: e.seq,
          history: tx.json([historyEntry(e, false)] as never),
        };
      });
    // A command re-sent under the same id (idempotent retry) is already here: keep the first.
    if (requested.length > 0) await tx`INSERT INTO sms_log ${tx(requested)} ON CONFLICT (id) DO NOTHING`;

    const outcomes = events.filter((e) => smsIdOf(e) !== undefined);
    if (outcomes.length === 0) return;
    const ids = [...new Set(outcomes.map((e) => smsIdOf(e) as string))];
    const rows = await tx<SmsLogFoldRow[]>`
      SELECT id, status, provider, provider_message_id, provider_status, segments, cost_minor, currency, error_code,
             error_message, attempts, test_mode, sent_at, delivered_at, updated_at, last_seq, history
      FROM sms_log WHERE id IN ${tx(ids)}`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    const changed = new Map<string, SmsLogFoldRow>();
    for (const e of outcomes) {
      const id = smsIdOf(e) as string;
      const row = changed.get(id) ?? byId.get(id);
      // An outcome without its command (the command is older than the log kept): nothing to fold into.
      if (!row) continue;
      changed.set(id, evolveSmsLog(row, e));
    }
    if (changed.size === 0) return;
    // One statement for the batch (a row per changed SMS from one JSON parameter): each statement
    // costs the Postgres backend far more than its rows do.
    await tx`
      UPDATE sms_log AS s SET status = v.status, provider = v.provider, provider_message_id = v.provider_message_id,
        provider_status = v.provider_status, segments = v.segments, cost_minor = v.cost_minor, currency = v.currency,
        error_code = v.error_code, error_message = v.error_message, attempts = v.attempts, test_mode = v.test_mode,
        sent_at = v.sent_at, delivered_at = v.delivered_at, updated_at = v.updated_at, last_seq = v.last_seq,
        history = v.history
      FROM jsonb_to_recordset(${tx.json([...changed.values()] as never)}) AS v(
        id uuid, status text, provider text, provider_message_id text, provider_status text, segments integer,
        cost_minor bigint, currency text, error_code text, error_message text, attempts integer, test_mode boolean,
        sent_at timestamptz, delivered_at timestamptz, updated_at timestamptz, last_seq bigint, history jsonb)
      WHERE s.id = v.id`;
  },
  async reset(tx) {
    await tx`TRUNCATE sms_log`;
  },
};
