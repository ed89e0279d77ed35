import { Type } from '@sinclair/typebox';
import { PAYMENT_REFUND_REQUESTED, PAYMENT_REQUESTED, type PaymentRefundRequested } from '../../schemas/events/payment.js';
import { CreatePaymentRequest, RefundPaymentRequest } from '../../schemas/http/payment.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute } from '../route.js';
import { invalidFields } from '../validation.js';
import { ACCEPTED, isUuid } from './rules.js';

/** The codes ICU knows; a three-letter pattern alone would let `RUR` or `XYZ` reach the provider. */
const ISO_4217 = new Set(Intl.supportedValuesOf('currency'));

/** Digits after the decimal point in `currency` (RUB 2, JPY 0), for converting major units. */
export const minorDigits = (currency: string): number => {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    return 2;
  }
};

/** The v1 payment command, shared with the legacy route so both append the same event. */
export const requestPayment = (deps: ApiDeps, caller: CommandCaller, req: CreatePaymentRequest, via: string) => {
  if (!ISO_4217.has(req.currency)) {
    throw invalidFields([
      { pointer: '/currency', field: 'currency', detail: `${req.currency} is not an ISO 4217 currency code` },
    ]);
  }
  return issueCommand(deps.log, caller, { domain: 'payment', type: PAYMENT_REQUESTED, data: req }, via);
};

/**
 * Whether the payment exists and the amount is refundable is the handler's to decide (it
 * answers `payment.refund_failed`): the read model may not have folded a fresh payment yet.
 */
export const requestRefund = (
  deps: ApiDeps,
  caller: CommandCaller,
  paymentId: string,
  req: RefundPaymentRequest,
  via: string,
) => {
  const data: Omit<PaymentRefundRequested, 'requestedBy' | 'via'> = { paymentId, ...req };
  return issueCommand(deps.log, caller, { domain: 'payment', type: PAYMENT_REFUND_REQUESTED, data }, via);
};

export const paymentRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/payments',
    operationId: 'createPayment',
    summary: 'Create a payment',
    description:
      'Appends `payment.requested`; a handler creates it with YooKassa or Stripe. The payment link appears on ' +
      '`GET /api/v1/payments/{id}` once the provider answered.',
    tags: ['payments'],
    auth: { scope: 'payments' },
    body: CreatePaymentRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestPayment(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/payments/{id}/refunds',
    operationId: 'refundPayment',
    summary: 'Refund a payment, whole or in part',
    description: 'Appends `payment.refund_requested` for the payment with this id (the id `POST /api/v1/payments` answered).',
    tags: ['payments'],
    auth: { scope: 'payments' },
    body: RefundPaymentRequest,
    idempotent: true,
    responses: { ...ACCEPTED, 404: { description: 'the id is not a payment id', schema: Type.Unknown() } },
    handle: async (ctx) => {
      const id = ctx.params.id as string;
      if (!isUuid(id)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no payment ${id}`);
      return { status: 202, body: await requestRefund(deps, ctx, id.toLowerCase(), ctx.body, 'v1') };
    },
  }),
];
