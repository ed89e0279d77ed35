import { derivedMsgId, newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { factMsgId, loadPayment } from '../../core/payments/ledger.js';
import { type PaymentState, refundableMinor } from '../../core/payments/state.js';
import type { CommandOf, Handler, HandlerError, ResultEvent } from '../../core/runners/handlerRunner.js';
import { VersionConflictError } from '../../schemas/errors.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import { paymentCommandSubject, paymentEvents, paymentSubject } from '../../schemas/events/payment.js';
import { paymentFacts, refundFacts } from './ledger.js';
import { PaymentError, type PaymentProvider, type PaymentProviderName } from './port.js';

const { defs } = paymentEvents;
type CommandType =
  | typeof defs.requested.type
  | typeof defs.refundRequested.type
  | typeof defs.captureRequested.type
  | typeof defs.cancelRequested.type;
type Command = CommandOf<CommandType>;

export interface PaymentHandlerDeps {
  /** The provider for a name: live, or test mode. */
  provider(name: PaymentProviderName): PaymentProvider;
  defaultProvider: PaymentProviderName;
  log: EventLog;
  logger: Logger;
}

/** Conditional appends lost to a concurrent writer before the refund gives the attempt back to the runner. */
const MAX_CONFLICTS = 8;

const refused = (message: string, code: string) => PaymentError.of({ code, message, retryable: false });

/**
 * `payment`: carries out payment commands against YooKassa, Stripe or test mode. Every provider
 * call carries an idempotency key derived from the command id, so a retry after a timeout or a
 * crash finds the first call's object instead of making a second one. Results go on the
 * payment's own subject (`evt.payment.tx.<id>`).
 *
 * Refunds are decided on that subject with the log's optimistic concurrency: the amount is
 * reserved by `payment.refund_initiated`, appended only if the subject did not move since the
 * state was read; the loser of a race re-reads and decides again. No lock is held across the
 * provider call. This reservation is the one event a handler appends itself: the runner's
 * results cannot be conditional.
 */
export const paymentHandler = (deps: PaymentHandlerDeps): Handler<CommandType> => {
  const logger = deps.logger.child({ handler: 'payment' });

  const need = async (paymentId: string) => {
    const loaded = await loadPayment(deps.log, paymentId);
    return loaded;
  };
  const providerOf = (s: PaymentState) => deps.provider(s.provider ?? deps.defaultProvider);
  const ref = (s: PaymentState) => ({
    providerPaymentId: s.providerPaymentId as string,
    ...(s.providerIntentId ? { providerIntentId: s.providerIntentId } : {}),
    currency: s.currency,
  });
  const operationFailed = (
    e: Command,
    paymentId: string,
    operation: 'capture' | 'cancel',
    reason: string,
    code: string,
  ): ResultEvent => ({
    subject: paymentSubject(paymentId),
    type: defs.operationFailed.type,
    data: { paymentId, commandId: e.id, operation, reason, code },
  });
  const refundFailed = (
    paymentId: string,
    refundId: string,
    reason: string,
    code: string,
    amountMinor?: number,
  ): ResultEvent => ({
    subject: paymentSubject(paymentId),
    msgId: factMsgId.refundFailed(refundId),
    type: defs.refundFailed.type,
    data: { paymentId, refundId, reason, code, ...(amountMinor === undefined ? {} : { amountMinor }) },
  });

  const create = async (e: CommandOf<typeof defs.requested.type>): Promise<ResultEvent[]> => {
    const d = e.data;
    const provider = deps.provider(d.provider ?? deps.defaultProvider);
    const p = await provider.create({
      paymentId: e.id,
      orderId: d.orderId,
      amountMinor: d.amount,
      currency: d.currency,
      description: d.description,
      returnUrl: d.returnUrl,
      ...(d.customer ? { customer: d.customer } : {}),
      capture: d.capture ?? true,
      idempotencyKey: `payment-${e.id}`,
    });
    if (!p.confirmationUrl)
      throw PaymentError.of({ code: 'no_confirmation_url', message: 'the provider gave no link', retryable: true });
    logger.info({ paymentId: e.id, provider: provider.name, providerPaymentId: p.providerPaymentId }, 'payment created');
    const created: ResultEvent = {
      subject: paymentSubject(e.id),
      msgId: factMsgId.created(e.id),
      type: defs.created.type,
      data: {
        paymentId: e.id,
        provider: provider.name,
        providerPaymentId: p.providerPaymentId,
        ...(p.providerIntentId ? { providerIntentId: p.providerIntentId } : {}),
        confirmationUrl: p.confirmationUrl,
        orderId: d.orderId,
        amountMinor: d.amount,
        currency: d.currency,
        capture: d.capture ?? true,
        testMode: provider.testMode,
        description: d.description,
        ...(d.customer ? { customer: d.customer } : {}),
        returnUrl: d.returnUrl,
        source: 'provider',
      },
    };
    return [created];
  };

  const refund = async (e: CommandOf<typeof defs.refundRequested.type>): Promise<ResultEvent[]> => {
    const { paymentId } = e.data;
    const refundId = e.id;
    for (let conflicts = 0; ; conflicts++) {
      const { state: s, lastSeq } = await need(paymentId);
      if (!s?.providerPaymentId)
        return [refundFailed(paymentId, refundId, `no payment ${paymentId} at a provider`, 'not_found', e.data.amount)];
      let mine = s.refunds[refundId];
      if (mine && mine.status !== 'pending') return [];
      if (!mine) {
        const available = refundableMinor(s);
        const amount = e.data.amount ?? available;
        if (s.phase !== 'succeeded') {
          return [refundFailed(paymentId, refundId, `the payment is ${s.phase}, not succeeded`, 'not_captured', e.data.amount)];
        }
        if (amount <= 0 || amount > available) {
          return [
            refundFailed(
              paymentId,
              refundId,
              `asked ${amount}, refundable ${available} of ${s.capturedMinor} captured (${s.refundedMinor} refunded, ${s.reservedMinor} in progress)`,
              'exceeds_refundable',
              amount,
            ),
          ];
        }
        const initiated = newEvent({
          type: defs.refundInitiated.type,
          subject: paymentSubject(paymentId),
          source: 'handler/payment',
          causationId: e.id,
          correlationId: paymentId,
          data: { paymentId, refundId, amountMinor: amount, currency: s.currency },
        });
        try {
          await deps.log.append(paymentSubject(paymentId), initiated, {
            msgId: factMsgId.refundInitiated(refundId),
            expectedLastSubjectSeq: lastSeq,
          });
        } catch (err) {
          if (err instanceof VersionConflictError && conflicts < MAX_CONFLICTS) continue;
          throw err;
        }
        mine = { refundId, amountMinor: amount, status: 'pending', createdAt: initiated.time, updatedAt: initiated.time };
      }
      const r = await providerOf(s).refund({
        ...ref(s),
        amountMinor: mine.amountMinor,
        paymentId,
        refundId,
        idempotencyKey: `refund-${refundId}`,
      });
      logger.info({ paymentId, refundId, status: r.status, providerRefundId: r.providerRefundId }, 'refund answered');
      // Pending: the provider's webhook (or reconciliation) finishes it.
      const after: PaymentState = { ...s, refunds: { ...s.refunds, [refundId]: mine } };
      return refundFacts(after, { ...r, refundId }, 'provider');
    }
  };

  const capture = async (e: CommandOf<typeof defs.captureRequested.type>): Promise<ResultEvent[]> => {
    const { paymentId } = e.data;
    const { state: s } = await need(paymentId);
    if (!s?.providerPaymentId)
      return [operationFailed(e, paymentId, 'capture', `no payment ${paymentId} at a provider`, 'not_found')];
    if (s.phase !== 'waiting_for_capture') {
      return [operationFailed(e, paymentId, 'capture', `the payment is ${s.phase}, not waiting_for_capture`, 'wrong_state')];
    }
    const amount = e.data.amount ?? s.amountMinor;
    if (amount > s.amountMinor) {
      return [operationFailed(e, paymentId, 'capture', `asked ${amount}, held ${s.amountMinor}`, 'exceeds_amount')];
    }
    const p = await providerOf(s).capture({ ...ref(s), amountMinor: amount, idempotencyKey: `capture-${e.id}` });
    const facts = paymentFacts(s, p, 'provider');
    return facts.length ? facts : [operationFailed(e, paymentId, 'capture', `the provider reports ${p.status}`, 'not_captured')];
  };

  const cancel = async (e: CommandOf<typeof defs.cancelRequested.type>): Promise<ResultEvent[]> => {
    const { paymentId } = e.data;
    const { state: s } = await need(paymentId);
    if (!s?.providerPaymentId)
      return [operationFailed(e, paymentId, 'cancel', `no payment ${paymentId} at a provider`, 'not_found')];
    if (s.phase !== 'pending' && s.phase !== 'waiting_for_capture') {
      return [operationFailed(e, paymentId, 'cancel', `the payment is ${s.phase}`, 'wrong_state')];
    }
    const p = await providerOf(s).cancel({ ...ref(s), idempotencyKey: `cancel-${e.id}` });
    const facts = paymentFacts(
      s,
      p.status === 'canceled'
        ? {
            ...p,
            cancellationReason: p.cancellationReason ?? 'canceled_by_merchant',
            cancellationParty: p.cancellationParty ?? 'merchant',
          }
        : p,
      'provider',
    );
    return facts.length ? facts : [operationFailed(e, paymentId, 'cancel', `the provider reports ${p.status}`, 'not_canceled')];
  };

  return {
    name: 'payment',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, paymentCommandSubject(p)])),
    eventTypes: [defs.requested.type, defs.refundRequested.type, defs.captureRequested.type, defs.cancelRequested.type],
    attemptFailed: defs.attemptFailed,
    async handle(e) {
      switch (e.type) {
        case 'payment.requested':
          return create(e);
        case 'payment.refund_requested':
          return refund(e);
        case 'payment.capture_requested':
          return capture(e);
        case 'payment.cancel_requested':
          return cancel(e);
        default:
          throw refused(`not a payment command: ${(e as { type: string }).type}`, 'invalid_command');
      }
    },
    onGiveUp(e, reason, error: HandlerError) {
      const code = error instanceof PaymentError ? error.code : 'gave_up';
      const provider = error instanceof PaymentError ? error.details?.provider : undefined;
      logger.warn({ id: e.id, type: e.type, code, reason }, 'payment command failed');
      switch (e.type) {
        case 'payment.requested':
          return [
            {
              subject: paymentSubject(e.id),
              msgId: derivedMsgId(e.id, 'payment/failed'),
              type: defs.failed.type,
              data: { paymentId: e.id, reason, code, permanent: !error.retryable, ...(provider ? { provider } : {}) },
            },
          ];
        case 'payment.refund_requested':
          return [refundFailed(e.data.paymentId, e.id, reason.slice(0, 1_000), code, e.data.amount)];
        case 'payment.capture_requested':
          return [operationFailed(e, e.data.paymentId, 'capture', reason, code)];
        case 'payment.cancel_requested':
          return [operationFailed(e, e.data.paymentId, 'cancel', reason, code)];
        default:
          return [];
      }
    },
  };
};
