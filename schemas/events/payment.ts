import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, commandSubject } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { EmailAddress } from './email.js';
import { AttemptFailed, type Priority } from './envelope.js';
import { E164 } from './sms.js';

/** Integer minor units (kopecks, cents): no float ever carries money. */
export const AmountMinor = Type.Integer({
  minimum: 1,
  maximum: Number.MAX_SAFE_INTEGER,
  description: 'integer minor units, e.g. 150000 for 1500.00 RUB',
});
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'an ISO 4217 code, e.g. RUB' });
export const PaymentProviderName = Type.Union([Type.Literal('yookassa'), Type.Literal('stripe')]);

export const PaymentCustomer = Type.Object(
  {
    email: Type.Optional(EmailAddress),
    phone: Type.Optional(E164),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
  },
  { additionalProperties: false, description: 'for the fiscal receipt (54-FZ) and the provider page' },
);
export type PaymentCustomer = Static<typeof PaymentCustomer>;

/** The fields of a payment command, shared by the HTTP body and the event. */
export const paymentFields = {
  orderId: Type.String({ minLength: 1, maxLength: 64, description: "the CRM's order (application) id" }),
  amount: AmountMinor,
  currency: Currency,
  // YooKassa refuses a description over 128 characters; better refused here than by the provider later.
  description: Type.String({ minLength: 1, maxLength: 128 }),
  returnUrl: Type.String({
    maxLength: 2048,
    pattern: '^https?://\\S+$',
    description: 'where the provider sends the customer back',
  }),
  customer: Type.Optional(PaymentCustomer),
  provider: Type.Optional(PaymentProviderName),
  /** `false`: two-stage; the money is held until `POST /api/v1/payments/{id}/capture` (or cancel). */
  capture: Type.Optional(Type.Boolean({ description: 'default true' })),
};

/** `payment.requested`: create a payment (link) with the provider. */
export const PaymentRequested = Type.Object({ ...paymentFields, ...CommandAudit }, { additionalProperties: false });
export type PaymentRequested = Static<typeof PaymentRequested>;

/** `payment.refund_requested`: refund a payment, whole (no amount) or in part. */
export const PaymentRefundRequested = Type.Object(
  {
    paymentId: Type.String({ description: 'the id of the payment command' }),
    amount: Type.Optional(AmountMinor),
    ...CommandAudit,
  },
  { additionalProperties: false },
);
export type PaymentRefundRequested = Static<typeof PaymentRefundRequested>;

const paymentRef = {
  /** Our id of the payment: the id of its `payment.requested`. */
  paymentId: Type.String(),
};
const providerRef = {
  provider: PaymentProviderName,
  /** YooKassa's payment id, or Stripe's Checkout Session id (`cs_…`). */
  providerPaymentId: Type.String(),
};
/** Who established a fact: the provider's answer to our call, its webhook, the test-mode page, or `fleetgate payments reconcile --fix`. */
export const PaymentFactSource = Type.Union([
  Type.Literal('provider'),
  Type.Literal('webhook'),
  Type.Literal('test_page'),
  Type.Literal('reconciliation'),
]);
export type PaymentFactSource = Static<typeof PaymentFactSource>;
const sourced = { source: PaymentFactSource };

/** `payment.created`: the provider holds the payment; the customer pays at `confirmationUrl`. */
export const PaymentCreated = Type.Object(
  {
    ...paymentRef,
    ...providerRef,
    /** Stripe's PaymentIntent (`pi_…`) when the session has one; captures and refunds use it. */
    providerIntentId: Type.Optional(Type.String()),
    confirmationUrl: Type.String(),
    orderId: Type.String(),
    amountMinor: AmountMinor,
    currency: Currency,
    capture: Type.Boolean(),
    testMode: Type.Boolean(),
    description: Type.Optional(Type.String()),
    customer: Type.Optional(PaymentCustomer),
    returnUrl: Type.Optional(Type.String()),
    ...sourced,
  },
  { additionalProperties: false },
);
export type PaymentCreated = Static<typeof PaymentCreated>;

/** `payment.waiting_for_capture`: authorised, held for capture (`capture: false`). */
export const PaymentWaitingForCapture = Type.Object(
  { ...paymentRef, ...providerRef, providerIntentId: Type.Optional(Type.String()), ...sourced },
  { additionalProperties: false },
);
export type PaymentWaitingForCapture = Static<typeof PaymentWaitingForCapture>;

/** `payment.succeeded`: the money is captured (all, or the part a partial capture took). */
export const PaymentSucceeded = Type.Object(
  {
    ...paymentRef,
    ...providerRef,
    providerIntentId: Type.Optional(Type.String()),
    capturedMinor: AmountMinor,
    /** The provider's fee, where it reports one (YooKassa: amount − income_amount). */
    feeMinor: Type.Optional(Type.Integer({ minimum: 0 })),
    paidAt: Type.String({ format: 'date-time' }),
    ...sourced,
  },
  { additionalProperties: false },
);
export type PaymentSucceeded = Static<typeof PaymentSucceeded>;

/** `payment.canceled`: will never be paid; `reason` is the provider's (YooKassa `cancellation_details`) or ours. */
export const PaymentCanceled = Type.Object(
  {
    ...paymentRef,
    provider: PaymentProviderName,
    providerPaymentId: Type.Optional(Type.String()),
    reason: Type.String({ maxLength: 500 }),
    /** YooKassa's `cancellation_details.party` (yoo_money, payment_network, merchant). */
    party: Type.Optional(Type.String({ maxLength: 64 })),
    ...sourced,
  },
  { additionalProperties: false },
);
export type PaymentCanceled = Static<typeof PaymentCanceled>;

/** `payment.failed`: no payment was created (the provider refused, or the attempts ran out). */
export const PaymentFailed = Type.Object(
  {
    ...paymentRef,
    provider: Type.Optional(PaymentProviderName),
    reason: Type.String(),
    code: Type.Optional(Type.String()),
    permanent: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type PaymentFailed = Static<typeof PaymentFailed>;

/** `payment.capture_requested`: take a held payment, all or `amount` of it. */
export const PaymentCaptureRequested = Type.Object(
  { ...paymentRef, amount: Type.Optional(AmountMinor), ...CommandAudit },
  { additionalProperties: false },
);
export type PaymentCaptureRequested = Static<typeof PaymentCaptureRequested>;

/** `payment.cancel_requested`: release a held payment, or withdraw one not paid yet. */
export const PaymentCancelRequested = Type.Object({ ...paymentRef, ...CommandAudit }, { additionalProperties: false });
export type PaymentCancelRequested = Static<typeof PaymentCancelRequested>;

/** `payment.operation_failed`: a capture or cancel the state or the provider refused; the payment is unchanged. */
export const PaymentOperationFailed = Type.Object(
  {
    ...paymentRef,
    /** The command that asked. */
    commandId: Type.String(),
    operation: Type.Union([Type.Literal('capture'), Type.Literal('cancel')]),
    reason: Type.String(),
    code: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type PaymentOperationFailed = Static<typeof PaymentOperationFailed>;

/**
 * `payment.refund_initiated`: the refund's amount is reserved against the payment before the
 * provider is called. Appended with the payment subject's expected last sequence, so two
 * refunds deciding on the same state cannot both reserve (the loser re-reads and decides again).
 */
export const PaymentRefundInitiated = Type.Object(
  { ...paymentRef, refundId: Type.String(), amountMinor: AmountMinor, currency: Currency },
  { additionalProperties: false },
);
export type PaymentRefundInitiated = Static<typeof PaymentRefundInitiated>;

/** `payment.refund_succeeded`: the provider refunded `amountMinor`. */
export const PaymentRefundSucceeded = Type.Object(
  {
    ...paymentRef,
    /** Our refund command id; `provider:<id>` for a refund made elsewhere (the provider's dashboard). */
    refundId: Type.String(),
    provider: PaymentProviderName,
    providerRefundId: Type.String(),
    amountMinor: AmountMinor,
    ...sourced,
  },
  { additionalProperties: false },
);
export type PaymentRefundSucceeded = Static<typeof PaymentRefundSucceeded>;

/** `payment.refund_failed`: refused by our checks or by the provider; any reservation is released. */
export const PaymentRefundFailed = Type.Object(
  {
    ...paymentRef,
    refundId: Type.String(),
    /** What was asked (the whole refundable amount when the command named none). */
    amountMinor: Type.Optional(Type.Integer({ minimum: 0 })),
    reason: Type.String({ maxLength: 1_000 }),
    code: Type.Optional(Type.String()),
    providerRefundId: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type PaymentRefundFailed = Static<typeof PaymentRefundFailed>;

/** Every payment event, declared once. */
export const paymentEvents = eventDomain({
  requested: defineEvent('payment.requested', PaymentRequested),
  refundRequested: defineEvent('payment.refund_requested', PaymentRefundRequested),
  captureRequested: defineEvent('payment.capture_requested', PaymentCaptureRequested),
  cancelRequested: defineEvent('payment.cancel_requested', PaymentCancelRequested),
  created: defineEvent('payment.created', PaymentCreated),
  waitingForCapture: defineEvent('payment.waiting_for_capture', PaymentWaitingForCapture),
  succeeded: defineEvent('payment.succeeded', PaymentSucceeded),
  canceled: defineEvent('payment.canceled', PaymentCanceled),
  failed: defineEvent('payment.failed', PaymentFailed),
  operationFailed: defineEvent('payment.operation_failed', PaymentOperationFailed),
  refundInitiated: defineEvent('payment.refund_initiated', PaymentRefundInitiated),
  refundSucceeded: defineEvent('payment.refund_succeeded', PaymentRefundSucceeded),
  refundFailed: defineEvent('payment.refund_failed', PaymentRefundFailed),
  /** The handler runner's record of one failed attempt that will be retried. */
  attemptFailed: defineEvent('payment.attempt_failed', AttemptFailed),
});
export type PaymentEvent = EventUnion<typeof paymentEvents.defs>;

export const PAYMENT_REQUESTED = paymentEvents.defs.requested.type;
export const PAYMENT_REFUND_REQUESTED = paymentEvents.defs.refundRequested.type;
export const PAYMENT_CAPTURE_REQUESTED = paymentEvents.defs.captureRequested.type;
export const PAYMENT_CANCEL_REQUESTED = paymentEvents.defs.cancelRequested.type;

/** Where the API appends payment commands, one subject per priority (the handler's queues). */
export const paymentCommandSubject = (priority: Priority) => commandSubject('payment', priority);
/**
 * Everything that happens to one payment after its command: one subject per payment, so a
 * decision (a refund's reservation) can be appended only if nothing happened since it was read.
 */
export const paymentSubject = (paymentId: string) => `evt.payment.tx.${paymentId}`;
export const PAYMENT_SUBJECTS = 'evt.payment.>';
