import { applyPaymentEvent, type PaymentState, paymentStatus } from '../core/payments/state.js';
import type { PaymentHistoryEntry } from '../core/readModels/paymentTransactions.js';
import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type PaymentEvent, paymentEvents } from '../schemas/events/payment.js';

type Json = Parameters<TransactionSql['json']>[0];

/** The payment an event is about: its own id for the command, `paymentId` for the rest. */
const paymentIdOf = (e: Stored<PaymentEvent>): string | undefined => {
  switch (e.type) {
    case 'payment.requested':
      return e.id;
    case 'payment.refund_requested':
    case 'payment.capture_requested':
    case 'payment.cancel_requested':
    case 'payment.created':
    case 'payment.waiting_for_capture':
    case 'payment.succeeded':
    case 'payment.canceled':
    case 'payment.failed':
    case 'payment.operation_failed':
    case 'payment.refund_initiated':
    case 'payment.refund_succeeded':
    case 'payment.refund_failed':
      return e.data.paymentId;
    // A retried attempt of a payment command: `causationId` is the command, which is the payment
    // for `payment.requested` (an attempt of a refund or capture names no row and is skipped).
    case 'payment.attempt_failed':
      return e.causationId;
    default:
      return unhandledEvent(e);
  }
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What the history keeps of an event: the data, without the customer's contact details. */
const entry = (e: Stored<PaymentEvent>): PaymentHistoryEntry => {
  const { customer: _c, ...data } = e.data as Record<string, unknown>;
  return { type: e.type, time: e.time, seq: e.seq, data };
};

const row = (tx: TransactionSql, s: PaymentState, seq: number, history: PaymentHistoryEntry[]) => ({
  id: s.paymentId,
  order_id: s.orderId,
  provider: s.provider ?? '',
  provider_payment_id: s.providerPaymentId ?? null,
  provider_intent_id: s.providerIntentId ?? null,
  amount_minor: s.amountMinor,
  captured_minor: s.capturedMinor,
  refunded_minor: s.refundedMinor,
  reserved_minor: s.reservedMinor,
  fee_minor: s.feeMinor ?? null,
  currency: s.currency,
  status: paymentStatus(s),
  capture: s.capture,
  description: s.description ?? null,
  customer: s.customer ? tx.json(s.customer) : null,
  customer_email: s.customer?.email ?? null,
  customer_phone: s.customer?.phone ?? null,
  confirmation_url: s.confirmationUrl ?? null,
  return_url: s.returnUrl ?? null,
  error_code: s.errorCode ?? null,
  error_message: s.errorMessage ?? null,
  test_mode: s.testMode,
  last_source: s.lastSource ?? null,
  created_at: new Date(s.createdAt),
  paid_at: s.paidAt ? new Date(s.paidAt) : null,
  updated_at: new Date(s.updatedAt),
  last_seq: seq,
  state: tx.json(s as unknown as Json),
  history: tx.json(history as unknown as Json),
});

/**
 * `payment_transactions` and `payment_refunds`: one row per payment, its state folded by the
 * same rules the handler decides with (`core/payments/state.ts`), kept in `state` so the next
 * event applies to it; every event of the payment also goes to `history`. Events of a batch
 * are grouped per payment: one read and one write per payment touched.
 */
export const paymentTransactionsProjection: FoldProjection<PaymentEvent> = {
  kind: 'fold',
  name: 'payment_transactions',
  stream: 'EVENTS',
  filterSubject: 'evt.payment.>',
  reads: readsDomains(paymentEvents),
  async apply(tx, events) {
    const byPayment = new Map<string, Stored<PaymentEvent>[]>();
    for (const e of events) {
      const id = paymentIdOf(e);
      // Ids the API did not mint (a malformed command from another producer) cannot be rows.
      if (id === undefined || !UUID.test(id)) continue;
      const list = byPayment.get(id) ?? [];
      list.push(e);
      byPayment.set(id, list);
    }
    if (byPayment.size === 0) return;
    const ids = [...byPayment.keys()];
    const current = await tx<{ id: string; state: PaymentState; history: PaymentHistoryEntry[] }[]>`
      SELECT id, state, history FROM payment_transactions WHERE id = ANY(${tx.array(ids)}::uuid[])`;
    const known = new Map(current.map((r) => [r.id, r]));
    const rows: ReturnType<typeof row>[] = [];
    const refunds: Record<string, unknown>[] = [];
    for (const [id, list] of byPayment) {
      const before = known.get(id);
      let state = before && Object.keys(before.state).length > 0 ? before.state : undefined;
      const history = [...(before?.history ?? [])];
      for (const e of list) {
        state = applyPaymentEvent(state, e);
        history.push(entry(e));
      }
      // Events about a payment that has no command or creation here (a refund of an unknown id) stay in the log only.
      if (!state) continue;
      const seq = (list[list.length - 1] as Stored<PaymentEvent>).seq;
      rows.push(row(tx, state, seq, history));
      for (const r of Object.values(state.refunds)) {
        refunds.push({
          id: r.refundId,
          payment_id: id,
          provider: state.provider ?? null,
          provider_refund_id: r.providerRefundId ?? null,
          amount_minor: r.amountMinor,
          currency: state.currency,
          status: r.status,
          reason: r.reason ?? null,
          created_at: new Date(r.createdAt),
          updated_at: new Date(r.updatedAt),
          last_seq: seq,
        });
      }
    }
    if (rows.length > 0) {
      await tx`
        INSERT INTO payment_transactions ${tx(rows)}
        ON CONFLICT (id) DO UPDATE SET
          order_id = excluded.order_id, provider = excluded.provider,
          provider_payment_id = excluded.provider_payment_id, provider_intent_id = excluded.provider_intent_id,
          amount_minor = excluded.amount_minor, captured_minor = excluded.captured_minor,
          refunded_minor = excluded.refunded_minor, reserved_minor = excluded.reserved_minor,
          fee_minor = excluded.fee_minor, currency = excluded.currency, status = excluded.status,
          capture = excluded.capture, description = excluded.description, customer = excluded.customer,
          customer_email = excluded.customer_email, customer_phone = excluded.customer_phone,
          confirmation_url = excluded.confirmation_url, return_url = excluded.return_url,
          error_code = excluded.error_code, error_message = excluded.error_message,
          test_mode = excluded.test_mode, last_source = excluded.last_source,
          paid_at = excluded.paid_at, updated_at = excluded.updated_at, last_seq = excluded.last_seq,
          state = excluded.state, history = excluded.history`;
    }
    if (refunds.length > 0) {
      await tx`
        INSERT INTO payment_refunds ${tx(refunds)}
        ON CONFLICT (id) DO UPDATE SET
          provider_refund_id = excluded.provider_refund_id, amount_minor = excluded.amount_minor,
          status = excluded.status, reason = excluded.reason, updated_at = excluded.updated_at,
          last_seq = excluded.last_seq`;
    }
  },
  async reset(tx) {
    await tx`TRUNCATE payment_transactions, payment_refunds`;
  },
};
