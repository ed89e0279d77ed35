import { newEvent } from '../../core/eventlog/newEvent.js';
import { factMsgId, loadPayment } from '../../core/payments/ledger.js';
import { paymentEvents, paymentSubject } from '../../schemas/events/payment.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute } from '../route.js';
import { isUuid } from './rules.js';

const { defs } = paymentEvents;
const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const testPayment = async (deps: ApiDeps, raw: string | undefined) => {
  const id = (raw ?? '').toLowerCase();
  const { state } = isUuid(id) ? await loadPayment(deps.log, id) : { state: undefined };
  // Only payments test mode made: a live payment's state comes from its provider alone.
  if (!state?.testMode || !state.providerPaymentId) throw new HttpProblem('GW_ERR_NOT_FOUND', `no test-mode payment ${id}`);
  return state;
};

/**
 * PAYMENT_TEST_MODE's confirmation page: the link a test-mode payment answers. Its buttons
 * append what the provider's webhook would (`payment.succeeded` or `payment.waiting_for_capture`,
 * `payment.canceled`), under the same message ids, so the whole flow runs without an account.
 * Public like a provider's page: whoever has the link may pay. Mounted only in test mode.
 */
export const paymentTestPageRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'GET',
    path: '/pay/test/{id}',
    operationId: 'testPaymentPage',
    summary: 'Test-mode payment confirmation page',
    tags: ['payments'],
    auth: 'public',
    hidden: true,
    responses: { 200: { description: 'the page', type: 'text/html' } },
    handle: async (ctx) => {
      const s = await testPayment(deps, ctx.params.id);
      const amount = `${(s.amountMinor / 100).toFixed(2)} ${esc(s.currency)}`;
      const open = s.phase === 'pending';
      const html = `<!doctype html><html><head><meta charset="utf-8"><title>Test payment</title></head><body>
<h1>Test payment (PAYMENT_TEST_MODE)</h1><p>Order ${esc(s.orderId)}: ${esc(s.description ?? '')}</p><p>Amount: ${amount}</p>
<p>Status: <b>${esc(s.phase)}</b></p>
${open ? `<form method="post" action="/pay/test/${s.paymentId}/complete"><button>Complete payment</button></form><form method="post" action="/pay/test/${s.paymentId}/cancel"><button>Cancel</button></form>` : ''}
${s.returnUrl ? `<p><a href="${esc(s.returnUrl)}">Back to the shop</a></p>` : ''}</body></html>`;
      return { status: 200, raw: html, type: 'text/html; charset=utf-8' };
    },
  }),
  ...(['complete', 'cancel'] as const).map((action) =>
    defineRoute({
      method: 'POST',
      path: `/pay/test/{id}/${action}`,
      operationId: `testPayment${action === 'complete' ? 'Complete' : 'Cancel'}`,
      summary: `Test-mode payment: ${action}`,
      tags: ['payments'],
      auth: 'public',
      hidden: true,
      bodyFormat: 'raw',
      responses: { 303: { description: 'back to the page' } },
      handle: async (ctx) => {
        const s = await testPayment(deps, ctx.params.id);
        if (s.phase === 'pending' && s.provider) {
          const subject = paymentSubject(s.paymentId);
          const ref = { paymentId: s.paymentId, provider: s.provider, providerPaymentId: s.providerPaymentId as string };
          const event =
            action === 'cancel'
              ? newEvent({
                  type: defs.canceled.type,
                  subject,
                  source: 'api/test-page',
                  data: { ...ref, reason: 'canceled_by_customer', party: 'customer', source: 'test_page' },
                })
              : s.capture
                ? newEvent({
                    type: defs.succeeded.type,
                    subject,
                    source: 'api/test-page',
                    data: { ...ref, capturedMinor: s.amountMinor, paidAt: new Date().toISOString(), source: 'test_page' },
                  })
                : newEvent({
                    type: defs.waitingForCapture.type,
                    subject,
                    source: 'api/test-page',
                    data: { ...ref, source: 'test_page' },
                  });
          const msgId =
            action === 'cancel'
              ? factMsgId.canceled(s.paymentId)
              : s.capture
                ? factMsgId.succeeded(s.paymentId)
                : factMsgId.waiting(s.paymentId);
          await deps.log.append(subject, event, { msgId });
        }
        return { status: 303, headers: { location: `/pay/test/${s.paymentId}` }, raw: '' };
      },
    }),
  ),
];
