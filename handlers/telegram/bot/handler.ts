import { BotError, GrammyError, HttpError } from 'grammy';
import type { Update } from 'grammy/types';
import type { EventLog } from '../../../core/eventlog/port.js';
import type { Logger } from '../../../core/logger.js';
import { metrics } from '../../../core/metrics.js';
import type { CommandOf, Handler, ResultEvent } from '../../../core/runners/handlerRunner.js';
import type { Sql } from '../../../core/stores/postgres.js';
import { telegramUpdateChatId } from '../../../core/telegram/chatQueueEntry.js';
import {
  WEBHOOK_PROCESSED,
  WEBHOOK_RECEIVED,
  type WebhookProcessedData,
  webhookProcessedSubject,
  webhookSubject,
} from '../../../schemas/events/webhook.js';
import { botApiError, TelegramSendError } from '../port.js';
import { type ChatQueueOptions, chatQueue } from './chatQueue.js';
import { ALLOWED_UPDATES, type PollerOptions, telegramPoller } from './polling.js';
import type { BotSource } from './source.js';
import { commandMenu, langOf, texts } from './texts.js';

type Received = CommandOf<typeof WEBHOOK_RECEIVED>;

export interface BotHandlerOptions {
  sql: Sql;
  log: EventLog;
  logger: Logger;
  bot: BotSource;
  /** Where the bot's logic leaves the events an update causes (`installBotLogic`'s `resultsFor`). */
  results: Map<number, ResultEvent[]>;
  /** TELEGRAM_UPDATE_MAX_AGE_SECONDS. */
  maxAgeSeconds: number;
  now?: () => Date;
  /** Long polling (when the target is not in webhook mode); tests shorten the lease. */
  polling?: Pick<PollerOptions, 'leaseMs' | 'holder'>;
  /** The per-chat lease (tests shorten it to see a dead holder's chats taken over). */
  chatLease?: ChatQueueOptions['lease'];
}

const processed = (e: Received, outcome: WebhookProcessedData['outcome'], detail: string): ResultEvent => ({
  subject: webhookProcessedSubject('telegram'),
  type: WEBHOOK_PROCESSED,
  data: { webhookEventId: e.id, outcome, detail: detail.slice(0, 1_000) },
});

/** The chat an update is about, and when the user sent it (a button press has no date of its own). */
const chatOf = (u: Update): { chatId: number | undefined; sentAt: number | undefined; lang: string | undefined } => {
  const m = u.message ?? u.edited_message;
  if (m) return { chatId: m.chat.id, sentAt: m.date, lang: m.from?.language_code };
  if (u.callback_query)
    return { chatId: u.callback_query.message?.chat.id, sentAt: undefined, lang: u.callback_query.from.language_code };
  if (u.my_chat_member) return { chatId: u.my_chat_member.chat.id, sentAt: u.my_chat_member.date, lang: undefined };
  return { chatId: undefined, sentAt: undefined, lang: undefined };
};

/** A Bot API failure inside grammy's middleware, classified as the sender classifies its own. */
export const asSendError = (e: unknown): unknown => {
  const err = e instanceof BotError ? e.error : e;
  if (err instanceof GrammyError)
    return botApiError(`${err.error_code} ${err.description}`, err.error_code, err.parameters.retry_after, err);
  if (err instanceof HttpError) return botApiError(err.message, undefined, undefined, err);
  return err;
};

/** What acting on one update left: the events it appended, and how it ended. */
interface Acted {
  results: ResultEvent[];
  outcome: WebhookProcessedData['outcome'];
  detail: string;
}

/**
 * The bot's inbound side: every Telegram update is a `webhook.received` first (the webhook
 * route, or the poller), then acted on once and in order per chat, whichever process gets its
 * delivery (see `chatQueue.ts`). An update older than `maxAgeSeconds` is answered "bot was offline".
 */
export const telegramBotHandler = (opts: BotHandlerOptions): Handler<typeof WEBHOOK_RECEIVED> => {
  const { sql, logger } = opts;
  const now = opts.now ?? (() => new Date());

  /** Acts on one update: the reply is sent before this returns; nothing is marked here. */
  const act = async (update: Update): Promise<Acted> => {
    const { chatId, sentAt, lang } = chatOf(update);
    const bot = await opts.bot.current();
    try {
      if (chatId !== undefined && sentAt !== undefined && now().getTime() - sentAt * 1_000 > opts.maxAgeSeconds * 1_000) {
        if (update.message) await bot.api.sendMessage(chatId, texts(langOf(lang)).offline);
        metrics.telegramUpdates.inc({ outcome: 'offline' });
        return { results: [], outcome: 'ignored', detail: `older than ${opts.maxAgeSeconds} s: answered "bot was offline"` };
      }
      const results: ResultEvent[] = [];
      opts.results.set(update.update_id, results);
      try {
        await bot.handleUpdate(update);
      } finally {
        opts.results.delete(update.update_id);
      }
      metrics.telegramUpdates.inc({ outcome: 'applied' });
      return { results, outcome: 'applied', detail: `update ${update.update_id}` };
    } catch (err) {
      const c = asSendError(err);
      if (c instanceof TelegramSendError)
        logger.info({ updateId: update.update_id, chatId, err: c.message }, 'telegram bot reply failed');
      throw c;
    }
  };
  const queue = chatQueue({ sql, logger, act, ...(opts.chatLease ? { lease: opts.chatLease } : {}) });

  return {
    name: 'telegram-bot',
    stream: 'EVENTS',
    subjects: { normal: webhookSubject('telegram') },
    eventTypes: [WEBHOOK_RECEIVED],

    async handle(e) {
      const d = e.data;
      if (d.provider !== 'telegram') return [];
      if (!d.signatureValid || d.duplicate || d.error) {
        metrics.telegramUpdates.inc({ outcome: 'ignored' });
        return [processed(e, 'ignored', 'not an accepted delivery')];
      }
      let update: Update;
      try {
        update = JSON.parse(Buffer.from(d.bodyBase64, 'base64').toString('utf8')) as Update;
      } catch {
        metrics.telegramUpdates.inc({ outcome: 'ignored' });
        return [processed(e, 'ignored', 'the body is not JSON')];
      }
      if (typeof update?.update_id !== 'number') {
        metrics.telegramUpdates.inc({ outcome: 'ignored' });
        return [processed(e, 'ignored', 'not a Telegram update')];
      }
      // The chat as the poller and the webhook ingress recorded it: one queue per chat.
      const done = await queue.handle(update, telegramUpdateChatId(update), e.id);
      if (done.repeat) metrics.telegramUpdates.inc({ outcome: 'duplicate' });
      return [...(done.results as ResultEvent[]), processed(e, done.outcome, done.detail)];
    },

    onGiveUp(e, reason) {
      return [processed(e, 'failed', reason)];
    },

    background() {
      const poller = telegramPoller({
        sql,
        log: opts.log,
        logger,
        ...opts.polling,
        api: async () => {
          const t = opts.bot.target();
          if (t.testMode || t.webhookEnabled || !t.token) return undefined;
          return (await opts.bot.current()).api;
        },
      });
      // The command menu per language, once per process and bot: cheap, and Telegram keeps the last.
      void (async () => {
        const t = opts.bot.target();
        if (t.testMode || !t.token) return;
        const api = (await opts.bot.current()).api;
        await api.setMyCommands(commandMenu('en'));
        await api.setMyCommands(commandMenu('ru'), { language_code: 'ru' });
      })().catch((err: unknown) =>
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'setMyCommands failed'),
      );
      return poller;
    },
  };
};

export { ALLOWED_UPDATES };
