import { Value } from '@sinclair/typebox/value';
import type { Logger } from '../../core/logger.js';
import type { Handler } from '../../core/runners/handlerRunner.js';
import type { Sql } from '../../core/stores/postgres.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import {
  TELEGRAM_RESULTS_SUBJECT,
  TelegramRequested,
  telegramCommandSubject,
  telegramEvents,
} from '../../schemas/events/telegram.js';
import { TelegramSendError, type TelegramSender } from './port.js';
import type { TelegramRateLimits } from './rateLimit.js';

export { classifyTelegramError } from './port.js';

export interface TelegramHandlerOptions {
  sender: TelegramSender;
  sql: Sql;
  logger: Logger;
  /** Per-chat and overall send rate; none in test mode (nothing reaches Telegram). */
  limits?: TelegramRateLimits;
}

const { defs } = telegramEvents;
const refuse = (code: string, message: string) => new TelegramSendError(message, false, { details: { code } });

/**
 * `telegram.requested` → the Bot API. A `userId` is sent to the user's linked chat in
 * `telegram_users` (the most recently linked one that has not blocked the bot).
 */
export const telegramHandler = (opts: TelegramHandlerOptions): Handler<typeof defs.requested.type> => {
  const { sender, sql, limits } = opts;
  const logger = opts.logger.child({ handler: 'telegram', testMode: sender.testMode });

  const linkedChat = async (userId: string) => {
    const [row] = await sql<{ chat_id: string }[]>`
      SELECT chat_id FROM telegram_users WHERE user_id = ${userId} AND blocked_at IS NULL
      ORDER BY linked_at DESC NULLS LAST, updated_at DESC LIMIT 1`;
    return row ? Number(row.chat_id) : undefined;
  };

  return {
    name: 'telegram',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, telegramCommandSubject(p)])),
    // `telegram.requested`, checked against its declaration so a renamed type fails to compile here.
    eventTypes: ['telegram.requested' satisfies typeof defs.requested.type],
    attemptFailed: defs.attemptFailed,

    async handle(event, { attempt }) {
      // Declared and appended only by the API, but a command from an older release may differ.
      if (!Value.Check(TelegramRequested, event.data)) {
        const first = Value.Errors(TelegramRequested, event.data).First();
        throw refuse('invalid_request', `invalid telegram.requested: ${first?.path || '/'} ${first?.message ?? ''}`);
      }
      const cmd = event.data;
      if ((cmd.userId === undefined) === (cmd.chatId === undefined)) {
        throw refuse('invalid_request', 'invalid telegram.requested: exactly one of userId and chatId is needed');
      }
      const chatId = cmd.chatId ?? (cmd.userId === undefined ? undefined : await linkedChat(cmd.userId));
      if (chatId === undefined) {
        throw refuse('not_linked', `user ${cmd.userId} has no linked Telegram chat (telegram_users)`);
      }

      await limits?.take(chatId);
      try {
        const { messageId } = await sender.sendMessage(chatId, cmd.text);
        logger.info({ command: event.id, attempt, chatId, messageId }, 'telegram message sent');
        return [
          {
            subject: TELEGRAM_RESULTS_SUBJECT,
            type: defs.sent.type,
            data: { chatId, messageId, attempt, testMode: sender.testMode },
          },
        ];
      } catch (e) {
        if (!(e instanceof TelegramSendError)) throw e;
        logger.info({ command: event.id, attempt, chatId, errorCode: e.errorCode, err: e.message }, 'telegram send failed');
        if (e.errorCode === 429 && e.retryAfterMs !== undefined) await limits?.block(chatId, e.retryAfterMs / 1_000);
        // A 403 (bot blocked, user deactivated) is a fact about the chat, whatever becomes of the command.
        const blocked = {
          subject: TELEGRAM_RESULTS_SUBJECT,
          type: defs.chatBlocked.type,
          data: { chatId, description: e.message, ...(cmd.userId ? { userId: cmd.userId } : {}) },
        } as const;
        throw new TelegramSendError(`telegram: ${e.message}`, e.retryable, {
          cause: e,
          details: { code: e.details?.code ?? 'network', chatId },
          results: e.errorCode === 403 ? [blocked] : [],
          ...(e.retryAfterMs === undefined ? {} : { retryAfterMs: e.retryAfterMs }),
        });
      }
    },

    onGiveUp(event, reason, error) {
      const details = error instanceof TelegramSendError ? error.details : undefined;
      logger.warn({ command: event.id, code: details?.code, reason }, 'telegram message failed');
      const data = {
        reason,
        testMode: sender.testMode,
        ...(details?.code === undefined ? {} : { code: details.code }),
        ...(details?.chatId === undefined ? {} : { chatId: details.chatId }),
      };
      return [{ subject: TELEGRAM_RESULTS_SUBJECT, type: defs.failed.type, data }];
    },
  };
};
