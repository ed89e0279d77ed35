import type { Logger } from '../../core/logger.js';
import { loadPayment } from '../../core/payments/ledger.js';
import { paymentIdByProviderRef } from '../../core/readModels/paymentTransactions.js';
import { type CommandOf, type Handler, HandlerError, type ResultEvent } from '../../core/runners/handlerRunner.js';
import type { Sql } from '../../core/stores/postgres.js';
import {
  WEBHOOK_PROCESSED,
  WEBHOOK_RECEIVED,
  type WebhookProcessedData,
  type WebhookReceivedData,
  webhookProcessedSubject,
} from '../../schemas/events/webhook.js';
import { paymentFacts, refundFacts } from './ledger.js';
import type { PaymentProvider, PaymentProviderName, ProviderPayment, ProviderRefund } from './port.js';
import { stripePayment, stripeRefund } from './stripe.js';
import { yookassaPayment, yookassaRefund } from './yookassa.js';

type Received = CommandOf<typeof WEBHOOK_RECEIVED>;

/** What a verified delivery reports: a payment or a refund, in our terms; or why it reports nothing. */
type Report = { payment: ProviderPayment } | { refund: ProviderRefund } | { ignore: string };

const STRIPE_PAYMENT_EVENTS = new Set([
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'checkout.session.expired',
]);
const STRIPE_REFUND_EVENTS = new Set(['refund.created', 'refund.updated', 'refund.failed']);

/** The body as verified: YooKassa's is the re-fetched object (api/webhooks/yookassa.ts), Stripe's is signed. */
export const webhookReport = (d: WebhookReceivedData): Report => {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(d.bodyBase64, 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    return { ignore: 'the body is not JSON' };
  }
  try {
    if (d.provider === 'yookassa') {
      const event = String(body.event ?? '');
      const object = body.object as Parameters<typeof yookassaPayment>[0];
      if (!object?.id) return { ignore: 'no object in the notification' };
      if (event.startsWith('payment.')) return { payment: yookassaPayment(object) };
      if (event.startsWith('refund.')) return { refund: yookassaRefund(object) };
      return { ignore: `YooKassa event ${event} is not about payments` };
    }
    const type = String(body.type ?? '');
    const object = (body.data as { object?: unknown } | undefined)?.object;
    if (STRIPE_PAYMENT_EVENTS.has(type)) {
      const p = stripePayment(object as Parameters<typeof stripePayment>[0]);
      if (type === 'checkout.session.async_payment_failed') {
        return { payment: { ...p, status: 'canceled', cancellationReason: 'async_payment_failed' } };
      }
      return { payment: p };
    }
    if (STRIPE_REFUND_EVENTS.has(type)) return { refund: stripeRefund(object as Parameters<typeof stripeRefund>[0]) };
    return { ignore: `Stripe event ${type} does not change a payment here` };
  } catch (e) {
    return { ignore: `unreadable ${d.provider} object: ${(e as Error).message}` };
  }
};

export interface PaymentWebhookDeps {
  provider(name: PaymentProviderName): PaymentProvider;
  sql: Sql;
  logger: Logger;
  log: Parameters<typeof loadPayment>[0];
}

const processed = (
  e: Received,
  provider: WebhookReceivedData['provider'],
  outcome: WebhookProcessedData['outcome'],
  detail: string,
): ResultEvent => ({
  subject: webhookProcessedSubject(provider),
  type: WEBHOOK_PROCESSED,
  data: { webhookEventId: e.id, outcome, detail: detail.slice(0, 1_000) },
});

/**
 * `payment-webhooks`: verified Stripe and YooKassa deliveries into payment events, and their
 * `webhook_events` row into `processed`, `ignored` (nothing to change, with why) or `failed`.
 * What the delivery reports is compared with the payment's state on its own subject, so a
 * duplicate, a late `pending` after `succeeded` or a second `succeeded` change nothing. A refund
 * reported before the payment's success makes us ask the provider for the payment first.
 */
export const paymentWebhookHandler = (deps: PaymentWebhookDeps): Handler<typeof WEBHOOK_RECEIVED> => {
  const logger = deps.logger.child({ handler: 'payment-webhooks' });
  return {
    name: 'payment-webhooks',
    stream: 'EVENTS',
    subjects: { normal: 'evt.webhook.*' },
    eventTypes: [WEBHOOK_RECEIVED],
    async handle(e, ctx) {
      const d = e.data;
      if (d.provider !== 'stripe' && d.provider !== 'yookassa') return undefined;
      // Refused, repeated or broken deliveries are audit records only.
      if (!d.signatureValid || d.duplicate || d.error) return undefined;
      const report = webhookReport(d);
      if ('ignore' in report) return [processed(e, d.provider, 'ignored', report.ignore)];
      const ref = 'payment' in report ? report.payment.providerPaymentId : report.refund.providerPaymentRef;
      const metaId = 'payment' in report ? report.payment.paymentId : report.refund.paymentId;
      const paymentId = metaId ?? (await paymentIdByProviderRef(deps.sql, ref));
      if (!paymentId) {
        // Found through the read model, which may not have folded a payment made a moment ago:
        // asked again with back-off before the delivery counts as someone else's payment.
        if (ctx.attempt < ctx.maxAttempts) throw new HandlerError(`no payment for ${d.provider} ${ref} (yet)`, true);
        return [processed(e, d.provider, 'ignored', `no payment here for ${d.provider} ${ref}`)];
      }
      let { state } = await loadPayment(deps.log, paymentId);
      if (!state) {
        // The provider answered our create but the outcome is not in the log yet (a crash in between): try again later.
        throw new HandlerError(`payment ${paymentId} is not in the ledger yet`, true);
      }
      const facts: ResultEvent[] = [];
      if ('payment' in report) {
        facts.push(...paymentFacts(state, report.payment, 'webhook'));
      } else {
        if (state.phase !== 'succeeded' && state.providerPaymentId) {
          // Out of order: the refund says the payment succeeded before its own notification came.
          const p = await deps.provider(state.provider ?? d.provider).get({
            providerPaymentId: state.providerPaymentId,
            ...(state.providerIntentId ? { providerIntentId: state.providerIntentId } : {}),
            currency: state.currency,
          });
          const first = paymentFacts(state, p, 'webhook');
          facts.push(...first);
          if (p.status === 'succeeded' && first.length) {
            state = { ...state, phase: 'succeeded', capturedMinor: p.capturedMinor ?? p.amountMinor };
          }
        }
        facts.push(...refundFacts(state, report.refund, 'webhook'));
      }
      if (facts.length === 0) {
        const what = 'payment' in report ? `${report.payment.status}` : `refund ${report.refund.status}`;
        return [processed(e, d.provider, 'ignored', `payment ${paymentId} is ${state.phase}; ${what} changes nothing`)];
      }
      logger.info({ paymentId, types: facts.map((f) => f.type) }, 'payment webhook applied');
      return [...facts, processed(e, d.provider, 'applied', `${facts.map((f) => f.type).join(', ')} for ${paymentId}`)];
    },
    onGiveUp(e, reason) {
      const d = e.data;
      if (d.provider !== 'stripe' && d.provider !== 'yookassa') return [];
      return [processed(e, d.provider, 'failed', reason)];
    },
  };
};
