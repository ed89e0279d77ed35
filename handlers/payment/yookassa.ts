import {
  type CreatePaymentInput,
  currencyDigits,
  decimalToMinor,
  minorToDecimal,
  PaymentError,
  type PaymentProvider,
  type ProviderPayment,
  type ProviderRefund,
} from './port.js';
import type { YooKassaSettings } from './settings.js';

export interface YooKassaOptions {
  settings: () => Promise<YooKassaSettings | undefined>;
  timeoutMs: number;
  fetch?: typeof fetch;
}

interface Amount {
  value: string;
  currency: string;
}
type YkObject = Record<string, unknown> & { id: string; status: string };

const amount = (minor: number, currency: string): Amount => ({
  value: minorToDecimal(minor, currencyDigits(currency)),
  currency,
});
const minorOf = (a: unknown): number | undefined => {
  const v = a as Amount | undefined;
  return v && typeof v.value === 'string' ? decimalToMinor(v.value, currencyDigits(v.currency)) : undefined;
};
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** A YooKassa payment object in our terms. */
export const yookassaPayment = (o: YkObject): ProviderPayment => {
  const a = o.amount as Amount;
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const cancel = o.cancellation_details as { party?: string; reason?: string } | undefined;
  const status = o.status as ProviderPayment['status'];
  const total = minorOf(a) ?? 0;
  const income = minorOf(o.income_amount);
  const captured = status === 'succeeded' ? (minorOf(o.captured_amount) ?? total) : undefined;
  const paymentId = str(meta.paymentId);
  const orderId = str(meta.orderId);
  const confirmationUrl = str((o.confirmation as Record<string, unknown> | undefined)?.confirmation_url);
  const paidAt = str(o.captured_at);
  return {
    provider: 'yookassa',
    providerPaymentId: o.id,
    status,
    amountMinor: total,
    currency: a.currency,
    ...(captured === undefined ? {} : { capturedMinor: captured }),
    ...(status === 'succeeded' && income !== undefined ? { feeMinor: Math.max(0, total - income) } : {}),
    ...(confirmationUrl ? { confirmationUrl } : {}),
    ...(paymentId ? { paymentId } : {}),
    ...(orderId ? { orderId } : {}),
    ...(cancel?.reason ? { cancellationReason: cancel.reason } : {}),
    ...(cancel?.party ? { cancellationParty: cancel.party } : {}),
    createdAt: str(o.created_at) ?? new Date().toISOString(),
    ...(paidAt ? { paidAt } : {}),
  };
};

export const yookassaRefund = (o: YkObject): ProviderRefund => {
  const a = o.amount as Amount;
  const meta = (o.metadata ?? {}) as Record<string, unknown>;
  const cancel = o.cancellation_details as { reason?: string } | undefined;
  const refundId = str(meta.refundId);
  const paymentId = str(meta.paymentId);
  return {
    provider: 'yookassa',
    providerRefundId: o.id,
    providerPaymentRef: String(o.payment_id),
    status: o.status === 'succeeded' ? 'succeeded' : o.status === 'canceled' ? 'failed' : 'pending',
    amountMinor: minorOf(a) ?? 0,
    currency: a.currency,
    ...(refundId ? { refundId } : {}),
    ...(paymentId ? { paymentId } : {}),
    ...(cancel?.reason ? { reason: cancel.reason } : {}),
    createdAt: str(o.created_at) ?? new Date().toISOString(),
  };
};

/** Retry rules (PROVIDERS.md §3): 500, 202, 429 and timeouts are repeated with the same key; other 4xx are final. */
const classify = async (res: Response): Promise<PaymentError> => {
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  const code = str(body.code) ?? `http_${res.status}`;
  const description = str(body.description) ?? res.statusText;
  const retryAfter = Number(body.retry_after);
  const retryable = res.status >= 500 || res.status === 202 || res.status === 429;
  return PaymentError.of({
    code: res.status === 202 ? 'processing' : code,
    message: `YooKassa ${res.status} ${code}: ${description}${body.parameter ? ` (${String(body.parameter)})` : ''}`.slice(
      0,
      500,
    ),
    retryable,
    provider: 'yookassa',
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter } : {}),
  });
};

/**
 * YooKassa API v3 over HTTPS (plain `fetch`: the API is a handful of JSON calls, and the
 * unofficial SDKs throw raw axios errors). Basic auth shop id / secret key, `Idempotence-Key`
 * on every POST, redirect confirmation, a 54-FZ receipt when an e-mail or phone is given.
 */
export const yookassaProvider = (opts: YooKassaOptions): PaymentProvider => {
  const doFetch = opts.fetch ?? fetch;
  const call = async (method: 'GET' | 'POST', path: string, body?: object, idempotencyKey?: string): Promise<YkObject> => {
    const s = await opts.settings();
    if (!s) {
      throw PaymentError.of({
        code: 'not_configured',
        message: 'YooKassa is not configured: set YANDEX_KASSA_SHOP_ID and YANDEX_KASSA_SECRET_KEY (or PAYMENT_TEST_MODE=true)',
        retryable: false,
        provider: 'yookassa',
      });
    }
    let res: Response;
    try {
      res = await doFetch(s.apiUrl + path, {
        method,
        headers: {
          authorization: `Basic ${Buffer.from(`${s.shopId}:${s.secretKey}`).toString('base64')}`,
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(idempotencyKey ? { 'idempotence-key': idempotencyKey } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
    } catch (e) {
      const timeout = (e as Error).name === 'TimeoutError';
      throw PaymentError.of(
        {
          code: timeout ? 'timeout' : 'connection',
          message: `YooKassa ${timeout ? `did not answer in ${opts.timeoutMs} ms` : `unreachable: ${(e as Error).message}`}`,
          retryable: true,
          provider: 'yookassa',
        },
        e,
      );
    }
    if (res.status !== 200) throw await classify(res);
    return (await res.json()) as YkObject;
  };

  async function* list<T>(path: string, from: Date, to: Date, map: (o: YkObject) => T): AsyncIterable<T> {
    let cursor: string | undefined;
    do {
      const q = new URLSearchParams({ 'created_at.gte': from.toISOString(), 'created_at.lt': to.toISOString(), limit: '100' });
      if (cursor) q.set('cursor', cursor);
      const page = (await call('GET', `${path}?${q}`)) as unknown as { items: YkObject[]; next_cursor?: string };
      for (const o of page.items ?? []) yield map(o);
      cursor = page.next_cursor;
    } while (cursor);
  }

  return {
    name: 'yookassa',
    testMode: false,
    async create(input: CreatePaymentInput) {
      const contact = input.customer?.email
        ? { email: input.customer.email }
        : input.customer?.phone
          ? { phone: input.customer.phone.replace(/^\+/, '') }
          : undefined;
      const body = {
        amount: amount(input.amountMinor, input.currency),
        capture: input.capture,
        confirmation: { type: 'redirect', return_url: input.returnUrl },
        description: input.description,
        metadata: { paymentId: input.paymentId, orderId: input.orderId },
        // 54-FZ: a receipt whenever there is someone to send it to; one line, the whole amount, no VAT (vat_code 1).
        ...(contact
          ? {
              receipt: {
                customer: { ...contact, ...(input.customer?.name ? { full_name: input.customer.name } : {}) },
                items: [
                  {
                    description: input.description,
                    quantity: '1.00',
                    amount: amount(input.amountMinor, input.currency),
                    vat_code: 1,
                    payment_mode: 'full_payment',
                    payment_subject: 'service',
                  },
                ],
              },
            }
          : {}),
      };
      return yookassaPayment(await call('POST', '/payments', body, input.idempotencyKey));
    },
    async get(ref) {
      return yookassaPayment(await call('GET', `/payments/${encodeURIComponent(ref.providerPaymentId)}`));
    },
    async capture(ref) {
      const body = ref.amountMinor === undefined ? {} : { amount: amount(ref.amountMinor, ref.currency) };
      return yookassaPayment(
        await call('POST', `/payments/${encodeURIComponent(ref.providerPaymentId)}/capture`, body, ref.idempotencyKey),
      );
    },
    async cancel(ref) {
      return yookassaPayment(
        await call('POST', `/payments/${encodeURIComponent(ref.providerPaymentId)}/cancel`, {}, ref.idempotencyKey),
      );
    },
    async refund(ref) {
      const body = {
        payment_id: ref.providerPaymentId,
        amount: amount(ref.amountMinor, ref.currency),
        metadata: { paymentId: ref.paymentId, refundId: ref.refundId },
      };
      return yookassaRefund(await call('POST', '/refunds', body, ref.idempotencyKey));
    },
    listPayments: (from, to) => list('/payments', from, to, yookassaPayment),
    listRefunds: (from, to) => list('/refunds', from, to, yookassaRefund),
  };
};
