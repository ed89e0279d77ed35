import type { Update } from 'grammy/types';
import { JSON_ACK, notConfigured, parseJsonObject, providerEvent, safeEqual, str, type WebhookVerifier } from './verifier.js';

/**
 * Telegram signs nothing: `setWebhook`'s `secret_token` comes back in
 * `X-Telegram-Bot-Api-Secret-Token` on every delivery. [core.telegram.org/bots/api#setwebhook]
 * `record` puts a verified update in its chat's queue before it is appended, as the poller does
 * (core/telegram/chatQueueEntry.ts): the bot then acts on one chat's updates in update id order
 * even when consecutive ones reach different gateway processes.
 */
export const telegramVerifier = (opts: {
  secret: string | undefined;
  record?: (update: Update) => Promise<void>;
}): WebhookVerifier => ({
  provider: 'telegram',
  configured: Boolean(opts.secret),
  // The header is the secret itself: never recorded.
  recordedHeaders: [],
  ack: JSON_ACK,
  async verify({ rawBody, headers }) {
    const update = parseJsonObject(rawBody);
    // The update's kind is its one field besides update_id (message, callback_query, …).
    const kind = update ? Object.keys(update).find((k) => k !== 'update_id') : undefined;
    const claimed = [providerEvent(str(update?.update_id), kind)];
    if (!opts.secret) return notConfigured();
    const token = headers['x-telegram-bot-api-secret-token'];
    if (token === undefined)
      return { verdict: 'invalid', reason: 'missing X-Telegram-Bot-Api-Secret-Token header', events: claimed };
    if (!safeEqual(token, opts.secret)) return { verdict: 'invalid', reason: 'secret token is wrong', events: claimed };
    // A safe integer, as the chat queue and the log's message id keep it (Telegram's are 32-bit).
    if (!Number.isSafeInteger(update?.update_id))
      return { verdict: 'malformed', reason: 'the payload is not a Telegram update', events: [] };
    return { verdict: 'valid', events: claimed };
  },
  async beforeAppend(body) {
    // Only called after verify() said valid: a JSON object with a numeric update_id.
    if (opts.record) await opts.record(JSON.parse(body.toString('utf8')) as Update);
  },
});
