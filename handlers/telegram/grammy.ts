import { Api, GrammyError, HttpError } from 'grammy';
import { botApiError, type TelegramSender } from './port.js';

export interface GrammyOptions {
  /** TELEGRAM_BOT_TOKEN. */
  token: string;
  /** Bot API server root without a trailing slash (TELEGRAM_API_URL; a local fake in tests). */
  apiRoot?: string;
  /** A hung call must end well within the runner's ack wait; grammy's default is 500 s. */
  timeoutSeconds?: number;
}

/** Outbound messages through grammy's API client (no polling, no webhook: the bot's inbound side lives elsewhere). */
export const grammyTelegramSender = (opts: GrammyOptions): TelegramSender => {
  const api = new Api(opts.token, {
    ...(opts.apiRoot ? { apiRoot: opts.apiRoot.replace(/\/+$/, '') } : {}),
    timeoutSeconds: opts.timeoutSeconds ?? 30,
  });
  return {
    testMode: false,
    async sendMessage(chatId, text) {
      try {
        const m = await api.sendMessage(chatId, text);
        return { messageId: m.message_id };
      } catch (e) {
        if (e instanceof GrammyError) {
          throw botApiError(`${e.error_code} ${e.description}`, e.error_code, e.parameters.retry_after, e);
        }
        // grammy's HttpError message names the method, never the token.
        if (e instanceof HttpError) throw botApiError(e.message, undefined, undefined, e);
        throw e;
      }
    },
  };
};
