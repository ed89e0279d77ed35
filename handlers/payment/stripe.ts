import Stripe from 'stripe';
import {
  type CreatePaymentInput,
  PaymentError,
  type PaymentProvider,
  type PaymentRef,
  type ProviderPayment,
  type ProviderRefund,
} from './port.js';
import type { StripeSettings } from './settings.js';

export interface StripeOptions {
  settings: () => Promise<StripeSettings | undefined>;
  timeoutMs: number;
}

const iso = (unix: number | null | undefined) => new Date((unix ?? Date.now() / 1000) * 1000).toISOString();
const idOf = (v: string | { id: string } | null | undefined) => (typeof v === 'string' ? v : (v?.id ?? undefined));

/**
 * A Checkout Session (and its PaymentIntent, when fetched) in our terms: `expired` is canceled,
 * `complete` + `paid` succeeded, `complete` with an intent that `requires_capture` is held.
 */
export const stripePayment = (s: Stripe.Checkout.Session, pi?: Stripe.PaymentIntent): ProviderPayment => {
  const intentId = idOf(s.payment_intent);
  const amount = s.amount_total ?? 0;
  let status: ProviderPayment['status'] = 'pending';
  if (pi?.status === 'canceled' || s.status === 'expired') status = 'canceled';
  else if (pi?.status === 'requires_capture') status = 'waiting_for_capture';
  else if (pi?.status === 'succeeded' || (s.status === 'complete' && s.payment_status === 'paid')) status = 'succeeded';
  else if (s.status === 'complete' && s.payment_status === 'unpaid' && !pi) status = 'waiting_for_capture';
  const paymentId = s.metadata?.paymentId ?? s.client_reference_id ?? undefined;
  const orderId = s.metadata?.orderId;
  return {
    provider: 'stripe',
    providerPaymentId: s.id,
    ...(intentId ? { providerIntentId: intentId } : {}),
    status,
    amountMinor: amount,
    currency: (s.currency ?? '').toUpperCase(),
    ...(status === 'succeeded' ? { capturedMinor: pi?.amount_received || amount } : {}),
    ...(s.url ? { confirmationUrl: s.url } : {}),
    ...(paymentId ? { paymentId } : {}),
    ...(orderId ? { orderId } : {}),
    ...(status === 'canceled'
      ? { cancellationReason: pi?.cancellation_reason ?? (s.status === 'expired' ? 'expired' : 'canceled') }
      : {}),
    createdAt: iso(s.created),
    ...(status === 'succeeded' ? { paidAt: iso(pi?.created ?? s.created) } : {}),
  };
};

export const stripeRefund = (r: Stripe.Refund): ProviderRefund => ({
  provider: 'stripe',
  providerRefundId: r.id,
  providerPaymentRef: idOf(r.payment_intent) ?? idOf(r.charge) ?? '',
  status: r.status === 'succeeded' ? 'succeeded' : r.status === 'failed' || r.status === 'canceled' ? 'failed' : 'pending',
  amountMinor: r.amount,
  currency: r.currency.toUpperCase(),
  ...(r.metadata?.refundId ? { refundId: r.metadata.refundId } : {}),
  ...(r.metadata?.paymentId ? { paymentId: r.metadata.paymentId } : {}),
  ...(r.failure_reason ? { reason: r.failure_reason } : {}),
  createdAt: iso(r.created),
});

/** stripe-node's errors by its own rules: connection, 409, 429 and 5xx may be repeated with the same key. */
const classify = (e: unknown): PaymentError => {
  if (e instanceof PaymentError) return e;
  if (e instanceof Stripe.errors.StripeError) {
    const status = e.statusCode ?? 0;
    const retryable =
      e instanceof Stripe.errors.StripeConnectionError || status === 0 || status >= 500 || status === 409 || status === 429;
    const code = e.code ?? e.type;
    return PaymentError.of(
      { code, message: `Stripe ${status || ''} ${code}: ${e.message}`.slice(0, 500), retryable, provider: 'stripe' },
      e,
    );
  }
  return PaymentError.of(
    { code: 'provider_error', message: `Stripe: ${(e as Error).message}`, retryable: true, provider: 'stripe' },
    e,
  );
};

/**
 * Stripe through the official `stripe` package: a Checkout Session per payment (the link), the
 * PaymentIntent for capture and refunds, `Idempotency-Key` from our ids on every POST. The
 * package's own retries are off: the handler runner retries with back-off and the same key.
 */
export const stripeProvider = (opts: StripeOptions): PaymentProvider => {
  let client: { key: string; url: string; stripe: Stripe } | undefined;
  const stripe = async () => {
    const s = await opts.settings();
    if (!s) {
      throw PaymentError.of({
        code: 'not_configured',
        message: 'Stripe is not configured: set STRIPE_SECRET_KEY (or PAYMENT_TEST_MODE=true)',
        retryable: false,
        provider: 'stripe',
      });
    }
    // A new client only when the settings changed (a rotated key applies to the next call).
    if (!client || client.key !== s.secretKey || client.url !== s.apiUrl) {
      const u = new URL(s.apiUrl);
      const protocol = u.protocol === 'http:' ? 'http' : 'https';
      client = {
        key: s.secretKey,
        url: s.apiUrl,
        stripe: new Stripe(s.secretKey, {
          host: u.hostname,
          port: Number(u.port || (protocol === 'http' ? 80 : 443)),
          protocol,
          maxNetworkRetries: 0,
          timeout: opts.timeoutMs,
        }),
      };
    }
    return client.stripe;
  };
  const guarded = async <T>(f: (s: Stripe) => Promise<T>): Promise<T> => {
    const s = await stripe();
    try {
      return await f(s);
    } catch (e) {
      throw classify(e);
    }
  };
  const fetchPayment = (s: Stripe, ref: PaymentRef) =>
    Promise.all([
      s.checkout.sessions.retrieve(ref.providerPaymentId),
      ref.providerIntentId ? s.paymentIntents.retrieve(ref.providerIntentId) : Promise.resolve(undefined),
    ]).then(async ([session, pi]) => {
      const intent =
        pi ??
        (idOf(session.payment_intent) ? await s.paymentIntents.retrieve(idOf(session.payment_intent) as string) : undefined);
      return stripePayment(session, intent);
    });
  const intentOf = async (s: Stripe, ref: PaymentRef) => {
    if (ref.providerIntentId) return ref.providerIntentId;
    const session = await s.checkout.sessions.retrieve(ref.providerPaymentId);
    const id = idOf(session.payment_intent);
    if (!id) {
      throw PaymentError.of({
        code: 'no_payment_intent',
        message: 'the Checkout Session has no PaymentIntent yet',
        retryable: false,
        provider: 'stripe',
      });
    }
    return id;
  };

  return {
    name: 'stripe',
    testMode: false,
    create: (input: CreatePaymentInput) =>
      guarded(async (s) => {
        const session = await s.checkout.sessions.create(
          {
            mode: 'payment',
            line_items: [
              {
                quantity: 1,
                price_data: {
                  currency: input.currency.toLowerCase(),
                  unit_amount: input.amountMinor,
                  product_data: { name: input.description },
                },
              },
            ],
            success_url: input.returnUrl,
            cancel_url: input.returnUrl,
            client_reference_id: input.paymentId,
            ...(input.customer?.email ? { customer_email: input.customer.email } : {}),
            metadata: { paymentId: input.paymentId, orderId: input.orderId },
            payment_intent_data: {
              capture_method: input.capture ? 'automatic' : 'manual',
              metadata: { paymentId: input.paymentId, orderId: input.orderId },
            },
          },
          { idempotencyKey: input.idempotencyKey },
        );
        return stripePayment(session);
      }),
    get: (ref) => guarded((s) => fetchPayment(s, ref)),
    capture: (ref) =>
      guarded(async (s) => {
        const pi = await s.paymentIntents.capture(
          await intentOf(s, ref),
          ref.amountMinor === undefined ? {} : { amount_to_capture: ref.amountMinor },
          { idempotencyKey: ref.idempotencyKey },
        );
        return stripePayment(await s.checkout.sessions.retrieve(ref.providerPaymentId), pi);
      }),
    cancel: (ref) =>
      guarded(async (s) => {
        const session = await s.checkout.sessions.retrieve(ref.providerPaymentId);
        const intentId = ref.providerIntentId ?? idOf(session.payment_intent);
        if (session.status === 'open') {
          return stripePayment(await s.checkout.sessions.expire(session.id, {}, { idempotencyKey: ref.idempotencyKey }));
        }
        if (!intentId)
          throw PaymentError.of({ code: 'not_cancelable', message: 'nothing to cancel', retryable: false, provider: 'stripe' });
        const pi = await s.paymentIntents.cancel(intentId, {}, { idempotencyKey: ref.idempotencyKey });
        return stripePayment(session, pi);
      }),
    refund: (ref) =>
      guarded(async (s) =>
        stripeRefund(
          await s.refunds.create(
            {
              payment_intent: await intentOf(s, ref),
              amount: ref.amountMinor,
              metadata: { paymentId: ref.paymentId, refundId: ref.refundId },
            },
            { idempotencyKey: ref.idempotencyKey },
          ),
        ),
      ),
    async *listPayments(from, to) {
      const s = await stripe();
      try {
        const created = { gte: Math.floor(from.getTime() / 1000), lt: Math.ceil(to.getTime() / 1000) };
        for await (const session of s.checkout.sessions.list({ created, limit: 100 })) {
          const intentId = idOf(session.payment_intent);
          yield stripePayment(session, intentId ? await s.paymentIntents.retrieve(intentId) : undefined);
        }
      } catch (e) {
        throw classify(e);
      }
    },
    async *listRefunds(from, to) {
      const s = await stripe();
      try {
        const created = { gte: Math.floor(from.getTime() / 1000), lt: Math.ceil(to.getTime() / 1000) };
        for await (const r of s.refunds.list({ created, limit: 100 })) yield stripeRefund(r);
      } catch (e) {
        throw classify(e);
      }
    },
  };
};
