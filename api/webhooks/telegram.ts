import { JSON_ACK, notConfigured, parseJsonObject, providerEvent, safeEqual, str, type WebhookVerifier } from './verifier.js';

/**
 * Telegram signs nothing: `setWebhook`'s `secret_token` comes back in
 * `X-Telegram-Bot-Api-Secret-Token` on every delivery. [core.telegram.org/bots/api#setwebhook]
 */
export const telegramVerifier = (opts: { secret: string | undefined }): WebhookVerifier => ({
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
    if (typeof update?.update_id !== 'number')
      return { verdict: 'malformed', reason: 'the payload is not a Telegram update', events: [] };
    return { verdict: 'valid', events: claimed };
  },
});
