import { Api, GrammyError, HttpError } from 'grammy';
import { GatewayError } from '../../schemas/errors.js';
import { withoutTrailingSlashes } from '../text/trailingSlashes.js';
import { ALLOWED_TELEGRAM_UPDATES } from './updates.js';

export interface WebhookAdminOptions {
  token: string | undefined;
  apiRoot: string;
  /** PUBLIC_URL: Telegram calls `<PUBLIC_URL>/webhooks/telegram`. */
  publicUrl: string | undefined;
  /** TELEGRAM_WEBHOOK_SECRET: sent back in X-Telegram-Bot-Api-Secret-Token, checked by the route. */
  secret: string | undefined;
  out: (line: string) => void;
}

export const TELEGRAM_WEBHOOK_USAGE = 'usage: fleetgate telegram set-webhook|delete-webhook|webhook-info';

/** A Bot API refusal or an unreachable API as one line, never the token. */
const call = async <T>(what: string, f: () => Promise<T>): Promise<T> => {
  try {
    return await f();
  } catch (e) {
    if (e instanceof GrammyError)
      throw new GatewayError('GW_ERR_PROVIDER_UNAVAILABLE', `${what}: Telegram answered ${e.error_code} ${e.description}`);
    if (e instanceof HttpError)
      throw new GatewayError('GW_ERR_PROVIDER_UNAVAILABLE', `${what}: the Bot API could not be reached`);
    throw e;
  }
};

/** `fleetgate telegram set-webhook|delete-webhook|webhook-info`. */
export const telegramWebhookCommand = async (opts: WebhookAdminOptions, sub: string | undefined) => {
  if (!opts.token) throw new GatewayError('GW_ERR_PROVIDER_NOT_CONFIGURED', 'TELEGRAM_BOT_TOKEN is not set');
  const api = new Api(opts.token, { apiRoot: withoutTrailingSlashes(opts.apiRoot), timeoutSeconds: 15 });
  switch (sub) {
    case 'set-webhook': {
      if (!opts.publicUrl)
        throw new GatewayError('GW_ERR_CONFIG', 'set-webhook needs PUBLIC_URL (the https address Telegram calls)');
      if (!opts.secret)
        throw new GatewayError(
          'GW_ERR_CONFIG',
          'set-webhook needs TELEGRAM_WEBHOOK_SECRET (Telegram sends it back on every call)',
        );
      const url = `${withoutTrailingSlashes(opts.publicUrl)}/webhooks/telegram`;
      await call('setWebhook', () =>
        api.setWebhook(url, { secret_token: opts.secret, allowed_updates: [...ALLOWED_TELEGRAM_UPDATES] }),
      );
      opts.out(`webhook set: ${url} (updates: ${ALLOWED_TELEGRAM_UPDATES.join(', ')}); set TELEGRAM_WEBHOOK_ENABLED=true`);
      return;
    }
    case 'delete-webhook':
      await call('deleteWebhook', () => api.deleteWebhook());
      opts.out('webhook deleted; the gateway long-polls when TELEGRAM_WEBHOOK_ENABLED is not true');
      return;
    case 'webhook-info': {
      const info = await call('getWebhookInfo', () => api.getWebhookInfo());
      opts.out(`url: ${info.url || '(none: long polling)'}`);
      opts.out(`pending updates: ${info.pending_update_count}`);
      if (info.last_error_message) {
        const at = info.last_error_date ? new Date(info.last_error_date * 1000).toISOString() : '?';
        opts.out(`last error: ${info.last_error_message} (${at})`);
      }
      return;
    }
    default:
      throw new GatewayError('GW_ERR_CONFIG', TELEGRAM_WEBHOOK_USAGE);
  }
};
