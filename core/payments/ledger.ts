import { paymentSubject } from '../../schemas/events/payment.js';
import type { EventLog } from '../eventlog/port.js';
import { foldPayment, type PaymentFact, type PaymentState } from './state.js';

/** A payment as its own subject tells it, and the subject's last sequence (for a conditional append). */
export interface LoadedPayment {
  state: PaymentState | undefined;
  lastSeq: number;
}

/** Reads the payment's subject from the log (not the read model, which may lag) and folds it. */
export const loadPayment = async (log: EventLog, paymentId: string): Promise<LoadedPayment> => {
  const messages = await log.read('EVENTS', 10_000, { filterSubject: paymentSubject(paymentId) });
  const events = messages.flatMap((m) => m.events) as unknown as PaymentFact[];
  return { state: foldPayment(events), lastSeq: messages.length ? (messages[messages.length - 1]?.seq ?? 0) : 0 };
};

/**
 * Message ids per fact, shared by every writer of it (the handler's own call, a webhook, the
 * test page, reconciliation), so the log keeps one of each even when two paths learn it at once.
 */
export const factMsgId = {
  created: (paymentId: string) => `pay-created-${paymentId}`,
  waiting: (paymentId: string) => `pay-wfc-${paymentId}`,
  succeeded: (paymentId: string) => `pay-ok-${paymentId}`,
  canceled: (paymentId: string) => `pay-canceled-${paymentId}`,
  refundInitiated: (refundId: string) => `refund-init-${refundId}`,
  refundSucceeded: (provider: string, providerRefundId: string) => `refund-ok-${provider}-${providerRefundId}`,
  refundFailed: (refundId: string) => `refund-failed-${refundId}`,
};
