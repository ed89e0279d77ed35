import { loadPayment } from '../../core/payments/ledger.js';
import { paymentStatus } from '../../core/payments/state.js';
import { CreatePaymentRequest, RefundPaymentRequest } from '../../schemas/http/payment.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import type { RouteSpec } from '../route.js';
import { minorDigits, requestPayment, requestRefund, waitForLink } from '../routes/payments.js';
import { isUuid } from '../routes/rules.js';
import { validate } from '../validation.js';
import { asLegacy, compact, type LegacyAction, legacyRoute, lower, missing, ok, text } from './common.js';

const NAMES = { orderId: 'application_id', returnUrl: 'return_url', 'customer.email': 'customer_email' };
/** The PHP gateway's names for the providers (`PAYMENT_PROVIDER=yandex`). */
const PROVIDERS: Readonly<Record<string, string>> = {
  yandex: 'yookassa',
  yandex_kassa: 'yookassa',
  yookassa: 'yookassa',
  stripe: 'stripe',
};
/** PaymentGateway.php's defaults. */
const DEFAULT_CURRENCY = 'RUB';
const DEFAULT_DESCRIPTION = 'Payment for application';

/**
 * The PHP API took amounts in major units (`5000.00` roubles; it sent YooKassa
 * `number_format($amount, 2)` and Stripe `$amount * 100`); v1 takes integer minor units.
 * Converted from the decimal text, never through a float product.
 */
/** A loop, not `/0+$/`: that regex retries from every zero of `1.000…01` and takes minutes on a long one. */
const withoutTrailingZeros = (digits: string) => {
  let end = digits.length;
  while (end > 0 && digits.charCodeAt(end - 1) === 48) end--;
  return digits.slice(0, end);
};

export const majorToMinor = (v: unknown, currency: string): unknown => {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : undefined;
  if (s === undefined) return v;
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw missing('amount', 'a positive amount in major units, e.g. 1500.00');
  const digits = minorDigits(currency);
  const fraction = withoutTrailingZeros(m[2] ?? '');
  if (fraction.length > digits) throw missing('amount', `${currency} has ${digits} decimal places; ${s} has more`);
  return Number((m[1] as string) + fraction.padEnd(digits, '0'));
};

interface PaymentRow {
  id: string;
  status: string;
  currency: string;
  provider_payment_id: string | null;
  confirmation_url: string | null;
}

/** By our id (what `create` answers as transaction_id) or by the provider's payment id. */
const findPayment = async (deps: ApiDeps, ref: string) => {
  const [row] = isUuid(ref)
    ? await deps.sql<PaymentRow[]>`SELECT id, status, currency, provider_payment_id, confirmation_url
                                   FROM payment_transactions WHERE id = ${ref}`
    : await deps.sql<PaymentRow[]>`SELECT id, status, currency, provider_payment_id, confirmation_url
                                   FROM payment_transactions WHERE provider_payment_id = ${ref} LIMIT 1`;
  return row;
};

/**
 * `/api/payment-gateway.php`: POST `action=create|refund`, GET `action=status`. `create` waits
 * for the provider's link as the PHP gateway did (up to PAYMENT_WAIT_MAX_SECONDS), so the CRM's
 * code gets `payment_link` in the answer; past that it answers `payment_link: null` and `status`
 * shows the link once the provider gave it. `status` answers from `payment_transactions`, or from
 * the payment's events while the read model has not caught up.
 */
export const paymentGatewayPhp = (deps: ApiDeps): RouteSpec[] => {
  const create: LegacyAction = async ({ ctx, body, via }) => {
    const cur = text(body.currency);
    const currency = typeof cur === 'string' ? cur.toUpperCase() : DEFAULT_CURRENCY;
    const email = text(body.customer_email);
    const provider = lower(text(body.provider));
    const req = compact({
      orderId: text(body.application_id ?? body.order_id),
      amount: majorToMinor(text(body.amount), currency),
      currency,
      description: text(body.description) ?? DEFAULT_DESCRIPTION,
      returnUrl: text(body.return_url),
      customer: email === undefined ? undefined : { email },
      provider: typeof provider === 'string' ? (PROVIDERS[provider] ?? provider) : provider,
    });
    const { id } = await asLegacy(NAMES, () =>
      requestPayment(deps, ctx, validate<CreatePaymentRequest>(CreatePaymentRequest, req, 'body'), via),
    );
    const { state } = await waitForLink(deps, id, deps.config.payments.waitMaxSeconds);
    return ok({
      transaction_id: state?.providerPaymentId ?? id,
      id,
      payment_link: state?.confirmationUrl ?? null,
      status: state ? paymentStatus(state) : 'pending',
    });
  };

  const refund: LegacyAction = async ({ ctx, body, via }) => {
    const ref = text(body.transaction_id ?? body.id);
    if (typeof ref !== 'string') throw missing('transaction_id', 'Transaction ID required');
    const row = await findPayment(deps, ref);
    if (!row && !isUuid(ref)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no payment ${ref}`);
    // The PHP gateway refunded in RUB whatever the payment's currency; the payment's own is right.
    const req = compact({ amount: majorToMinor(text(body.amount), row?.currency.trim() ?? DEFAULT_CURRENCY) });
    const { id, status } = await asLegacy({}, () =>
      requestRefund(
        deps,
        ctx,
        row?.id ?? ref.toLowerCase(),
        validate<RefundPaymentRequest>(RefundPaymentRequest, req, 'body'),
        via,
      ),
    );
    return ok({ refund_id: id, id, status });
  };

  const status: LegacyAction = async ({ query }) => {
    const ref = text(query.transaction_id ?? query.id);
    if (typeof ref !== 'string') throw missing('transaction_id', 'Transaction ID required');
    const row = await findPayment(deps, ref);
    if (!row && isUuid(ref)) {
      const { state } = await loadPayment(deps.log, ref.toLowerCase());
      if (state) {
        return ok({
          id: state.paymentId,
          transaction_id: state.providerPaymentId ?? state.paymentId,
          status: paymentStatus(state),
          payment_link: state.confirmationUrl ?? null,
        });
      }
    }
    if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no payment ${ref}`);
    return ok({
      id: row.id,
      transaction_id: row.provider_payment_id ?? row.id,
      status: row.status,
      payment_link: row.confirmation_url,
    });
  };

  const endpoint = {
    path: '/api/payment-gateway.php',
    scope: 'payments',
    summary: 'Legacy payment endpoint of the PHP CRM',
  } as const;
  return [
    legacyRoute({ ...endpoint, method: 'POST', actions: { create, refund } }),
    legacyRoute({ ...endpoint, method: 'GET', actions: { status } }),
  ];
};
