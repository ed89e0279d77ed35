import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { EmailAddress } from './email.js';
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

/** Every payment event, declared once (the payments issue adds the outcomes). */
export const paymentEvents = eventDomain({
  requested: defineEvent('payment.requested', PaymentRequested),
  refundRequested: defineEvent('payment.refund_requested', PaymentRefundRequested),
});
export type PaymentEvent = EventUnion<typeof paymentEvents.defs>;

export const PAYMENT_REQUESTED = paymentEvents.defs.requested.type;
export const PAYMENT_REFUND_REQUESTED = paymentEvents.defs.refundRequested.type;
