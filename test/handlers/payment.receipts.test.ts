import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emailCommandSubject } from '../../schemas/events/email.js';
import { smsCommandSubject } from '../../schemas/events/sms.js';
import { newPayment, type PaymentHarness, startPaymentHarness } from './paymentHarness.js';

let h: PaymentHarness;
beforeAll(async () => {
  h = await startPaymentHarness({ PAYMENT_RECEIPT_CHANNELS: 'sms,email' });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

/** Commands the receipt handler appended, by channel. */
const receipts = async () => {
  const read = async (subject: string) =>
    (await h.api.log.read('EVENTS', 10_000, { filterSubject: subject }))
      .flatMap((m) => m.events)
      .filter((e) => (e.data as { via?: string }).via === 'payment-receipts');
  return { sms: await read(smsCommandSubject('normal')), email: await read(emailCommandSubject('normal')) };
};

describe('payment receipts (PAYMENT_RECEIPT_CHANNELS=sms,email)', () => {
  it('a succeeded payment queues one SMS and one e-mail receipt to the customer, once', async () => {
    const customer = { email: 'rider@example.com', phone: '+79990001122', name: 'Анна' };
    const created = await h.call('POST', '/api/v1/payments', newPayment({ customer, orderId: 'order-r1' }), { prefer: 'wait=5' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(await receipts()).toEqual({ sms: [], email: [] }); // not before the money arrived

    const ykId = created.body.providerPaymentId as string;
    const paid = h.yk.pay(ykId);
    expect(await h.webhook('yookassa', paid)).toBe(200);
    await h.waitFor(id, (p) => p.status === 'succeeded', 'succeeded');
    let got = await receipts();
    for (let i = 0; i < 100 && (got.sms.length === 0 || got.email.length === 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      got = await receipts();
    }
    expect(got.sms.map((e) => e.data)).toEqual([
      expect.objectContaining({
        to: '+79990001122',
        text: expect.stringMatching(/^Оплата по заказу №order-r1 получена: 1 500,00/),
      }),
    ]);
    expect(got.email.map((e) => e.data)).toEqual([
      expect.objectContaining({
        to: 'rider@example.com',
        template: 'payment_receipt',
        data: expect.objectContaining({ orderId: 'order-r1', amount: 150000, currency: 'RUB', name: 'Анна' }),
      }),
    ]);

    // The same notification again changes nothing, and no second receipt goes out.
    expect(await h.webhook('yookassa', paid)).toBe(200);
    await h.api.caughtUp();
    await new Promise((r) => setTimeout(r, 500));
    const again = await receipts();
    expect([again.sms.length, again.email.length]).toEqual([1, 1]);
  });

  it('a customer without a phone gets only the e-mail', async () => {
    const created = await h.call('POST', '/api/v1/payments', newPayment({ orderId: 'order-r2' }), { prefer: 'wait=5' });
    const id = created.body.id as string;
    expect(await h.webhook('yookassa', h.yk.pay(created.body.providerPaymentId as string))).toBe(200);
    await h.waitFor(id, (p) => p.status === 'succeeded', 'succeeded');
    let got = await receipts();
    for (let i = 0; i < 100 && got.email.length < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      got = await receipts();
    }
    expect(got.email.map((e) => (e.data as { data: { orderId: string } }).data.orderId)).toEqual(['order-r1', 'order-r2']);
    expect(got.sms).toHaveLength(1);
  });
});
