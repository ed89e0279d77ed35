import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../core/paths.js';
import { until } from '../support/until.js';
import { newPayment, type PaymentHarness, startPaymentHarness, YK } from './paymentHarness.js';

const SCRIPT = join(packageRoot, 'test/support/paymentHandlerProcess.ts');

let h: PaymentHarness;
beforeAll(async () => {
  h = await startPaymentHarness({}, { handlers: false });
}, 60_000);
afterAll(async () => {
  await h?.close();
});

describe('payment handler killed right after the provider answered', () => {
  it('SIGKILL between the provider call and the log: one payment at YooKassa, one in the ledger', async () => {
    const r = await h.call('POST', '/api/v1/payments', newPayment());
    expect(r.status).toBe(202);
    const id = r.body.id as string;

    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
      cwd: packageRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        PAYMENT_CRASH_DB: h.store.url,
        PAYMENT_CRASH_ON_CREATED: '1',
        PAYMENT_TEST_MODE: 'false',
        YANDEX_KASSA_SHOP_ID: YK.shopId,
        YANDEX_KASSA_SECRET_KEY: YK.secretKey,
        YOOKASSA_API_URL: h.yk.url,
        HANDLER_ACK_WAIT_SECONDS: '1',
        HANDLER_MAX_ATTEMPTS: '5',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const exited = new Promise<NodeJS.Signals | number | null>((res) =>
      child.once('exit', (code, signal) => res(signal ?? code)),
    );
    expect(await exited, err).toBe('SIGKILL');

    // The provider made the payment; the log has no outcome.
    const atProvider = [...h.yk.payments.values()].filter((p) => (p.metadata as { paymentId?: string }).paymentId === id);
    expect(atProvider).toHaveLength(1);
    const before = await h.call('GET', `/api/v1/payments/${id}`);
    expect(before.body.providerPaymentId ?? null).toBeNull();

    // A handler picks the command up again and asks with the same Idempotence-Key.
    await h.startHandlers();
    const p = await until(
      async () => {
        const x = await h.payment(id);
        return x?.providerPaymentId ? x : undefined;
      },
      { timeoutMs: 20_000, what: 'payment created after the crash' },
    );
    expect(p.providerPaymentId).toBe(atProvider[0]?.id);
    expect([...h.yk.payments.values()].filter((x) => (x.metadata as { paymentId?: string }).paymentId === id)).toHaveLength(1);
    const keys = h.yk.requests
      .filter((x) => x.method === 'POST' && x.path === '/v3/payments')
      .map((x) => x.headers['idempotence-key']);
    expect(keys).toEqual([`payment-${id}`, `payment-${id}`]);
    expect(p.history.filter((e: { type: string }) => e.type === 'payment.created')).toHaveLength(1);
  });
});
