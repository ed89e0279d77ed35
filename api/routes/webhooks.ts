import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type RouteSpec } from '../route.js';
import { webhookAdmission } from '../webhooks/admission.js';
import { handleWebhook, webhookVerifiers } from '../webhooks/ingress.js';

/** Provider callbacks: public (each provider authenticates its own way), body kept as bytes. */
export const webhookRoutes = (deps: ApiDeps): RouteSpec[] => {
  // Built now so a bad YooKassa allowlist fails at startup rather than on the first delivery.
  const verifiers = webhookVerifiers(deps);
  const admission = webhookAdmission(deps);
  return [
    defineRoute({
      method: 'POST',
      path: '/webhooks/{provider}',
      operationId: 'receiveWebhook',
      summary: 'Receive a provider webhook',
      description:
        'Stripe (`Stripe-Signature`), Twilio (`X-Twilio-Signature`), Telegram (`X-Telegram-Bot-Api-Secret-Token`), ' +
        'YooKassa (source allowlist plus re-fetch) and SMS.ru (`?token=`). Every delivery is recorded as a ' +
        '`webhook.received` event (a refused one with its digest and first 512 bytes); a repeated provider event id is ' +
        'acknowledged and not processed again.',
      tags: ['webhooks'],
      auth: 'public',
      bodyFormat: 'raw',
      maxBodyBytes: admission.maxBodyBytes,
      responses: {
        200: { description: 'Accepted, or a repeat of an accepted event (SMS.ru: the text `100`)', schema: Type.Unknown() },
        400: { description: 'Authentic but not a usable event' },
        401: { description: 'The signature or token did not verify' },
        404: { description: 'Unknown provider, or one without a configured secret (nothing is recorded)' },
        413: { description: 'The body exceeds WEBHOOK_MAX_BODY_BYTES' },
        429: { description: 'Too many deliveries from this address (WEBHOOK_RATE_LIMIT_PER_IP)' },
        500: { description: 'Could not be verified now (the provider API did not answer); retried by the provider' },
      },
      handle: async (ctx) => {
        await admission.admit(ctx.remoteAddress);
        return handleWebhook(deps, ctx.params.provider ?? '', ctx, verifiers);
      },
    }),
  ];
};
