import type { LoadedPayment } from '../../core/payments/ledger.js';
import { paymentStatus } from '../../core/payments/state.js';
import type { PaymentRefundRow, PaymentTransactionRow } from '../../core/readModels/paymentTransactions.js';
import type { PaymentCreated, PaymentView } from '../../schemas/http/payment.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

/** A `payment_transactions` row (and its refunds) as the API shows it. */
export const paymentView = (
  r: PaymentTransactionRow,
  refunds?: readonly PaymentRefundRow[],
  withHistory = false,
): PaymentView => ({
  id: r.id,
  orderId: r.order_id,
  status: r.status,
  provider: r.provider,
  providerPaymentId: r.provider_payment_id,
  amount: Number(r.amount_minor),
  captured: Number(r.captured_minor),
  refunded: Number(r.refunded_minor),
  refundPending: Number(r.reserved_minor),
  fee: r.fee_minor === null ? null : Number(r.fee_minor),
  currency: r.currency.trim(),
  capture: r.capture,
  description: r.description,
  paymentLink: r.confirmation_url,
  error: r.error_code === null && r.error_message === null ? null : { code: r.error_code, message: r.error_message },
  testMode: r.test_mode,
  createdAt: r.created_at.toISOString(),
  paidAt: iso(r.paid_at),
  updatedAt: r.updated_at.toISOString(),
  ...(refunds
    ? {
        refunds: refunds.map((f) => ({
          id: f.id,
          amount: Number(f.amount_minor),
          status: f.status,
          providerRefundId: f.provider_refund_id,
          reason: f.reason,
          createdAt: f.created_at.toISOString(),
          updatedAt: f.updated_at.toISOString(),
        })),
      }
    : {}),
  ...(withHistory ? { history: r.history } : {}),
});

/** What `Prefer: wait` answers, from the payment's own subject (the read model may lag behind). */
export const createdView = (id: string, loaded: LoadedPayment): PaymentCreated => {
  const s = loaded.state;
  return {
    id,
    status: s ? paymentStatus(s) : 'pending',
    paymentLink: s?.confirmationUrl ?? null,
    provider: s?.provider ?? null,
    providerPaymentId: s?.providerPaymentId ?? null,
    ...(s?.errorMessage ? { error: s.errorMessage } : {}),
  };
};

/** `wait=N` of a Prefer header (RFC 7240), in seconds, capped; undefined when absent or malformed. */
export const preferWait = (header: string | undefined, maxSeconds: number): number | undefined => {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /^\s*wait\s*=\s*"?(\d{1,4})"?\s*(;.*)?$/i.exec(part);
    if (m) return Math.min(Number(m[1]), maxSeconds);
  }
  return undefined;
};

/** Cursor of a keyset page: the last row's (created_at, id), opaque to clients. */
export const encodeCursor = (r: PaymentTransactionRow) =>
  Buffer.from(`${r.created_at.toISOString()}|${r.id}`).toString('base64url');
export const decodeCursor = (c: string): { createdAt: Date; id: string } | undefined => {
  const [at, id] = Buffer.from(c, 'base64url').toString('utf8').split('|');
  const createdAt = new Date(at ?? '');
  if (!id || !/^[0-9a-f-]{36}$/.test(id) || Number.isNaN(createdAt.getTime())) return undefined;
  return { createdAt, id };
};
