import { type Static, Type } from '@sinclair/typebox';
import { AmountMinor, Currency, PaymentProviderName, paymentFields } from '../events/payment.js';

export const CreatePaymentRequest = Type.Object(paymentFields, { additionalProperties: false, $id: 'CreatePaymentRequest' });
export type CreatePaymentRequest = Static<typeof CreatePaymentRequest>;

export const RefundPaymentRequest = Type.Object(
  { amount: Type.Optional(AmountMinor) },
  { additionalProperties: false, $id: 'RefundPaymentRequest', description: 'Send `{}` to refund the whole payment.' },
);
export type RefundPaymentRequest = Static<typeof RefundPaymentRequest>;

export const CapturePaymentRequest = Type.Object(
  { amount: Type.Optional(AmountMinor) },
  { additionalProperties: false, $id: 'CapturePaymentRequest', description: 'Send `{}` to capture the whole amount held.' },
);
export type CapturePaymentRequest = Static<typeof CapturePaymentRequest>;

export const CancelPaymentRequest = Type.Object({}, { additionalProperties: false, $id: 'CancelPaymentRequest' });

export const PaymentStatusName = Type.Union(
  ['pending', 'waiting_for_capture', 'succeeded', 'partially_refunded', 'refunded', 'canceled', 'failed'].map((s) =>
    Type.Literal(s),
  ),
);

/** `POST /api/v1/payments` with `Prefer: wait=N` when the provider answered in time (201). */
export const PaymentCreated = Type.Object(
  {
    id: Type.String(),
    status: Type.String(),
    paymentLink: Type.Union([Type.String(), Type.Null()]),
    provider: Type.Union([PaymentProviderName, Type.Null()]),
    providerPaymentId: Type.Union([Type.String(), Type.Null()]),
    error: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { $id: 'PaymentCreated' },
);
export type PaymentCreated = Static<typeof PaymentCreated>;

export const PaymentRefundView = Type.Object(
  {
    id: Type.String(),
    amount: Type.Integer(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('succeeded'), Type.Literal('failed')]),
    providerRefundId: Type.Union([Type.String(), Type.Null()]),
    reason: Type.Union([Type.String(), Type.Null()]),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { $id: 'PaymentRefund' },
);

const nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** A payment as `GET /api/v1/payments/{id}` shows it; amounts in minor units. */
export const PaymentView = Type.Object(
  {
    id: Type.String(),
    orderId: Type.String(),
    status: PaymentStatusName,
    provider: Type.String(),
    providerPaymentId: nullable(Type.String()),
    amount: Type.Integer(),
    captured: Type.Integer(),
    refunded: Type.Integer(),
    refundPending: Type.Integer(),
    fee: Type.Union([Type.Integer(), Type.Null()]),
    currency: Currency,
    capture: Type.Boolean(),
    description: nullable(Type.String()),
    paymentLink: nullable(Type.String()),
    error: Type.Union([Type.Object({ code: nullable(Type.String()), message: nullable(Type.String()) }), Type.Null()]),
    testMode: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    paidAt: nullable(Type.String({ format: 'date-time' })),
    updatedAt: Type.String({ format: 'date-time' }),
    refunds: Type.Optional(Type.Array(PaymentRefundView)),
    history: Type.Optional(
      Type.Array(
        Type.Object({ type: Type.String(), time: Type.String(), seq: Type.Integer(), data: Type.Optional(Type.Unknown()) }),
      ),
    ),
  },
  { $id: 'Payment' },
);
export type PaymentView = Static<typeof PaymentView>;

export const PaymentListQuery = Type.Object(
  {
    orderId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    status: Type.Optional(PaymentStatusName),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'created at or after' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'created before' })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);
export type PaymentListQuery = Static<typeof PaymentListQuery>;

export const PaymentList = Type.Object(
  { items: Type.Array(PaymentView), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'PaymentList' },
);
