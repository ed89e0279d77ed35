import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyRoutes } from '../../api/legacy/index.js';
import { smsRoutes } from '../../api/routes/sms.js';
import { webhookRoutes } from '../../api/routes/webhooks.js';
import { loadConfig } from '../../core/config.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { smsBalanceReader } from '../../handlers/sms/index.js';
import type { SmsBalance } from '../../schemas/http/sms.js';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { type FakeTwilio, startFakeTwilio } from '../fakes/twilio.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';
import { type SmsRig, startSmsRig } from './smsHarness.js';

const SID = `AC${'3'.repeat(32)}`;
const TOKEN = 'twilio-token-delivery';
const SMSRU_TOKEN = 'smsru-callback-secret';
let smsru: FakeSmsRu;
let tw: FakeTwilio;

const env = (over: Record<string, string> = {}) => ({
  SMS_TEST_MODE: 'false',
  SMS_API_KEY: 'smsru-key-delivery',
  SMSRU_BASE_URL: smsru.url,
  SMSRU_WEBHOOK_TOKEN: SMSRU_TOKEN,
  TWILIO_ACCOUNT_SID: SID,
  TWILIO_AUTH_TOKEN: TOKEN,
  TWILIO_FROM_NUMBER: '+15550003333',
  TWILIO_API_BASE_URL: tw.url,
  SMS_HTTP_TIMEOUT_SECONDS: '2',
  ...over,
});

beforeAll(async () => {
  smsru = await startFakeSmsRu({ apiKey: 'smsru-key-delivery', balance: 812.4 });
  tw = await startFakeTwilio({ accountSid: SID, authToken: TOKEN, balance: '14.07' });
});
afterAll(async () => {
  await smsru?.close();
  await tw?.close();
});

interface WebhookRow {
  provider: string;
  provider_event_id: string | null;
  signature_valid: boolean;
  status: string;
  error: string | null;
  processed_at: Date | null;
}

describe('delivery reports from provider callbacks, through POST /webhooks/{provider}', () => {
  let store: PostgresStore;
  let api: ApiHarness;
  let rig: SmsRig;
  let key: string;
  let balanceReader: (() => Promise<SmsBalance>) | undefined;
  beforeAll(async () => {
    store = await freshPglite();
    const live = smsBalanceReader(loadConfig({ DATA_DIR: '/nonexistent', ...env() }).sms);
    api = await startRoutes(store, (d) => [...smsRoutes(d), ...webhookRoutes(d), ...legacyRoutes(d)], env(), {
      smsBalance: () => (balanceReader ?? live)(),
    });
    key = await api.key(['sms']);
    // Polling far off: every report here comes from a callback.
    rig = await startSmsRig(store, env({ SMS_STATUS_POLL_AFTER_SECONDS: '3600' }), { projections: [] });
  }, 60_000);
  afterAll(async () => {
    await rig?.stop();
    await api?.close();
    await store?.close();
  });

  const webhookRows = (provider: string) =>
    store.sql<WebhookRow[]>`SELECT provider, provider_event_id, signature_valid, status, error, processed_at
                            FROM webhook_events WHERE provider = ${provider} ORDER BY received_at, id`;
  const sentVia = async (provider: 'smsru' | 'twilio', to: string) => {
    const id = await rig.request(to, `hello via ${provider}`, { provider, source: `fg_${to}` });
    return rig.rowWhen(id, (r) => r.status === 'sent');
  };

  it('moves a message to delivered on a Twilio callback signed with the twilio package, with its price; records the webhook as processed', async () => {
    const sent = await sentVia('twilio', '+447700900201');
    const sid = sent.provider_message_id as string;
    expect((await tw.callback(`${api.url}/webhooks/twilio`, sid, 'sent')).valueOf()).toBe(200);
    tw.setStatus(sid, 'delivered', { price: '-0.00790' });
    expect(await tw.callback(`${api.url}/webhooks/twilio`, sid, 'delivered')).toBe(200);
    const r = await rig.rowWhen(sent.id, (x) => x.status === 'delivered');
    expect(r).toMatchObject({ provider: 'twilio', provider_status: 'delivered', cost_minor: '1', currency: 'USD' });
    expect(r.delivered_at).toBeInstanceOf(Date);
    expect(r.history.map((h) => h.type)).toEqual(['sms.requested', 'sms.sent', 'sms.status_reported', 'sms.delivered']);
    expect(r.history.at(-1)?.data).toMatchObject({ via: 'callback', providerStatus: 'delivered' });
    await until(async () => (await webhookRows('twilio')).every((w) => w.status === 'processed'), {
      timeoutMs: 10_000,
      what: 'webhooks processed',
    });
    const rows = await webhookRows('twilio');
    expect(rows.map((w) => w.provider_event_id)).toEqual([`${sid}:sent`, `${sid}:delivered`]);
    expect(rows.every((w) => w.processed_at instanceof Date)).toBe(true);
  });

  it('refuses a callback with a wrong signature, audits it, and leaves the message as it was', async () => {
    const sent = await sentVia('twilio', '+447700900202');
    const sid = sent.provider_message_id as string;
    expect(await tw.callback(`${api.url}/webhooks/twilio`, sid, 'delivered', { signature: 'bm90IGEgc2lnbmF0dXJl' })).toBe(401);
    // Signed for another URL: Twilio signs the exact URL it calls.
    const other = await import('twilio').then((t) =>
      t.default.getExpectedTwilioSignature(TOKEN, 'https://evil.example/webhooks/twilio', { MessageSid: sid }),
    );
    expect(await tw.callback(`${api.url}/webhooks/twilio`, sid, 'delivered', { signature: other })).toBe(401);
    await api.caughtUp();
    const refused = (await webhookRows('twilio')).filter((w) => w.provider_event_id === `${sid}:delivered`);
    expect(refused.map((w) => [w.signature_valid, w.status, w.processed_at])).toEqual([
      [false, 'rejected', null],
      [false, 'rejected', null],
    ]);
    expect(refused[0]?.error).toBe('signature does not match the URL and parameters');
    await new Promise((r) => setTimeout(r, 300)); // the handler had its chance to act on it
    await api.caughtUp();
    expect((await rig.row(sent.id))?.status).toBe('sent');
  });

  it('records an undelivered Twilio report with its error code', async () => {
    const sent = await sentVia('twilio', '+447700900203');
    const sid = sent.provider_message_id as string;
    tw.setStatus(sid, 'undelivered', { errorCode: 30003, errorMessage: 'Unreachable destination handset' });
    expect(await tw.callback(`${api.url}/webhooks/twilio`, sid, 'undelivered', { errorCode: 30003 })).toBe(200);
    const r = await rig.rowWhen(sent.id, (x) => x.status === 'undelivered');
    expect(r).toMatchObject({ error_code: '30003', provider_status: 'undelivered', delivered_at: null });
  });

  it('confirms an SMS.ru callback with sms/status before it counts: delivered with its cost; a forged claim yields what SMS.ru says', async () => {
    const a = await sentVia('smsru', '+79990000301');
    const b = await sentVia('smsru', '+79990000302');
    const ida = a.provider_message_id as string;
    const idb = b.provider_message_id as string;
    smsru.setStatus(ida, 103);
    smsru.setStatus(idb, 104); // SMS.ru says: expired; the callback will claim delivered
    const url = `${api.url}/webhooks/smsru?token=${SMSRU_TOKEN}`;
    const answer = await smsru.callback(url, [
      { id: ida, statusCode: 103 },
      { id: idb, statusCode: 103 },
    ]);
    expect(answer).toEqual({ status: 200, body: '100' });
    const ra = await rig.rowWhen(a.id, (x) => x.status === 'delivered');
    expect(ra).toMatchObject({ provider: 'smsru', provider_status: '103', cost_minor: '395', currency: 'RUB' });
    const rb = await rig.rowWhen(b.id, (x) => x.status === 'undelivered');
    expect(rb).toMatchObject({ provider_status: '104', error_code: '104' });
    const statusCalls = smsru.requests.filter((q) => q.path === '/sms/status').map((q) => q.params.sms_id);
    expect(statusCalls).toEqual(expect.arrayContaining([ida, idb]));

    expect((await smsru.callback(`${api.url}/webhooks/smsru?token=wrong`, [{ id: ida, statusCode: 104 }])).status).toBe(401);
    await api.caughtUp();
    expect((await webhookRows('smsru')).filter((w) => !w.signature_valid).map((w) => w.error)).toEqual(['token is wrong']);
    expect((await rig.row(a.id))?.status).toBe('delivered');
  });

  it('marks a callback for a message this gateway never sent as ignored', async () => {
    expect(await tw.callback(`${api.url}/webhooks/twilio`, 'SM00000000000000000000000000000000', 'delivered')).toBe(200);
    await until(
      async () => (await webhookRows('twilio')).some((w) => w.provider_event_id?.startsWith('SM0000') && w.status === 'ignored'),
      { timeoutMs: 10_000, what: 'ignored webhook' },
    );
  });

  it('GET /api/v1/sms/balance asks the provider; the legacy balance action answers the same in its old shape', async () => {
    const res = await fetch(`${api.url}/api/v1/sms/balance`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      provider: 'smsru',
      amountMinor: Math.round(smsru.balance * 100),
      currency: 'RUB',
      testMode: false,
    });
    expect(smsru.requests.at(-1)).toMatchObject({ path: '/my/balance', params: { api_id: 'smsru-key-delivery', json: '1' } });
    const legacy = await fetch(`${api.url}/api/sms.php?action=balance`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
    });
    expect(await legacy.json()).toEqual({
      success: true,
      balance: smsru.balance,
      currency: 'RUB',
      provider: 'smsru',
      test_mode: false,
    });
  });

  it('answers 503 problem+json when the provider is not configured or down, and a simulated balance in test mode', async () => {
    const get = () => fetch(`${api.url}/api/v1/sms/balance`, { headers: { authorization: `Bearer ${key}` } });
    try {
      balanceReader = smsBalanceReader(
        loadConfig({ DATA_DIR: '/nonexistent', SMS_TEST_MODE: 'false', SMS_PROVIDER: 'twilio' }).sms,
      );
      let res = await get();
      expect([res.status, res.headers.get('content-type')]).toEqual([503, 'application/problem+json']);
      const problem = (await res.json()) as { code: string; detail: string };
      expect(problem.code).toBe('GW_ERR_PROVIDER_NOT_CONFIGURED');
      expect(problem.detail).toContain('TWILIO_ACCOUNT_SID');
      balanceReader = smsBalanceReader(loadConfig({ DATA_DIR: '/nonexistent', SMS_TEST_MODE: 'true' }).sms);
      res = await get();
      expect(await res.json()).toEqual({ provider: 'smsru', amountMinor: 500_000, currency: 'RUB', testMode: true });
      balanceReader = undefined;
      smsru.failNext('my/balance', { http: 502 });
      res = await get();
      expect([res.status, res.headers.get('retry-after')]).toEqual([503, '30']);
      expect(((await res.json()) as { code: string }).code).toBe('GW_ERR_PROVIDER_UNAVAILABLE');
    } finally {
      balanceReader = undefined;
    }
  });
});
