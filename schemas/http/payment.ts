import { type Static, Type } from '@sinclair/typebox';
import { AmountMinor, paymentFields } from '../events/payment.js';

export const CreatePaymentRequest = Type.Object(paymentFields, { additionalProperties: false, $id: 'CreatePaymentRequest' });
export type CreatePaymentRequest = Static<typeof CreatePaymentRequest>;

export const RefundPaymentRequest = Type.Object(
  { amount: Type.Optional(AmountMinor) },
  { additionalProperties: false, $id: 'RefundPaymentRequest', description: 'Send `{}` to refund the whole payment.' },
);
export type RefundPaymentRequest = Static<typeof RefundPaymentRequest>;
