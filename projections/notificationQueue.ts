import type { NotificationQueueRow } from '../core/readModels/notificationQueue.js';
import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { type CommandEvent, commandEvents } from '../schemas/events/command.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type EmailEvent, emailEvents } from '../schemas/events/email.js';
import type { AttemptFailed, Priority } from '../schemas/events/envelope.js';
import { type PushEvent, pushEvents } from '../schemas/events/push.js';
import { type SmsEvent, smsEvents } from '../schemas/events/sms.js';
import { type TelegramEvent, telegramEvents } from '../schemas/events/telegram.js';
import type { NotificationChannel } from '../schemas/http/notifications.js';

type ChannelEvent = SmsEvent | EmailEvent | PushEvent | TelegramEvent;
/** The channels' events, and an operator's retry of a dead-lettered command (it reopens the row). */
type QueueEvent = ChannelEvent | CommandEvent;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What an event means for its command's time in the queue: queued, one failed attempt, or the end. */
type Step =
  | { kind: 'requested'; priority: Priority }
  | { kind: 'attempt_failed'; failure: AttemptFailed }
  | { kind: 'sent' | 'failed' | 'refused' }
  | undefined;

const stepOf = (e: ChannelEvent): Step => {
  switch (e.type) {
    case 'sms.requested':
    case 'email.requested':
    case 'push.requested':
    case 'telegram.requested':
      return { kind: 'requested', priority: e.data.priority ?? 'normal' };
    case 'sms.attempt_failed':
    case 'email.attempt_failed':
    case 'push.attempt_failed':
    case 'telegram.attempt_failed':
      return { kind: 'attempt_failed', failure: e.data };
    case 'sms.sent':
    case 'email.sent':
    case 'push.sent':
    case 'telegram.sent':
      return { kind: 'sent' };
    case 'sms.failed':
    case 'email.failed':
    case 'push.failed':
    case 'telegram.failed':
      return { kind: 'failed' };
    case 'sms.refused':
      return { kind: 'refused' };
    // After the end (delivery reports), or not about a command in the queue (opt-outs, tokens,
    // link codes, blocked chats); a partial push send is still being retried by its handler.
    case 'sms.delivered':
    case 'sms.undelivered':
    case 'sms.status_reported':
    case 'sms.opted_out':
    case 'sms.opted_in':
    case 'push.token_registered':
    case 'push.token_revoked':
    case 'push.partially_sent':
    case 'telegram.link_code_requested':
    case 'telegram.chat_blocked':
    case 'telegram.linked':
    case 'telegram.unlinked':
    case 'telegram.alert_subscription_changed':
      return undefined;
    default:
      return unhandledEvent(e);
  }
};

const channelOf = (e: ChannelEvent) => e.type.slice(0, e.type.indexOf('.')) as NotificationChannel;

/** Optional fields some channels' outcomes carry (`email.sent` says which attempt ended it; `sms.refused` a detail). */
const field = (data: object, key: string): unknown => Reflect.get(data, key);

/** A new row as the fold inserts it: times as ISO text, the position as a number. */
type QueuedRow = Pick<NotificationQueueRow, 'id' | 'channel' | 'priority' | 'status'> & {
  created_at: string;
  updated_at: string;
  last_seq: number;
};

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

const REQUESTED: ReadonlySet<string> = new Set(['sms.requested', 'email.requested', 'push.requested', 'telegram.requested']);

/** Folds channel events: new rows for commands, patches for their attempts and outcomes. */
const foldSteps = async (tx: TransactionSql, events: readonly Stored<ChannelEvent>[]) => {
  const queued: QueuedRow[] = [];
  const patches = new Map<string, Patch>();
  for (const e of events) {
    const step = stepOf(e);
    if (step === undefined) continue;
    if (step.kind === 'requested') {
      queued.push({
        id: e.id,
        channel: channelOf(e),
        priority: step.priority,
        status: 'queued',
        created_at: e.time,
        updated_at: e.time,
        last_seq: e.seq,
      });
      continue;
    }
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
    if (step.kind === 'attempt_failed') {
      p.failedAttempts = Math.max(p.failedAttempts, step.failure.attempt);
      if (p.status === 'retrying') {
        p.nextAttemptAt = step.failure.nextAttemptAt;
        p.lastError = step.failure.error;
      }
    } else if (p.status === 'retrying') {
      p.status = step.kind;
      // Channels that say which attempt ended it (`email.sent`) are taken at their word.
      const attempt = field(e.data, 'attempt');
      if (typeof attempt === 'number' && Number.isInteger(attempt)) p.failedAttempts = Math.max(p.failedAttempts, attempt - 1);
      p.nextAttemptAt = null;
      const reason = field(e.data, 'reason');
      const detail = field(e.data, 'detail');
      if (step.kind !== 'sent' && typeof reason === 'string')
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
};

/**
 * `notification_queue`: one row per SMS, e-mail, push and Telegram command, with what the handler
 * runner is doing about it — queued, retrying (attempts, next attempt, last error), or done (sent,
 * failed, refused). Folded from `<channel>.requested`, the runner's `<channel>.attempt_failed`
 * and each channel's outcome events (`sent`, `failed`, `refused`), linked by causation id. A
 * failed command an operator retries (`command.retried`) is `retrying` again until its new outcome.
 */
export const notificationQueueProjection: FoldProjection<QueueEvent> = {
  kind: 'fold',
  name: 'notification_queue',
  stream: 'EVENTS',
  filterSubject: 'evt.>',
  reads: readsDomains(smsEvents, emailEvents, pushEvents, telegramEvents, commandEvents),
  async apply(tx, events) {
    // A retry reopens a finished row: the events before it are folded first, then the row is
    // reopened, then the rest (retries are rare; a batch without one is folded in one go).
    let from = 0;
    for (const [i, e] of events.entries()) {
      if (e.type !== 'command.retried') continue;
      await foldSteps(tx, events.slice(from, i) as Stored<ChannelEvent>[]);
      from = i + 1;
      const command = e.data.command;
      if (!REQUESTED.has(command.type) || !UUID.test(command.id)) continue;
      await tx`UPDATE notification_queue SET status = 'retrying', next_attempt_at = NULL, updated_at = ${e.time},
                 last_seq = ${e.seq}
               WHERE id = ${command.id} AND status = 'failed'`;
    }
    await foldSteps(tx, events.slice(from) as Stored<ChannelEvent>[]);
  },
  async reset(tx) {
    await tx`TRUNCATE notification_queue`;
  },
};
