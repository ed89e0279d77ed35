import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps.js';
import { defineRoute, type RouteSpec } from '../route.js';
import { handleWebhook, webhookVerifiers } from '../webhooks/ingress.js';

/** Provider callbacks: public (each provider authenticates its own way), body kept as bytes. */
export const webhookRoutes = (deps: ApiDeps): RouteSpec[] => {
  // Built now so a bad YooKassa allowlist fails at startup rather than on the first delivery.
  const verifiers = webhookVerifiers(deps);
  return [
    defineRoute({
      method: 'POST',
      path: '/webhooks/{provider}',
      operationId: 'receiveWebhook',
      summary: 'Receive a provider webhook',
      description:
        'Stripe (`Stripe-Signature`), Twilio (`X-Twilio-Signature`), Telegram (`X-Telegram-Bot-Api-Secret-Token`), ' +
        'YooKassa (source allowlist plus re-fetch) and SMS.ru (`?token=`). Every delivery is recorded as a ' +
        '`webhook.received` event; a repeated provider event id is acknowledged and not processed again.',
      tags: ['webhooks'],
      auth: 'public',
      bodyFormat: 'raw',
      responses: {
        200: { description: 'Accepted, or a repeat of an accepted event (SMS.ru: the text `100`)', schema: Type.Unknown() },
        400: { description: 'Authentic but not a usable event' },
        401: { description: 'The signature or token did not verify' },
        404: { description: 'Unknown provider' },
        500: { description: 'Could not be verified now (the provider API did not answer); retried by the provider' },
      },
      handle: (ctx) => handleWebhook(deps, ctx.params.provider ?? '', ctx, verifiers),
    }),
  ];
};
