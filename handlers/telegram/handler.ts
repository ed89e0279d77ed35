import { Value } from '@sinclair/typebox/value';
import type { Logger } from '../../core/logger.js';
import { type Handler, HandlerError, type ResultEvent } from '../../core/runners/handlerRunner.js';
import type { StoredEvent } from '../../core/runners/projectionRunner.js';
import type { Sql } from '../../core/stores/postgres.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import {
  TELEGRAM_CHAT_BLOCKED,
  TELEGRAM_FAILED,
  TELEGRAM_REQUESTED,
  TELEGRAM_RESULTS_SUBJECT,
  TELEGRAM_SENT,
  type TelegramChatBlocked,
  type TelegramFailed,
  TelegramRequested,
  type TelegramSent,
} from '../../schemas/events/telegram.js';
import type { TelegramRateLimits } from './rateLimit.js';
import { TelegramSendError, type TelegramSender } from './sender.js';

export interface TelegramHandlerOptions {
  sender: TelegramSender;
  sql: Sql;
  logger: Logger;
  /** Per-chat and overall send rate; none in test mode (nothing reaches Telegram). */
  limits?: TelegramRateLimits;
}

/** What `onGiveUp` adds to `telegram.failed`; the runner only passes a reason. */
interface GiveUp {
  extra: ResultEvent[];
  failed: Omit<TelegramFailed, 'reason'>;
}
/** Entries of commands retried elsewhere are never collected; this bounds them. */
const GIVE_UP_MAX = 1_000;

/**
 * Telegram's answer → the runner's policy: 429 waits `retry_after`; 5xx and no answer are
 * retried with back-off; anything else (400 chat not found, 403 bot blocked, 401 bad token) is
 * permanent. A timed-out call may still have been delivered: Telegram has no idempotency key.
 */
export const classifyTelegramError = (e: TelegramSendError): { retryable: boolean; retryAfterMs?: number } => {
  if (e.errorCode === undefined) return { retryable: true };
  if (e.errorCode === 429) return { retryable: true, retryAfterMs: (e.retryAfterSeconds ?? 1) * 1_000 };
  return { retryable: e.errorCode >= 500 };
};

/**
 * `telegram.requested` → the Bot API. A `userId` is sent to the user's linked chat in
 * `telegram_users` (the most recently linked one that has not blocked the bot).
 */
export const telegramHandler = (opts: TelegramHandlerOptions): Handler => {
  const { sender, sql, limits } = opts;
  const logger = opts.logger.child({ handler: 'telegram', testMode: sender.testMode });
  const giveUps = new Map<string, GiveUp>();

  const giveUp = (event: StoredEvent, g: GiveUp, error: HandlerError) => {
    giveUps.set(event.id, g);
    if (giveUps.size > GIVE_UP_MAX) giveUps.delete(giveUps.keys().next().value as string);
    return error;
  };
  const refuse = (event: StoredEvent, code: string, message: string, chatId?: number) =>
    giveUp(
      event,
      { extra: [], failed: { code, testMode: sender.testMode, ...(chatId === undefined ? {} : { chatId }) } },
      new HandlerError(message, false),
    );

  const linkedChat = async (userId: string) => {
    const [row] = await sql<{ chat_id: string }[]>`
      SELECT chat_id FROM telegram_users WHERE user_id = ${userId} AND blocked_at IS NULL
      ORDER BY linked_at DESC NULLS LAST, updated_at DESC LIMIT 1`;
    return row ? Number(row.chat_id) : undefined;
  };

  return {
    name: 'telegram',
    stream: 'EVENTS',
    // Where the API appends Telegram commands, one subject per priority (api/commands.ts `commandSubject`).
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, `evt.telegram.cmd.${p}`])),
    eventTypes: [TELEGRAM_REQUESTED],

    async handle(event, { attempt }) {
      giveUps.delete(event.id);
      if (!Value.Check(TelegramRequested, event.data)) {
        const first = Value.Errors(TelegramRequested, event.data).First();
        throw refuse(event, 'invalid_request', `invalid telegram.requested: ${first?.path || '/'} ${first?.message ?? ''}`);
      }
      const cmd = event.data;
      if ((cmd.userId === undefined) === (cmd.chatId === undefined)) {
        throw refuse(event, 'invalid_request', 'invalid telegram.requested: exactly one of userId and chatId is needed');
      }
      const chatId = cmd.chatId ?? (await linkedChat(cmd.userId as string));
      if (chatId === undefined) {
        throw refuse(event, 'not_linked', `user ${cmd.userId} has no linked Telegram chat (telegram_users)`);
      }

      await limits?.take(chatId);
      try {
        const { messageId } = await sender.sendMessage(chatId, cmd.text);
        logger.info({ command: event.id, attempt, chatId, messageId }, 'telegram message sent');
        const sent: TelegramSent = { chatId, messageId, attempt, testMode: sender.testMode };
        return [{ subject: TELEGRAM_RESULTS_SUBJECT, type: TELEGRAM_SENT, data: sent }];
      } catch (e) {
        if (!(e instanceof TelegramSendError)) throw e;
        const c = classifyTelegramError(e);
        logger.info({ command: event.id, attempt, chatId, errorCode: e.errorCode, err: e.message }, 'telegram send failed');
        if (e.errorCode === 429 && c.retryAfterMs !== undefined) await limits?.block(chatId, c.retryAfterMs / 1_000);
        const extra: ResultEvent[] = [];
        if (e.errorCode === 403) {
          const blocked: TelegramChatBlocked = { chatId, description: e.message, ...(cmd.userId ? { userId: cmd.userId } : {}) };
          extra.push({ subject: TELEGRAM_RESULTS_SUBJECT, type: TELEGRAM_CHAT_BLOCKED, data: blocked });
        }
        const code = e.errorCode === undefined ? 'network' : `tg_${e.errorCode}`;
        throw giveUp(
          event,
          { extra, failed: { code, chatId, testMode: sender.testMode } },
          new HandlerError(`telegram: ${e.message}`, c.retryable, c.retryAfterMs, { cause: e }),
        );
      }
    },

    onGiveUp(event, reason) {
      const g = giveUps.get(event.id);
      giveUps.delete(event.id);
      const failed: TelegramFailed = { ...(g?.failed ?? { testMode: sender.testMode }), reason };
      logger.warn({ command: event.id, code: failed.code, reason }, 'telegram message failed');
      return [...(g?.extra ?? []), { subject: TELEGRAM_RESULTS_SUBJECT, type: TELEGRAM_FAILED, data: failed }];
    },
  };
};
