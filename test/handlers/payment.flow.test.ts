import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newPayment, type PaymentHarness, startPaymentHarness } from './paymentHarness.js';

let h: PaymentHarness;
beforeAll(async () => {
  h = await startPaymentHarness();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const webhookRow = async (provider: string) =>
  h.store.sql<{ status: string; error: string | null; event_type: string }[]>`
    SELECT status, error, event_type FROM webhook_events WHERE provider = ${provider} ORDER BY received_at`;

describe('payments end to end against the provider fakes', () => {
  it('YooKassa: create → link → webhook → succeeded → partial refund → refund → refunded', async () => {
    const created = await h.call('POST', '/api/v1/payments', newPayment({ provider: 'yookassa' }), { prefer: 'wait=5' });
    expect(created.status).toBe(201);
    expect(created.body.paymentLink).toMatch(/^https:\/\/yoomoney\.ru\//);
    const id = created.body.id as string;
    const ykId = created.body.providerPaymentId as string;
    // One payment at YooKassa, with our ids, the receipt, and an Idempotence-Key from the command id.
    const atProvider = h.yk.payments.get(ykId);
    expect(atProvider).toMatchObject({ amount: { value: '1500.00', currency: 'RUB' }, metadata: { paymentId: id } });
    expect(atProvider?.receipt).toMatchObject({ customer: { email: 'rider@example.com' } });
    const post = h.yk.requests.find((r) => r.method === 'POST' && r.path === '/v3/payments');
    expect(post?.headers['idempotence-key']).toBe(`payment-${id}`);

    expect(await h.webhook('yookassa', h.yk.pay(ykId))).toBe(200);
    const paid = await h.waitFor(id, (p) => p.status === 'succeeded', 'succeeded');
    // 3.5 % fee reported as amount − income_amount.
    expect(paid).toMatchObject({ captured: 150000, fee: 5250, paymentLink: atProvider?.confirmation && expect.any(String) });

    expect((await h.call('POST', `/api/v1/payments/${id}/refunds`, { amount: 50000 })).status).toBe(202);
    await h.waitFor(id, (p) => p.status === 'partially_refunded' && p.refunded === 50000, 'partially refunded');
    expect((await h.call('POST', `/api/v1/payments/${id}/refunds`, {})).status).toBe(202);
    const done = await h.waitFor(id, (p) => p.status === 'refunded', 'refunded');
    expect(done.refunded).toBe(150000);
    expect(done.refunds.map((r: { amount: number; status: string }) => [r.amount, r.status])).toEqual([
      [50000, 'succeeded'],
      [100000, 'succeeded'],
    ]);
    expect(done.history.map((e: { type: string }) => e.type)).toEqual([
      'payment.requested',
      'payment.created',
      'payment.succeeded',
      'payment.refund_requested',
      'payment.refund_initiated',
      'payment.refund_succeeded',
      'payment.refund_requested',
      'payment.refund_initiated',
      'payment.refund_succeeded',
    ]);
    await h.api.caughtUp();
    expect((await webhookRow('yookassa')).map((r) => r.status)).toEqual(['processed']);
  });

  it('Stripe: the real stripe package against its fake, the same flow', async () => {
    const created = await h.call('POST', '/api/v1/payments', newPayment({ provider: 'stripe', currency: 'EUR', amount: 2500 }), {
      prefer: 'wait=5',
    });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const cs = created.body.providerPaymentId as string;
    expect(created.body.paymentLink).toBe(`https://checkout.stripe.com/c/pay/${cs}`);
    const post = h.stripe.requests.find((r) => r.path === '/v1/checkout/sessions');
    expect(post?.idempotencyKey).toBe(`payment-${id}`);

    const delivery = h.stripe.pay(cs);
    expect(await h.webhook('stripe', delivery.body, { 'stripe-signature': delivery.signature })).toBe(200);
    await h.waitFor(id, (p) => p.status === 'succeeded' && p.captured === 2500, 'succeeded');
    // The same delivery again: recorded as a duplicate, nothing changes.
    expect(await h.webhook('stripe', delivery.body, { 'stripe-signature': delivery.signature })).toBe(200);

    expect((await h.call('POST', `/api/v1/payments/${id}/refunds`, { amount: 1000 })).status).toBe(202);
    await h.waitFor(id, (p) => p.status === 'partially_refunded', 'partially refunded');
    expect((await h.call('POST', `/api/v1/payments/${id}/refunds`, {})).status).toBe(202);
    const done = await h.waitFor(id, (p) => p.status === 'refunded', 'refunded');
    expect([done.refunded, [...h.stripe.refunds.values()].map((r) => r.amount)]).toEqual([2500, [1000, 1500]]);
    await h.api.caughtUp();
    expect((await webhookRow('stripe')).map((r) => r.status)).toEqual(['processed', 'duplicate']);
  });

  it('two-stage: capture false → held → partial capture; another held one is cancelled', async () => {
    const a = await h.call('POST', '/api/v1/payments', newPayment({ capture: false }), { prefer: 'wait=5' });
    const id = a.body.id as string;
    expect(await h.webhook('yookassa', h.yk.pay(a.body.providerPaymentId))).toBe(200);
    await h.waitFor(id, (p) => p.status === 'waiting_for_capture', 'held');
    expect((await h.call('POST', `/api/v1/payments/${id}/capture`, { amount: 100000 })).status).toBe(202);
    const captured = await h.waitFor(id, (p) => p.status === 'succeeded', 'captured');
    expect(captured.captured).toBe(100000);

    const b = await h.call('POST', '/api/v1/payments', newPayment({ capture: false }), { prefer: 'wait=5' });
    expect(await h.webhook('yookassa', h.yk.pay(b.body.providerPaymentId))).toBe(200);
    await h.waitFor(b.body.id, (p) => p.status === 'waiting_for_capture', 'held');
    expect((await h.call('POST', `/api/v1/payments/${b.body.id}/cancel`, {})).status).toBe(202);
    const canceled = await h.waitFor(b.body.id, (p) => p.status === 'canceled', 'canceled');
    expect(canceled.error.message).toBe('canceled_by_merchant');
  });

  it('the legacy create answers with the link, and status from the ledger', async () => {
    const res = await fetch(`${h.api.url}/api/payment-gateway.php?action=create`, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        amount: '5000.00',
        application_id: 123,
        return_url: 'https://crm.example/ok.php',
        customer_email: 'a@example.com',
      }),
    });
    const body = (await res.json()) as Record<string, string>;
    expect(res.status).toBe(200);
    expect(body.payment_link).toMatch(/^https:\/\/yoomoney\.ru\//);
    await h.api.caughtUp();
    const status = await h.call('GET', `/api/payment-gateway.php?action=status&transaction_id=${body.id}`);
    expect(status.body).toMatchObject({ id: body.id, status: 'pending', payment_link: body.payment_link });
  });
});
