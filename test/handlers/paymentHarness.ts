import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { buildPaymentHandlers } from '../../handlers/payment/index.js';
import { type FakeStripe, startFakeStripe } from '../fakes/stripe.js';
import { type FakeYooKassa, startFakeYooKassa } from '../fakes/yookassa.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { startHandler } from '../support/handlers.js';
import { freshPostgresDb } from '../support/stores.js';
import { until } from '../support/until.js';

export const YK = { shopId: '506751', secretKey: 'yk_secret_key' };
export const STRIPE = { secretKey: 'sk_test_fake_0123456789', webhookSecret: 'whsec_test_secret' };

// biome-ignore lint/suspicious/noExplicitAny: tests read the JSON answers field by field
type Json = any;

export interface PaymentHarness {
  store: PostgresStore & { url: string };
  api: ApiHarness;
  yk: FakeYooKassa;
  stripe: FakeStripe;
  key: string;
  runners: HandlerRunner[];
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Json }>;
  webhook(provider: 'stripe' | 'yookassa', body: string, headers?: Record<string, string>): Promise<number>;
  payment(id: string): Promise<Json>;
  /** Waits until GET shows the payment in `status` (and `pred` holds). */
  waitFor(id: string, pred: (p: Json) => boolean, what?: string): Promise<Json>;
  startHandlers(): Promise<void>;
  stopHandlers(): Promise<void>;
  /** Stops the API and its projections (once); the store stays open. */
  closeApi(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The API (with projections) over a fresh Postgres, the payment handlers under the real runner,
 * and both provider fakes: everything a payment flow needs, as the gateway wires it.
 */
export const startPaymentHarness = async (
  env: Record<string, string> = {},
  opts: { handlers?: boolean } = {},
): Promise<PaymentHarness> => {
  const store = await freshPostgresDb();
  const yk = await startFakeYooKassa(YK);
  const stripe = await startFakeStripe(STRIPE);
  const api = await startApi(store, {
    PAYMENT_TEST_MODE: 'false',
    PAYMENT_PROVIDER: 'yookassa',
    YANDEX_KASSA_SHOP_ID: YK.shopId,
    YANDEX_KASSA_SECRET_KEY: YK.secretKey,
    YOOKASSA_API_URL: yk.url,
    YOOKASSA_WEBHOOK_ALLOWLIST: '127.0.0.1,::1',
    STRIPE_SECRET_KEY: STRIPE.secretKey,
    STRIPE_API_URL: stripe.url,
    STRIPE_WEBHOOK_SECRET: STRIPE.webhookSecret,
    PAYMENT_HTTP_TIMEOUT_SECONDS: '2',
    ...env,
  });
  const key = await api.key(['payments']);
  let runners: HandlerRunner[] = [];
  let apiClosed = false;
  const h: PaymentHarness = {
    store,
    api,
    yk,
    stripe,
    key,
    get runners() {
      return runners;
    },
    async call(method, path, body, headers = {}) {
      const res = await fetch(`${api.url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed };
    },
    async webhook(provider, body, headers = {}) {
      const res = await fetch(`${api.url}/webhooks/${provider}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      await res.arrayBuffer();
      return res.status;
    },
    async payment(id) {
      const r = await h.call('GET', `/api/v1/payments/${id}`);
      return r.status === 200 ? r.body : undefined;
    },
    waitFor: (id, pred, what = 'payment state') =>
      until(
        async () => {
          const p = await h.payment(id);
          return p && pred(p) ? p : undefined;
        },
        { timeoutMs: 20_000, what },
      ),
    async startHandlers() {
      const handlers = buildPaymentHandlers({ config: api.config, logger: silentLogger(), log: api.log, sql: store.sql });
      runners = await Promise.all(handlers.map((handler) => startHandler(api.log, handler, { maxAttempts: 4 })));
    },
    async stopHandlers() {
      for (const r of runners) await r.stop(2_000);
      runners = [];
    },
    async closeApi() {
      if (apiClosed) return;
      apiClosed = true;
      await api.close();
    },
    async close() {
      await h.stopHandlers();
      await h.closeApi();
      await yk.close();
      await stripe.close();
      await store.close();
    },
  };
  if (opts.handlers !== false) await h.startHandlers();
  return h;
};

export const newPayment = (over: Record<string, unknown> = {}) => ({
  orderId: `order-${Math.random().toString(36).slice(2, 8)}`,
  amount: 150000,
  currency: 'RUB',
  description: 'Trip #72',
  returnUrl: 'https://crm.example/payment-success.php',
  customer: { email: 'rider@example.com' },
  ...over,
});
