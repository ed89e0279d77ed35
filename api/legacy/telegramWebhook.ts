import type { ApiDeps } from '../deps.js';
import { defineRoute, type RouteSpec } from '../route.js';
import { webhookAdmission } from '../webhooks/admission.js';
import { handleWebhook, webhookVerifiers } from '../webhooks/ingress.js';

/**
 * `/api/telegram-webhook.php`: the URL the bot's webhook was set to under the PHP CRM. Public,
 * and verified and recorded exactly as `POST /webhooks/telegram` (the secret token header), so
 * only the path differs. A webhook set without `secret_token` is refused until set again with it.
 */
export const telegramWebhookPhp = (deps: ApiDeps): RouteSpec[] => {
  const verifiers = webhookVerifiers(deps);
  const admission = webhookAdmission(deps);
  return [
    defineRoute({
      method: 'POST',
      path: '/api/telegram-webhook.php',
      operationId: 'legacy_post_api_telegram_webhook_php',
      summary: 'Legacy Telegram webhook URL of the PHP CRM',
      tags: ['legacy'],
      auth: 'public',
      bodyFormat: 'raw',
      maxBodyBytes: admission.maxBodyBytes,
      hidden: true,
      responses: { 200: { description: 'accepted' } },
      handle: async (ctx) => {
        await admission.admit(ctx.remoteAddress);
        return handleWebhook(deps, 'telegram', ctx, verifiers);
      },
    }),
  ];
};
