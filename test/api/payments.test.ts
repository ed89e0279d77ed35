import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newPayment, type PaymentHarness, startPaymentHarness } from '../handlers/paymentHarness.js';

let h: PaymentHarness;
beforeAll(async () => {
  h = await startPaymentHarness({ PAYMENT_TEST_MODE: 'true', PUBLIC_URL: 'https://gw.example.com' });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe('payments API in test mode (no provider account)', () => {
  it('create → local page link → complete → partial refund → refund → refunded', async () => {
    const created = await h.call('POST', '/api/v1/payments', newPayment({ amount: 20000 }), { prefer: 'wait=5' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body.paymentLink).toBe(`https://gw.example.com/pay/test/${id}`);

    const page = await fetch(`${h.api.url}/pay/test/${id}`);
    const html = await page.text();
    expect([page.status, html.includes(`/pay/test/${id}/complete`)]).toEqual([200, true]);
    const done = await fetch(`${h.api.url}/pay/test/${id}/complete`, { method: 'POST', redirect: 'manual' });
    expect([done.status, done.headers.get('location')]).toEqual([303, `/pay/test/${id}`]);
    await h.waitFor(id, (p) => p.status === 'succeeded' && p.testMode === true, 'succeeded');

    expect((await h.call('POST', `/api/v1/payments/${id}/refunds`, { amount: 5000 })).status).toBe(202);
    await h.waitFor(id, (p) => p.status === 'partially_refunded', 'partially refunded');
    expect((await h.call('POST', `/api/v1/payments/${id}/refunds`, {})).status).toBe(202);
    const refunded = await h.waitFor(id, (p) => p.status === 'refunded', 'refunded');
    expect(refunded.refunded).toBe(20000);
    // Nothing left the gateway.
    expect([h.yk.requests.length, h.stripe.requests.length]).toEqual([0, 0]);
  });

  it('the page cancels too, and refuses ids that are no test payment', async () => {
    const created = await h.call('POST', '/api/v1/payments', newPayment(), { prefer: 'wait=5' });
    const id = created.body.id as string;
    await fetch(`${h.api.url}/pay/test/${id}/cancel`, { method: 'POST', redirect: 'manual' });
    const p = await h.waitFor(id, (x) => x.status === 'canceled', 'canceled');
    expect(p.error.message).toBe('canceled_by_customer');
    // Completing a cancelled payment changes nothing.
    await fetch(`${h.api.url}/pay/test/${id}/complete`, { method: 'POST', redirect: 'manual' });
    await h.api.caughtUp();
    expect((await h.payment(id)).status).toBe('canceled');
    const unknown = await fetch(`${h.api.url}/pay/test/0190a0a0-0000-7000-8000-000000000000`);
    expect([unknown.status, unknown.headers.get('content-type')]).toEqual([404, 'application/problem+json']);
  });

  it('a refund over the captured amount fails with exceeds_refundable; capture of a paid one is refused', async () => {
    const created = await h.call('POST', '/api/v1/payments', newPayment({ amount: 1000 }), { prefer: 'wait=5' });
    const id = created.body.id as string;
    await fetch(`${h.api.url}/pay/test/${id}/complete`, { method: 'POST', redirect: 'manual' });
    await h.waitFor(id, (p) => p.status === 'succeeded', 'succeeded');
    await h.call('POST', `/api/v1/payments/${id}/refunds`, { amount: 1001 });
    const p = await h.waitFor(id, (x) => x.refunds?.length === 1, 'refund decided');
    expect(p.refunds[0]).toMatchObject({ status: 'failed', amount: 1001, reason: expect.stringMatching(/refundable 1000/) });
    await h.call('POST', `/api/v1/payments/${id}/capture`, {});
    const q = await h.waitFor(
      id,
      (x) => x.history.some((e: { type: string }) => e.type === 'payment.operation_failed'),
      'capture refused',
    );
    expect(q.history.at(-1).data).toMatchObject({ operation: 'capture', code: 'wrong_state' });
    expect([q.status, q.refunded]).toEqual(['succeeded', 0]);
  });

  it('lists by order and status, newest first, with a cursor that neither repeats nor skips', async () => {
    const orderId = 'order-list-1';
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await h.call('POST', '/api/v1/payments', newPayment({ orderId }))).body.id);
    await h.api.caughtUp();
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = `/api/v1/payments?orderId=${orderId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`;
      const page = await h.call('GET', q);
      expect(page.status).toBe(200);
      seen.push(...page.body.items.map((p: { id: string }) => p.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    const none = await h.call('GET', `/api/v1/payments?orderId=${orderId}&status=succeeded`);
    expect(none.body.items).toEqual([]);
  });

  it('bad input is a problem with a code: body, cursor, id, status', async () => {
    const bad = await h.call('POST', '/api/v1/payments', newPayment({ amount: 10.5 }));
    expect([bad.status, bad.body.code]).toEqual([400, 'GW_ERR_VALIDATION']);
    const cur = await h.call('GET', '/api/v1/payments?cursor=nonsense');
    expect([cur.status, cur.body.code]).toEqual([400, 'GW_ERR_VALIDATION']);
    const st = await h.call('GET', '/api/v1/payments?status=paid');
    expect(st.status).toBe(400);
    const missing = await h.call('GET', '/api/v1/payments/not-a-uuid');
    expect([missing.status, missing.body.code]).toEqual([404, 'GW_ERR_NOT_FOUND']);
    // Without Prefer the create answers 202 at once, as before.
    expect((await h.call('POST', '/api/v1/payments', newPayment())).status).toBe(202);
  });
});
