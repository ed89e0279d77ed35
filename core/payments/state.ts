import type { PaymentEvent, PaymentFactSource } from '../../schemas/events/payment.js';

/** Where a payment is in its life at the provider. */
export type PaymentPhase = 'pending' | 'waiting_for_capture' | 'succeeded' | 'canceled' | 'failed';
/** What the API and `payment_transactions.status` show: the phase, with refunds folded in. */
export type PaymentStatus = PaymentPhase | 'partially_refunded' | 'refunded';

export interface RefundState {
  refundId: string;
  amountMinor: number;
  /** `pending`: reserved, the provider has not said yet. */
  status: 'pending' | 'succeeded' | 'failed';
  providerRefundId?: string;
  reason?: string;
  createdAt: string;
  updatedAt: string;
}

/**
 * One payment folded from its events: the handler decides on it (read from the payment's own
 * subject), the projection stores it (`payment_transactions.state`), so both apply the same rules.
 */
export interface PaymentState {
  paymentId: string;
  orderId: string;
  provider: 'yookassa' | 'stripe' | undefined;
  providerPaymentId?: string;
  providerIntentId?: string;
  confirmationUrl?: string;
  amountMinor: number;
  currency: string;
  capture: boolean;
  testMode: boolean;
  description?: string;
  customer?: Record<string, string>;
  returnUrl?: string;
  phase: PaymentPhase;
  capturedMinor: number;
  /** Refunds the provider confirmed. */
  refundedMinor: number;
  /** Refunds reserved, not yet confirmed or failed. */
  reservedMinor: number;
  feeMinor?: number;
  refunds: Record<string, RefundState>;
  errorCode?: string;
  errorMessage?: string;
  createdAt: string;
  paidAt?: string;
  updatedAt: string;
  /** The last fact's source, for the audit (`reconciliation` marks a repair). */
  lastSource?: PaymentFactSource;
}

/** An event of the payment domain as the fold needs it (a stored event or a fresh envelope). */
type FactOf<E> = E extends { type: string; data: unknown; id: string; time: string }
  ? Pick<E, 'type' | 'data' | 'id' | 'time'>
  : never;
export type PaymentFact = FactOf<PaymentEvent>;

export const paymentStatus = (s: PaymentState): PaymentStatus => {
  if (s.phase !== 'succeeded' || s.refundedMinor === 0) return s.phase;
  return s.refundedMinor >= s.capturedMinor ? 'refunded' : 'partially_refunded';
};

/** What may still be refunded: captured, less what is refunded or reserved. */
export const refundableMinor = (s: PaymentState): number =>
  s.phase === 'succeeded' ? Math.max(0, s.capturedMinor - s.refundedMinor - s.reservedMinor) : 0;

const open = (p: PaymentPhase) => p === 'pending' || p === 'waiting_for_capture';

/**
 * Applies one event. Order-tolerant where providers are not ordered: a late `pending` after
 * `succeeded`, a second `succeeded`, a `canceled` after `succeeded` change nothing; a refund
 * confirmed before the payment's success still counts (the success that follows keeps it).
 * Returns the same object when the event changes nothing.
 */
export const applyPaymentEvent = (s: PaymentState | undefined, e: PaymentFact): PaymentState | undefined => {
  const at = e.time;
  switch (e.type) {
    case 'payment.requested': {
      if (s) return s;
      const d = e.data;
      return {
        paymentId: e.id,
        orderId: d.orderId,
        provider: d.provider,
        amountMinor: d.amount,
        currency: d.currency,
        capture: d.capture ?? true,
        testMode: false,
        description: d.description,
        ...(d.customer ? { customer: { ...d.customer } as Record<string, string> } : {}),
        returnUrl: d.returnUrl,
        phase: 'pending',
        capturedMinor: 0,
        refundedMinor: 0,
        reservedMinor: 0,
        refunds: {},
        createdAt: at,
        updatedAt: at,
      };
    }
    case 'payment.created': {
      const d = e.data;
      const base: PaymentState = s ?? {
        paymentId: d.paymentId,
        orderId: d.orderId,
        provider: d.provider,
        amountMinor: d.amountMinor,
        currency: d.currency,
        capture: d.capture,
        testMode: d.testMode,
        phase: 'pending',
        capturedMinor: 0,
        refundedMinor: 0,
        reservedMinor: 0,
        refunds: {},
        createdAt: at,
        updatedAt: at,
      };
      if (base.providerPaymentId !== undefined) return base;
      return {
        ...base,
        orderId: d.orderId,
        provider: d.provider,
        providerPaymentId: d.providerPaymentId,
        ...(d.providerIntentId ? { providerIntentId: d.providerIntentId } : {}),
        confirmationUrl: d.confirmationUrl,
        amountMinor: d.amountMinor,
        currency: d.currency,
        capture: d.capture,
        testMode: d.testMode,
        ...(d.description ? { description: d.description } : {}),
        ...(d.customer ? { customer: { ...d.customer } as Record<string, string> } : {}),
        ...(d.returnUrl ? { returnUrl: d.returnUrl } : {}),
        // A payment that failed to be created and then was (a retry after a give-up) is pending again.
        phase: base.phase === 'failed' ? 'pending' : base.phase,
        updatedAt: at,
        lastSource: d.source,
      };
    }
    case 'payment.waiting_for_capture': {
      if (s?.phase !== 'pending') return s;
      return {
        ...s,
        phase: 'waiting_for_capture',
        ...(e.data.providerIntentId ? { providerIntentId: e.data.providerIntentId } : {}),
        updatedAt: at,
        lastSource: e.data.source,
      };
    }
    case 'payment.succeeded': {
      if (!s || !(open(s.phase) || s.phase === 'failed')) return s;
      const d = e.data;
      return {
        ...s,
        phase: 'succeeded',
        capturedMinor: d.capturedMinor,
        ...(d.feeMinor === undefined ? {} : { feeMinor: d.feeMinor }),
        ...(d.providerIntentId ? { providerIntentId: d.providerIntentId } : {}),
        providerPaymentId: s.providerPaymentId ?? d.providerPaymentId,
        provider: s.provider ?? d.provider,
        paidAt: d.paidAt,
        updatedAt: at,
        lastSource: d.source,
      };
    }
    case 'payment.canceled': {
      if (!s || !open(s.phase)) return s;
      return { ...s, phase: 'canceled', errorMessage: e.data.reason, updatedAt: at, lastSource: e.data.source };
    }
    case 'payment.failed': {
      if (!s || s.providerPaymentId !== undefined) return s;
      const d = e.data;
      return { ...s, phase: 'failed', errorMessage: d.reason, ...(d.code ? { errorCode: d.code } : {}), updatedAt: at };
    }
    case 'payment.refund_initiated': {
      if (!s || s.refunds[e.data.refundId]) return s;
      const d = e.data;
      const refund: RefundState = {
        refundId: d.refundId,
        amountMinor: d.amountMinor,
        status: 'pending',
        createdAt: at,
        updatedAt: at,
      };
      return {
        ...s,
        reservedMinor: s.reservedMinor + d.amountMinor,
        refunds: { ...s.refunds, [d.refundId]: refund },
        updatedAt: at,
      };
    }
    case 'payment.refund_succeeded': {
      if (!s) return s;
      const d = e.data;
      const known = s.refunds[d.refundId] ?? Object.values(s.refunds).find((r) => r.providerRefundId === d.providerRefundId);
      if (known?.status === 'succeeded') return s;
      const reserved = known?.status === 'pending' ? known.amountMinor : 0;
      const refund: RefundState = {
        refundId: known?.refundId ?? d.refundId,
        amountMinor: d.amountMinor,
        status: 'succeeded',
        providerRefundId: d.providerRefundId,
        createdAt: known?.createdAt ?? at,
        updatedAt: at,
      };
      return {
        ...s,
        reservedMinor: s.reservedMinor - reserved,
        refundedMinor: s.refundedMinor + d.amountMinor,
        refunds: { ...s.refunds, [refund.refundId]: refund },
        updatedAt: at,
        lastSource: d.source,
      };
    }
    case 'payment.refund_failed': {
      if (!s) return s;
      const d = e.data;
      const known = s.refunds[d.refundId];
      if (known && known.status !== 'pending') return s;
      const refund: RefundState = {
        refundId: d.refundId,
        amountMinor: known?.amountMinor ?? d.amountMinor ?? 0,
        status: 'failed',
        reason: d.reason,
        ...(d.providerRefundId ? { providerRefundId: d.providerRefundId } : {}),
        createdAt: known?.createdAt ?? at,
        updatedAt: at,
      };
      return {
        ...s,
        reservedMinor: s.reservedMinor - (known?.amountMinor ?? 0),
        refunds: { ...s.refunds, [d.refundId]: refund },
        updatedAt: at,
      };
    }
    // History only: the command, a refused capture or cancel, a retried attempt.
    case 'payment.refund_requested':
    case 'payment.capture_requested':
    case 'payment.cancel_requested':
    case 'payment.operation_failed':
    case 'payment.attempt_failed':
      return s;
    default:
      return s;
  }
};

export const foldPayment = (events: readonly PaymentFact[], from?: PaymentState) =>
  events.reduce<PaymentState | undefined>((s, e) => applyPaymentEvent(s, e), from);
