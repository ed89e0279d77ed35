import type { Api } from 'grammy';
import type { Logger } from '../../../core/logger.js';
import type { CommandOf, Handler } from '../../../core/runners/handlerRunner.js';
import type { Sql } from '../../../core/stores/postgres.js';
import { EMAIL_RESULT_SUBJECT } from '../../../schemas/events/email.js';
import { PUSH_RESULTS_SUBJECT } from '../../../schemas/events/push.js';
import { SMS_RESULT_SUBJECT } from '../../../schemas/events/sms.js';
import type { TelegramAlertKind } from '../../../schemas/events/telegram.js';
import { type Lang, langOf } from './texts.js';

/** The events that are alerts, and which kind each is. */
const ALERT_TYPES = {
  'payment.failed': 'payment_failed',
  'payment.refund_succeeded': 'payment_refunded',
  'sms.failed': 'notification_failed',
  'email.failed': 'notification_failed',
  'push.failed': 'notification_failed',
} as const satisfies Record<string, TelegramAlertKind>;
type AlertType = keyof typeof ALERT_TYPES;
type AlertEvent = CommandOf<AlertType>;

const alertText = (e: AlertEvent, lang: Lang): string => {
  const ru = lang === 'ru';
  switch (e.type) {
    case 'payment.failed':
      return ru
        ? `⚠️ Платёж ${e.data.paymentId} не прошёл: ${e.data.reason}`
        : `⚠️ Payment ${e.data.paymentId} failed: ${e.data.reason}`;
    case 'payment.refund_succeeded':
      return ru
        ? `↩️ Возврат ${(e.data.amountMinor / 100).toFixed(2)} по платежу ${e.data.paymentId}`
        : `↩️ Refunded ${(e.data.amountMinor / 100).toFixed(2)} of payment ${e.data.paymentId}`;
    default: {
      const channel = e.type.slice(0, e.type.indexOf('.'));
      return ru
        ? `❌ Уведомление (${channel}) не доставлено: ${e.data.reason}`
        : `❌ ${channel} notification failed: ${e.data.reason}`;
    }
  }
};

/**
 * Per chat: at most one message per `windowMs` (Telegram's 1 message/s per chat). Alerts that
 * arrive meanwhile are folded into one summary sent when the window ends, never dropped.
 */
export const alertBatcher = (
  send: (chatId: number, text: string) => Promise<void>,
  opts: { windowMs?: number; logger: Logger },
) => {
  const windowMs = opts.windowMs ?? 1_000;
  const chats = new Map<number, { lastAt: number; pending: { text: string; lang: Lang }[]; timer?: NodeJS.Timeout }>();
  const deliver = (chatId: number, text: string) =>
    send(chatId, text).catch((err: unknown) =>
      opts.logger.warn({ chatId, err: err instanceof Error ? err.message : String(err) }, 'telegram alert not sent'),
    );
  const flush = (chatId: number) => {
    const c = chats.get(chatId);
    if (!c) return;
    c.timer = undefined;
    const batch = c.pending.splice(0);
    if (batch.length === 0) return;
    c.lastAt = Date.now();
    const lang = batch[0]?.lang ?? 'en';
    const shown = batch.slice(0, 10).map((b) => b.text);
    const more = batch.length - shown.length;
    const text =
      batch.length === 1
        ? (shown[0] as string)
        : [
            lang === 'ru' ? `Оповещений: ${batch.length}` : `${batch.length} alerts`,
            ...shown,
            ...(more > 0 ? [lang === 'ru' ? `…и ещё ${more}` : `…and ${more} more`] : []),
          ].join('\n');
    void deliver(chatId, text);
  };
  return {
    add(chatId: number, text: string, lang: Lang) {
      const c = chats.get(chatId) ?? { lastAt: 0, pending: [] };
      chats.set(chatId, c);
      c.pending.push({ text, lang });
      if (c.timer) return;
      c.timer = setTimeout(() => flush(chatId), Math.max(0, c.lastAt + windowMs - Date.now()));
    },
    close() {
      for (const [chatId, c] of chats) {
        clearTimeout(c.timer);
        flush(chatId);
      }
    },
  };
};

export interface AlertHandlerOptions {
  sql: Sql;
  logger: Logger;
  /** The live bot's API; undefined in test mode (alerts are then only recorded). */
  api: () => Promise<Api | undefined>;
  windowMs?: number;
}

/**
 * `telegram-alerts`: alert events → the linked admin and dispatcher chats subscribed to their
 * kind, once per (alert, chat) (`telegram_alerts_sent`), rate-limited per chat with a summary.
 */
export const telegramAlertHandler = (opts: AlertHandlerOptions): Handler<AlertType> => {
  const logger = opts.logger.child({ handler: 'telegram-alerts' });
  const batcher = alertBatcher(
    async (chatId, text) => {
      const api = await opts.api();
      if (api) await api.sendMessage(chatId, text);
    },
    { logger, ...(opts.windowMs === undefined ? {} : { windowMs: opts.windowMs }) },
  );
  return {
    name: 'telegram-alerts',
    stream: 'EVENTS',
    // The runner takes one subject per priority slot: the four subjects alerts come from use the
    // four slots (payments first), so this consumer never reads commands, GPS or link events.
    // Other types on them are acknowledged untouched.
    subjects: {
      urgent: 'evt.payment.tx.>',
      high: SMS_RESULT_SUBJECT,
      normal: EMAIL_RESULT_SUBJECT,
      low: PUSH_RESULTS_SUBJECT,
    },
    eventTypes: Object.keys(ALERT_TYPES) as AlertType[],
    async handle(e) {
      const kind = ALERT_TYPES[e.type];
      const chats = await opts.sql<{ chat_id: string; language: string | null }[]>`
        SELECT chat_id, language FROM telegram_users
        WHERE linked_at IS NOT NULL AND blocked_at IS NULL AND role IN ('admin', 'dispatcher')
          AND preferences -> 'alerts' -> ${kind} = 'true'::jsonb`;
      for (const c of chats) {
        const chatId = Number(c.chat_id);
        const fresh = await opts.sql`INSERT INTO telegram_alerts_sent (alert_id, chat_id) VALUES (${e.id}, ${chatId})
          ON CONFLICT DO NOTHING RETURNING chat_id`;
        if (fresh.length === 1) batcher.add(chatId, alertText(e, langOf(c.language)), langOf(c.language));
      }
      return [];
    },
    async close() {
      batcher.close();
    },
  };
};
