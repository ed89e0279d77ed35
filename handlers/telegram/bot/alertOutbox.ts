import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../../core/logger.js';
import type { Sql } from '../../../core/stores/postgres.js';
import type { TelegramAlertKind } from '../../../schemas/events/telegram.js';
import { botApiError, TelegramSendError } from '../port.js';
import { type Lang, langOf, texts } from './texts.js';

/** Kinds a company or driver chat may get (about its own vehicles and payments); the rest are the gateway's own, for staff. */
export const SCOPED_ALERT_KINDS: ReadonlySet<TelegramAlertKind> = new Set([
  'payment_failed',
  'payment_refunded',
  'device_offline',
  'speeding',
]);

/** Whether a chat of `role` may subscribe to `kind`. */
export const roleMayGet = (role: string | null, kind: TelegramAlertKind) =>
  role === 'admin' || role === 'dispatcher' || ((role === 'company' || role === 'driver') && SCOPED_ALERT_KINDS.has(kind));

/** One alert, as every chat it goes to sees it. */
export interface Alert {
  /** Unique per fact (the event id, `dlq:<seq>`): a chat gets it once. */
  id: string;
  kind: TelegramAlertKind;
  text: Record<Lang, string>;
  /** The companies and drivers it concerns: their chats get it besides admins and dispatchers. */
  companyIds: string[];
  driverIds: string[];
}

/**
 * Accepts an alert for every linked chat subscribed to its kind whose scope covers it: a row
 * per (alert, chat) in `telegram_alerts_sent`, the outbox the sender works through. Accepted
 * is kept: a crash loses nothing, and a redelivered alert is not accepted twice.
 */
export const acceptAlert = async (sql: Sql, a: Alert): Promise<number> => {
  const scoped = SCOPED_ALERT_KINDS.has(a.kind);
  const rows = await sql<{ chat_id: string }[]>`
    INSERT INTO telegram_alerts_sent (alert_id, chat_id, kind, text, language)
    SELECT ${a.id}, u.chat_id, ${a.kind},
      CASE WHEN u.language ~* '^(ru|uk|be|kk)' THEN ${a.text.ru} ELSE ${a.text.en} END, u.language
    FROM telegram_users u
    WHERE u.user_id IS NOT NULL AND u.linked_at IS NOT NULL AND u.blocked_at IS NULL
      AND u.preferences -> 'alerts' -> ${a.kind} = 'true'::jsonb
      AND (u.role IN ('admin', 'dispatcher')
        OR (${scoped} AND u.role = 'company' AND u.company_id = ANY(${a.companyIds}::text[]))
        OR (${scoped} AND u.role = 'driver' AND u.driver_id = ANY(${a.driverIds}::text[])))
    ON CONFLICT (alert_id, chat_id) DO NOTHING
    RETURNING chat_id`;
  return rows.length;
};

/** The latest alerts accepted for a chat (`/alerts`), newest first. */
export const latestAlerts = async (sql: Sql, chatId: number, limit = 5) =>
  sql<{ text: string; accepted_at: Date; sent_at: Date | null }[]>`
    SELECT text, accepted_at, sent_at FROM telegram_alerts_sent
    WHERE chat_id = ${chatId} AND text IS NOT NULL ORDER BY accepted_at DESC LIMIT ${limit}`;

/** One message for a chat's waiting alerts: the alert itself, or a count and the first ten. */
export const summaryText = (batch: { text: string }[], lang: Lang) => {
  if (batch.length === 1) return batch[0]?.text ?? '';
  const t = texts(lang);
  const shown = batch.slice(0, 10).map((b) => b.text);
  const more = batch.length - shown.length;
  return [t.alertCount(batch.length), ...shown, ...(more > 0 ? [t.andMore(more)] : [])].join('\n').slice(0, 4096);
};

export interface AlertSenderOptions {
  sql: Sql;
  logger: Logger;
  /** Sends one message; undefined in test mode (the alerts are then only marked sent). */
  send: () => Promise<((chatId: number, text: string) => Promise<void>) | undefined>;
  /** Messages a second for all processes together (Telegram: about 30); 0 = no limit. */
  globalPerSecond: number;
  /** One message per chat per window (Telegram: one a second). */
  windowMs?: number;
  /** How often the outbox is looked at. */
  tickMs?: number;
}

/**
 * Works through the alert outbox in every process at once: a chat is taken for one window
 * (`telegram_alert_chats.next_at`, so one process sends to it), its waiting alerts go as one
 * message (a summary when there are several), and each message takes a slot of the global budget (`telegram_send_budget`, shared by the processes). Alerts are marked sent
 * after Telegram accepted the message: a crash in between sends that summary again.
 */
export const alertSender = (opts: AlertSenderOptions) => {
  const { sql, logger } = opts;
  const windowMs = opts.windowMs ?? 1_000;
  const tickMs = opts.tickMs ?? 100;
  const ac = new AbortController();

  /**
   * A slot of the global budget, kept per tenth of a second (a tenth of the limit each, so no
   * sliding second holds much over the limit); false when the processes together used it up.
   */
  const perSlot = Math.max(1, Math.floor(opts.globalPerSecond / 10));
  const budgetSlot = async () => {
    if (opts.globalPerSecond <= 0) return true;
    const slot = Math.floor(Date.now() / 100);
    const rows = await sql`
      INSERT INTO telegram_send_budget (second, sent) VALUES (${slot}, 1)
      ON CONFLICT (second) DO UPDATE SET sent = telegram_send_budget.sent + 1
        WHERE telegram_send_budget.sent < ${perSlot}
      RETURNING sent`;
    return rows.length === 1;
  };
  const takeChat = async (chatId: string, ms: number) =>
    (
      await sql`
        INSERT INTO telegram_alert_chats (chat_id, next_at) VALUES (${chatId}, now() + ${`${ms} milliseconds`}::interval)
        ON CONFLICT (chat_id) DO UPDATE SET next_at = EXCLUDED.next_at WHERE telegram_alert_chats.next_at <= now()
        RETURNING chat_id`
    ).length === 1;

  const sendChat = async (chatId: string, send: ((chatId: number, text: string) => Promise<void>) | undefined) => {
    const batch = await sql<{ alert_id: string; text: string; language: string | null }[]>`
      SELECT alert_id, text, language FROM telegram_alerts_sent
      WHERE chat_id = ${chatId} AND sent_at IS NULL ORDER BY accepted_at, alert_id LIMIT 1000`;
    if (batch.length === 0) return;
    const ids = batch.map((b) => b.alert_id);
    const markSent = () =>
      sql`UPDATE telegram_alerts_sent SET sent_at = now() WHERE chat_id = ${chatId} AND alert_id = ANY(${ids}::text[])`;
    if (!send) return void (await markSent());
    try {
      await send(Number(chatId), summaryText(batch, langOf(batch[0]?.language)));
      await markSent();
    } catch (e) {
      const err = e instanceof TelegramSendError ? e : botApiError(e instanceof Error ? e.message : String(e), undefined);
      if (err.retryAfterSeconds !== undefined) {
        await sql`UPDATE telegram_alert_chats SET next_at = now() + ${`${err.retryAfterSeconds} seconds`}::interval WHERE chat_id = ${chatId}`;
      } else if (!err.retryable) {
        // Blocked, chat gone: nothing will ever take these; they stay in the chat's list as not sent.
        await sql`UPDATE telegram_alerts_sent SET sent_at = now(), text = text || ' [not delivered]'
          WHERE chat_id = ${chatId} AND alert_id = ANY(${ids}::text[])`;
      }
      logger.warn({ chatId, alerts: ids.length, err: err.message }, 'telegram alert not sent');
    }
  };

  const tick = async () => {
    const send = await opts.send();
    const due = await sql<{ chat_id: string }[]>`
      SELECT DISTINCT a.chat_id FROM telegram_alerts_sent a LEFT JOIN telegram_alert_chats c ON c.chat_id = a.chat_id
      WHERE a.sent_at IS NULL AND (c.next_at IS NULL OR c.next_at <= now()) LIMIT 200`;
    for (const { chat_id } of due) {
      if (!(await takeChat(chat_id, windowMs))) continue;
      if (!(await budgetSlot())) {
        // This second's budget is spent: the chat is retried on the next tick.
        await sql`UPDATE telegram_alert_chats SET next_at = now() WHERE chat_id = ${chat_id}`;
        return;
      }
      await sendChat(chat_id, send);
    }
    // Now and then (every ~100 s per process): old budget slots, and alerts sent a month ago
    // (/alerts shows the latest five).
    if (Math.random() < 0.001) {
      await sql`DELETE FROM telegram_send_budget WHERE second < ${Math.floor(Date.now() / 100) - 600}`;
      await sql`DELETE FROM telegram_alerts_sent WHERE sent_at < now() - interval '30 days'`;
    }
  };

  const running = (async () => {
    while (!ac.signal.aborted) {
      try {
        await tick();
      } catch (err) {
        if (ac.signal.aborted) break;
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'telegram alert sender failed; retrying');
      }
      await sleep(tickMs, undefined, { signal: ac.signal }).catch(() => undefined);
    }
  })();

  return {
    async stop() {
      ac.abort();
      await running;
    },
  };
};
