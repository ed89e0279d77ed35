import { Type } from '@sinclair/typebox';
import { type LoadedPayment, loadPayment } from '../../core/payments/ledger.js';
import { findPaymentTransaction, listPaymentTransactions, paymentRefunds } from '../../core/readModels/paymentTransactions.js';
import {
  PAYMENT_CANCEL_REQUESTED,
  PAYMENT_CAPTURE_REQUESTED,
  PAYMENT_REFUND_REQUESTED,
  PAYMENT_REQUESTED,
  type PaymentRefundRequested,
} from '../../schemas/events/payment.js';
import {
  CancelPaymentRequest,
  CapturePaymentRequest,
  CreatePaymentRequest,
  PaymentCreated,
  PaymentList,
  PaymentListQuery,
  PaymentView,
  RefundPaymentRequest,
} from '../../schemas/http/payment.js';
import { CommandAccepted } from '../../schemas/http/problem.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { waitForPaymentLink } from '../paymentLinks.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute } from '../route.js';
import { invalidFields } from '../validation.js';
import { createdView, decodeCursor, encodeCursor, paymentView, preferWait } from './paymentViews.js';
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

/**
 * The v1 payment command, shared with the legacy route so both append the same event. The
 * provider is fixed here (the request's, else PAYMENT_PROVIDER), so the command says which.
 */
export const requestPayment = (deps: ApiDeps, caller: CommandCaller, req: CreatePaymentRequest, via: string) => {
  if (!ISO_4217.has(req.currency)) {
    throw invalidFields([
      { pointer: '/currency', field: 'currency', detail: `${req.currency} is not an ISO 4217 currency code` },
    ]);
  }
  const data = { ...req, provider: req.provider ?? deps.config.payments.provider };
  return issueCommand(deps.log, caller, { domain: 'payment', type: PAYMENT_REQUESTED, data }, via);
};

/** Waits up to `seconds` for the provider's link (or the payment's failure). */
export const waitForLink = (deps: ApiDeps, id: string, seconds: number): Promise<LoadedPayment> =>
  seconds > 0 ? waitForPaymentLink(deps.log, id, seconds) : loadPayment(deps.log, id);

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

const paymentIdParam = (raw: string | undefined) => {
  const id = raw ?? '';
  if (!isUuid(id)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no payment ${id}`);
  return id.toLowerCase();
};
const NOT_FOUND = { 404: { description: 'no such payment', schema: Type.Unknown() } };

export const paymentRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/payments',
    operationId: 'createPayment',
    summary: 'Create a payment',
    description:
      'Appends `payment.requested`; a handler creates it with YooKassa or Stripe (or test mode). With ' +
      '`Prefer: wait=N` (N ≤ 10 seconds) the answer waits for the provider: 201 with `paymentLink` when it ' +
      'answered in time, else 202 as without the header. The link also appears on `GET /api/v1/payments/{id}`.',
    tags: ['payments'],
    auth: { scope: 'payments' },
    body: CreatePaymentRequest,
    idempotent: true,
    allHeaders: true,
    responses: {
      201: { description: 'the provider answered: the link', schema: PaymentCreated },
      202: { description: 'queued; the provider has not answered yet', schema: CommandAccepted },
    },
    handle: async (ctx) => {
      const accepted = await requestPayment(deps, ctx, ctx.body, 'v1');
      const wait = preferWait(ctx.headers.prefer, deps.config.payments.waitMaxSeconds);
      if (!wait) return { status: 202, body: accepted };
      const view = createdView(accepted.id, await waitForLink(deps, accepted.id, wait));
      const headers = { 'preference-applied': `wait=${wait}` };
      if (view.paymentLink === null && view.status !== 'failed') return { status: 202, body: accepted, headers };
      return { status: 201, body: view, headers: { ...headers, location: `/api/v1/payments/${accepted.id}` } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/payments',
    operationId: 'listPayments',
    summary: 'List payments, newest first',
    description: 'Filters by `orderId`, `status`, creation time (`from` inclusive, `to` exclusive); `nextCursor` pages on.',
    tags: ['payments'],
    auth: { scope: 'payments' },
    query: PaymentListQuery,
    responses: { 200: { description: 'one page', schema: PaymentList } },
    handle: async (ctx) => {
      const q = ctx.query;
      const date = (v: string | undefined, field: string) => {
        if (v === undefined) return undefined;
        const d = new Date(v);
        if (Number.isNaN(d.getTime())) {
          throw invalidFields([{ pointer: `/${field}`, field, detail: 'expected an RFC 3339 date-time' }]);
        }
        return d;
      };
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      if (q.cursor !== undefined && !after)
        throw invalidFields([{ pointer: '/cursor', field: 'cursor', detail: 'not a cursor this API gave' }]);
      const limit = q.limit ?? 50;
      const from = date(q.from, 'from');
      const to = date(q.to, 'to');
      const rows = await listPaymentTransactions(deps.sql, {
        limit: limit + 1,
        ...(q.orderId === undefined ? {} : { orderId: q.orderId }),
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        ...(after ? { after } : {}),
      });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      return {
        status: 200,
        body: { items: page.map((r) => paymentView(r)), nextCursor: rows.length > limit && last ? encodeCursor(last) : null },
      };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/payments/{id}',
    operationId: 'getPayment',
    summary: 'A payment with its refunds and event history',
    tags: ['payments'],
    auth: { scope: 'payments' },
    responses: { 200: { description: 'the payment', schema: PaymentView }, ...NOT_FOUND },
    handle: async (ctx) => {
      const id = paymentIdParam(ctx.params.id);
      const row = await findPaymentTransaction(deps.sql, id);
      if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no payment ${id}`);
      return { status: 200, body: paymentView(row, await paymentRefunds(deps.sql, id), true) };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/payments/{id}/refunds',
    operationId: 'refundPayment',
    summary: 'Refund a payment, whole or in part',
    description:
      'Appends `payment.refund_requested`. Several partial refunds may be made; their sum never exceeds the captured ' +
      'amount (a refund that would is `payment.refund_failed` with code `exceeds_refundable`).',
    tags: ['payments'],
    auth: { scope: 'payments' },
    body: RefundPaymentRequest,
    idempotent: true,
    responses: { ...ACCEPTED, ...NOT_FOUND },
    handle: async (ctx) => ({ status: 202, body: await requestRefund(deps, ctx, paymentIdParam(ctx.params.id), ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/payments/{id}/capture',
    operationId: 'capturePayment',
    summary: 'Capture a held payment (created with capture: false), whole or in part',
    tags: ['payments'],
    auth: { scope: 'payments' },
    body: CapturePaymentRequest,
    idempotent: true,
    responses: { ...ACCEPTED, ...NOT_FOUND },
    handle: async (ctx) => {
      const data = { paymentId: paymentIdParam(ctx.params.id), ...ctx.body };
      return {
        status: 202,
        body: await issueCommand(deps.log, ctx, { domain: 'payment', type: PAYMENT_CAPTURE_REQUESTED, data }, 'v1'),
      };
    },
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/payments/{id}/cancel',
    operationId: 'cancelPayment',
    summary: 'Cancel a held or unpaid payment',
    tags: ['payments'],
    auth: { scope: 'payments' },
    body: CancelPaymentRequest,
    idempotent: true,
    responses: { ...ACCEPTED, ...NOT_FOUND },
    handle: async (ctx) => {
      const data = { paymentId: paymentIdParam(ctx.params.id) };
      return {
        status: 202,
        body: await issueCommand(deps.log, ctx, { domain: 'payment', type: PAYMENT_CANCEL_REQUESTED, data }, 'v1'),
      };
    },
  }),
];
