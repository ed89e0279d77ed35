import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { silentLogger } from '../../core/logger.js';
import { rebuildProjection } from '../../core/runners/projectionRunner.js';
import { paymentProviders } from '../../handlers/payment/index.js';
import { reconcilePayments } from '../../handlers/payment/reconcile.js';
import { paymentTransactionsProjection } from '../../projections/paymentTransactions.js';
import type { YooKassaObject } from '../fakes/yookassa.js';
import { until } from '../support/until.js';
import { newPayment, type PaymentHarness, startPaymentHarness } from './paymentHarness.js';

let h: PaymentHarness;
beforeAll(async () => {
  h = await startPaymentHarness();
}, 60_000);
afterAll(async () => {
  await h?.close();
});

const create = async (over: Record<string, unknown> = {}) => {
  const r = await h.call('POST', '/api/v1/payments', newPayment(over), { prefer: 'wait=8' });
  expect(r.status).toBe(201);
  return { id: r.body.id as string, providerId: r.body.providerPaymentId as string };
};
const paid = async (over: Record<string, unknown> = {}) => {
  const p = await create(over);
  expect(await h.webhook('yookassa', h.yk.pay(p.providerId))).toBe(200);
  await h.waitFor(p.id, (x) => x.status === 'succeeded', 'succeeded');
  return p;
};
const webhookRows = (provider: string) =>
  h.store.sql<{ status: string; error: string | null }[]>`
    SELECT status, error FROM webhook_events WHERE provider = ${provider} ORDER BY received_at DESC`;

describe('payments: failures that must not double or lose money', () => {
  it('a provider that times out on create: retried with the same key, one payment at YooKassa and one in the ledger', async () => {
    h.yk.delayNextCreate(3_000); // PAYMENT_HTTP_TIMEOUT_SECONDS=2 in the harness
    const before = h.yk.payments.size;
    const r = await h.call('POST', '/api/v1/payments', newPayment(), { prefer: 'wait=10' });
    expect(r.status).toBe(201);
    const posts = h.yk.requests.filter(
      (x) => x.method === 'POST' && x.path === '/v3/payments' && x.headers['idempotence-key'] === `payment-${r.body.id}`,
    );
    expect(posts.length).toBeGreaterThanOrEqual(2);
    expect(h.yk.payments.size).toBe(before + 1);
    const p = await h.waitFor(r.body.id, (x) => x.providerPaymentId !== null, 'created');
    const types = p.history.map((e: { type: string }) => e.type);
    expect(types.filter((t: string) => t === 'payment.created')).toHaveLength(1);
    expect(types).toContain('payment.attempt_failed');
  });

  it('two concurrent refunds that together exceed the payment: exactly one succeeds', async () => {
    const p = await paid({ amount: 100000 });
    const refundPosts = () => h.yk.requests.filter((x) => x.method === 'POST' && x.path === '/v3/refunds').length;
    const before = refundPosts();
    const [a, b] = await Promise.all([
      h.call('POST', `/api/v1/payments/${p.id}/refunds`, { amount: 60000 }),
      h.call('POST', `/api/v1/payments/${p.id}/refunds`, { amount: 60000 }),
    ]);
    expect([a.status, b.status]).toEqual([202, 202]);
    const done = await h.waitFor(
      p.id,
      (x) => x.refunds?.length === 2 && x.refunds.every((r: { status: string }) => r.status !== 'pending'),
      'both refunds decided',
    );
    expect(done.refunds.map((r: { status: string }) => r.status).sort()).toEqual(['failed', 'succeeded']);
    expect([done.status, done.refunded, done.refundPending]).toEqual(['partially_refunded', 60000, 0]);
    expect(done.refunds.find((r: { status: string }) => r.status === 'failed').reason).toMatch(/refundable 40000/);
    // The loser never reached YooKassa.
    expect(refundPosts() - before).toBe(1);
  });

  it('bad signature, stale timestamp, forged YooKassa body: refused, audited, no state change', async () => {
    const y = await create();
    // The forged body claims success; YooKassa (the fake) still says pending.
    const forged = h.yk.notification('payment.succeeded', {
      ...(h.yk.payments.get(y.providerId) as YooKassaObject),
      status: 'succeeded',
    });
    expect(await h.webhook('yookassa', forged)).toBe(401);

    const s = await create({ provider: 'stripe', currency: 'EUR', amount: 900 });
    const genuine = h.stripe.pay(s.providerId);
    expect(
      await h.webhook('stripe', genuine.body, {
        'stripe-signature': genuine.signature.replace(/v1=[0-9a-f]+/, `v1=${'0'.repeat(64)}`),
      }),
    ).toBe(401);
    const wrongSecret = h.stripe.event('checkout.session.completed', h.stripe.sessions.get(s.providerId) as never, {
      secret: 'whsec_other',
    });
    expect(await h.webhook('stripe', wrongSecret.body, { 'stripe-signature': wrongSecret.signature })).toBe(401);
    const stale = h.stripe.event('checkout.session.completed', h.stripe.sessions.get(s.providerId) as never, {
      timestamp: Math.floor(Date.now() / 1000) - 301,
    });
    expect(await h.webhook('stripe', stale.body, { 'stripe-signature': stale.signature })).toBe(401);

    await h.api.caughtUp();
    expect((await h.payment(y.id)).status).toBe('pending');
    expect((await h.payment(s.id)).status).toBe('pending');
    expect((await webhookRows('stripe')).slice(0, 3).map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect((await webhookRows('stripe')).slice(0, 3).map((r) => r.error)).toEqual([
      expect.stringMatching(/tolerance/),
      expect.stringMatching(/no signature matches/),
      expect.stringMatching(/no signature matches/),
    ]);
    expect((await webhookRows('yookassa'))[0]).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/YooKassa reports payment.pending/),
    });
  });

  it('out of order: a refund notified before the payment succeeded, then the late success changes nothing', async () => {
    const p = await create();
    h.yk.pay(p.providerId); // its notification is "late": not delivered yet
    const refund = {
      id: 'rf-early-1',
      payment_id: p.providerId,
      status: 'succeeded',
      amount: { value: '100.00', currency: 'RUB' },
      created_at: new Date().toISOString(),
    };
    h.yk.refunds.set(refund.id, refund);
    expect(await h.webhook('yookassa', h.yk.notification('refund.succeeded', refund))).toBe(200);
    const after = await h.waitFor(p.id, (x) => x.status === 'partially_refunded', 'partially refunded');
    expect([after.captured, after.refunded]).toEqual([150000, 10000]);
    expect(await h.webhook('yookassa', h.yk.notification('payment.succeeded', h.yk.payments.get(p.providerId) as never))).toBe(
      200,
    );
    await until(async () => {
      await h.api.caughtUp();
      return (await webhookRows('yookassa'))[0]?.status === 'ignored';
    });
    expect((await webhookRows('yookassa'))[0]?.error).toMatch(/changes nothing/);
    expect((await h.payment(p.id)).status).toBe('partially_refunded');
  });

  it('reconciliation finds a payment whose webhook was lost, and --fix repairs it', async () => {
    const from = new Date(Date.now() - 60_000);
    const p = await create();
    h.yk.pay(p.providerId); // the notification never arrives
    const deps = { log: h.api.log, sql: h.store.sql, provider: paymentProviders(h.api.config.payments) };
    const period = { from, to: new Date(Date.now() + 60_000), providers: ['yookassa'] as const };
    const report = await reconcilePayments(deps, { ...period, fix: false });
    expect(report).toContainEqual(
      expect.objectContaining({ kind: 'state_differs', paymentId: p.id, local: 'pending', remote: 'succeeded' }),
    );
    expect((await h.payment(p.id)).status).toBe('pending');
    const fixed = await reconcilePayments(deps, { ...period, fix: true });
    expect(fixed.find((d) => d.paymentId === p.id)?.fixed).toEqual(['payment.succeeded']);
    const repaired = await h.waitFor(p.id, (x) => x.status === 'succeeded', 'repaired');
    expect(repaired.history.at(-1)).toMatchObject({ type: 'payment.succeeded', data: { source: 'reconciliation' } });
    // The ledger now agrees: nothing left about this payment.
    expect((await reconcilePayments(deps, { ...period, fix: false })).filter((d) => d.paymentId === p.id)).toEqual([]);
  });

  it('a replay rebuilds payment_transactions and payment_refunds identical to the live tables', async () => {
    await h.api.caughtUp();
    const snapshot = async () => ({
      tx: await h.store.sql`SELECT * FROM payment_transactions ORDER BY id`,
      refunds: await h.store.sql`SELECT * FROM payment_refunds ORDER BY id`,
    });
    const live = await snapshot();
    expect(live.tx.length).toBeGreaterThan(5);
    await h.stopHandlers();
    await h.closeApi();
    const log = embeddedEventLog(h.store.sql, { pollMs: 20 });
    try {
      await rebuildProjection({
        log,
        sql: h.store.sql,
        projection: paymentTransactionsProjection,
        logger: silentLogger(),
        batchSize: 7,
        batchDelayMs: 0,
      });
    } finally {
      await log.close();
    }
    expect(await snapshot()).toEqual(live);
  });
});

describe('a YooKassa notification from an address outside the allowlist', () => {
  it('is refused and audited; the payment does not change', async () => {
    const g = await startPaymentHarness({ YOOKASSA_WEBHOOK_ALLOWLIST: '185.71.76.0/27' });
    try {
      const r = await g.call('POST', '/api/v1/payments', newPayment(), { prefer: 'wait=8' });
      expect(r.status).toBe(201);
      // Genuine at the provider, but delivered from 127.0.0.1.
      expect(await g.webhook('yookassa', g.yk.pay(r.body.providerPaymentId))).toBe(401);
      await g.api.caughtUp();
      const [row] = await g.store.sql<{ status: string; error: string }[]>`SELECT status, error FROM webhook_events`;
      expect(row).toMatchObject({ status: 'rejected', error: expect.stringMatching(/not allowlisted/) });
      expect((await g.payment(r.body.id)).status).toBe('pending');
    } finally {
      await g.close();
    }
  });
});
