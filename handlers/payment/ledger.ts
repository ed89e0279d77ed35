import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { factMsgId } from '../../core/payments/ledger.js';
import type { PaymentState } from '../../core/payments/state.js';
import type { ResultEvent } from '../../core/runners/handlerRunner.js';
import { type PaymentFactSource, paymentEvents, paymentSubject } from '../../schemas/events/payment.js';
import type { ProviderPayment, ProviderRefund } from './port.js';

const { defs } = paymentEvents;

const open = (s: PaymentState) => s.phase === 'pending' || s.phase === 'waiting_for_capture';

/**
 * The events that bring our state to what the provider reports, and nothing when it already
 * agrees or the report is older (a `pending` after `succeeded`): the same rule for webhooks,
 * the provider's answers and reconciliation.
 */
export const paymentFacts = (s: PaymentState, p: ProviderPayment, source: PaymentFactSource): ResultEvent[] => {
  const subject = paymentSubject(s.paymentId);
  const ref = {
    paymentId: s.paymentId,
    provider: p.provider,
    providerPaymentId: p.providerPaymentId,
    ...(p.providerIntentId ? { providerIntentId: p.providerIntentId } : {}),
  };
  if (p.status === 'waiting_for_capture' && s.phase === 'pending') {
    return [{ subject, msgId: factMsgId.waiting(s.paymentId), type: defs.waitingForCapture.type, data: { ...ref, source } }];
  }
  if (p.status === 'succeeded' && (open(s) || s.phase === 'failed')) {
    const data = {
      ...ref,
      capturedMinor: p.capturedMinor ?? p.amountMinor,
      ...(p.feeMinor === undefined ? {} : { feeMinor: p.feeMinor }),
      paidAt: p.paidAt ?? new Date().toISOString(),
      source,
    };
    return [{ subject, msgId: factMsgId.succeeded(s.paymentId), type: defs.succeeded.type, data }];
  }
  if (p.status === 'canceled' && open(s)) {
    const data = {
      paymentId: s.paymentId,
      provider: p.provider,
      providerPaymentId: p.providerPaymentId,
      reason: (p.cancellationReason ?? 'canceled').slice(0, 500),
      ...(p.cancellationParty ? { party: p.cancellationParty.slice(0, 64) } : {}),
      source,
    };
    return [{ subject, msgId: factMsgId.canceled(s.paymentId), type: defs.canceled.type, data }];
  }
  return [];
};

/** The refund a provider report is about: ours by its metadata or provider id, else one made elsewhere. */
export const refundIdOf = (s: PaymentState, r: ProviderRefund) =>
  r.refundId ??
  Object.values(s.refunds).find((x) => x.providerRefundId === r.providerRefundId)?.refundId ??
  `${r.provider}:${r.providerRefundId}`;

export const refundFacts = (s: PaymentState, r: ProviderRefund, source: PaymentFactSource): ResultEvent[] => {
  const subject = paymentSubject(s.paymentId);
  const refundId = refundIdOf(s, r);
  const known = s.refunds[refundId];
  if (r.status === 'succeeded' && known?.status !== 'succeeded') {
    const data = {
      paymentId: s.paymentId,
      refundId,
      provider: r.provider,
      providerRefundId: r.providerRefundId,
      amountMinor: r.amountMinor,
      source,
    };
    return [{ subject, msgId: factMsgId.refundSucceeded(r.provider, r.providerRefundId), type: defs.refundSucceeded.type, data }];
  }
  if (r.status === 'failed' && known?.status === 'pending') {
    const data = {
      paymentId: s.paymentId,
      refundId,
      amountMinor: known.amountMinor,
      providerRefundId: r.providerRefundId,
      reason: r.reason ?? 'the provider canceled the refund',
      code: 'provider_canceled',
    };
    return [{ subject, msgId: factMsgId.refundFailed(refundId), type: defs.refundFailed.type, data }];
  }
  return [];
};

/** Appends facts directly (reconciliation, the test page): same message ids as the handler's. */
export const appendFacts = async (log: EventLog, facts: readonly ResultEvent[], source: string, correlationId?: string) => {
  for (const f of facts) {
    await log.append(
      f.subject,
      newEvent({ type: f.type, subject: f.subject, source, data: f.data, ...(correlationId ? { correlationId } : {}) }),
      f.msgId === undefined ? {} : { msgId: f.msgId },
    );
  }
};
