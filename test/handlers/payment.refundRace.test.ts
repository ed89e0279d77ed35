import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import { silentLogger } from '../../core/logger.js';
import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { StoredEvent } from '../../core/runners/projectionRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { paymentHandler } from '../../handlers/payment/handler.js';
import { testModePaymentProvider } from '../../handlers/payment/testMode.js';
import { VersionConflictError } from '../../schemas/errors.js';
import { paymentSubject } from '../../schemas/events/payment.js';
import { freshPostgresDb } from '../support/stores.js';

let store: PostgresStore;
let inner: EventLog;
beforeAll(async () => {
  store = await freshPostgresDb();
  inner = embeddedEventLog(store.sql, { pollMs: 20 });
}, 60_000);
afterAll(async () => {
  await inner?.close();
  await store?.close();
});

describe('refund decisions on the payment subject', () => {
  it('two refunds deciding on the same state: the second reservation conflicts, re-reads and fails; one provider call', async () => {
    const paymentId = uuidv7();
    const subject = paymentSubject(paymentId);
    const ref = { paymentId, provider: 'yookassa' as const, providerPaymentId: `test_${paymentId}` };
    await inner.append(subject, [
      newEvent({
        type: 'payment.created',
        subject,
        source: 'test',
        data: {
          ...ref,
          confirmationUrl: 'x',
          orderId: 'o-1',
          amountMinor: 10_000,
          currency: 'RUB',
          capture: true,
          testMode: true,
          source: 'provider',
        },
      }),
      newEvent({
        type: 'payment.succeeded',
        subject,
        source: 'test',
        data: { ...ref, capturedMinor: 10_000, paidAt: new Date().toISOString(), source: 'webhook' },
      }),
    ]);

    // Both refunds read the payment before either reserves: a barrier on the first two reads.
    let reads = 0;
    let release!: () => void;
    const barrier = new Promise<void>((r) => {
      release = r;
    });
    let conflicts = 0;
    const log: EventLog = {
      ...inner,
      async read(stream, max, opts) {
        const out = await inner.read(stream, max, opts);
        if (opts?.filterSubject === subject && ++reads <= 2) {
          if (reads === 2) release();
          await barrier;
        }
        return out;
      },
      async append(s, events, opts) {
        try {
          return await inner.append(s, events, opts);
        } catch (e) {
          if (e instanceof VersionConflictError) conflicts++;
          throw e;
        }
      },
    };
    const provider = testModePaymentProvider('yookassa', '');
    let refundCalls = 0;
    const counted = {
      ...provider,
      refund: (r: Parameters<typeof provider.refund>[0]) => {
        refundCalls++;
        return provider.refund(r);
      },
    };
    const handler = paymentHandler({
      provider: () => counted,
      defaultProvider: 'yookassa',
      log,
      logger: silentLogger(),
    }) as unknown as AnyHandler;
    const command = (amount: number): StoredEvent => ({
      ...newEvent({
        type: 'payment.refund_requested',
        subject: 'evt.payment.cmd.normal',
        source: 'test',
        data: { paymentId, amount, requestedBy: 'test', via: 'v1' },
      }),
      seq: 0,
      stream: 'EVENTS',
    });
    const [a, b] = await Promise.all([
      handler.handle(command(7_000), { attempt: 1, maxAttempts: 3 }),
      handler.handle(command(7_000), { attempt: 1, maxAttempts: 3 }),
    ]);
    const types = [...(a ?? []), ...(b ?? [])].map((r) => r.type).sort();
    expect(types).toEqual(['payment.refund_failed', 'payment.refund_succeeded']);
    const failed = [...(a ?? []), ...(b ?? [])].find((r) => r.type === 'payment.refund_failed');
    expect(failed?.data).toMatchObject({ code: 'exceeds_refundable' });
    expect([conflicts, refundCalls]).toEqual([1, 1]);
    const initiated = (await inner.read('EVENTS', 100, { filterSubject: subject }))
      .flatMap((m) => m.events)
      .filter((e) => e.type === 'payment.refund_initiated');
    expect(initiated).toHaveLength(1);
  });
});
