import { createHash } from 'node:crypto';
import { FormatRegistry } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import Stripe from 'stripe';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiDeps } from '../../api/deps.js';
import { HttpProblem } from '../../api/problemDetails.js';
import type { RequestContext } from '../../api/route.js';
import { webhookRoutes } from '../../api/routes/webhooks.js';
import { handleWebhook, REFUSED_BODY_PREFIX_BYTES } from '../../api/webhooks/ingress.js';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { applyBatch, readCheckpoint } from '../../core/runners/projectionRunner.js';
import { webhookEventsProjection } from '../../projections/webhookEvents.js';
import { WebhookReceivedData } from '../../schemas/events/webhook.js';
import { type FakeYooKassa, startFakeYooKassa } from '../fakes/yookassa.js';
import { freshPglite } from '../support/stores.js';

const SECRETS = {
  STRIPE_WEBHOOK_SECRET: 'whsec_ingress',
  TWILIO_AUTH_TOKEN: 'twilio-token',
  TELEGRAM_WEBHOOK_SECRET: 'tg_secret',
  SMSRU_WEBHOOK_TOKEN: 'smsru-token',
  YANDEX_KASSA_SHOP_ID: '506751',
  YANDEX_KASSA_SECRET_KEY: 'yk_secret',
  YOOKASSA_WEBHOOK_ALLOWLIST: '127.0.0.1,::1',
};
const stripe = new Stripe('sk_test_unused');
const now = new Date();
let db: Awaited<ReturnType<typeof freshPglite>>;
let log: EventLog;
let api: FakeYooKassa;
let deps: ApiDeps;
const depsWith = (env: Record<string, string>, l: EventLog = log): ApiDeps => ({
  config: loadConfig({ YOOKASSA_API_URL: api.url, ...env }),
  log: l,
  sql: db.sql,
  logger: silentLogger(),
  now: () => now,
  fetch,
});

beforeAll(async () => {
  db = await freshPglite();
  log = embeddedEventLog(db.sql, { pollMs: 20 });
  api = await startFakeYooKassa({ shopId: '506751', secretKey: 'yk_secret' });
  api.payments.set('pay-1', { id: 'pay-1', status: 'succeeded' });
  deps = depsWith({ ...SECRETS, PUBLIC_URL: 'https://gw.example.com/' });
});
afterAll(async () => {
  await api.close();
  await log.close();
  await db.close();
});

const ctx = (provider: string, body: string | Buffer, headers: Record<string, string> = {}, rawQuery = ''): RequestContext => ({
  requestId: 'req-1',
  method: 'POST',
  path: `/webhooks/${provider}`,
  route: '/webhooks/{provider}',
  params: { provider },
  rawQuery,
  query: Object.fromEntries(new URLSearchParams(rawQuery)),
  headers: { host: 'gw.internal:8080', 'content-type': 'application/json', ...headers },
  remoteAddress: '127.0.0.1',
  rawBody: Buffer.from(body),
  body: undefined,
  principal: undefined,
  logger: silentLogger(),
});
const deliver = (provider: string, body: string | Buffer, headers?: Record<string, string>, rawQuery?: string, d = deps) =>
  handleWebhook(d, provider, ctx(provider, body, headers, rawQuery));
const refusal = (p: Promise<unknown>) =>
  p.then(
    () => expect.fail('the delivery was accepted'),
    (e: unknown) => e as HttpProblem,
  );
/** Every webhook.received on a provider's subject, with its log message id. */
const recorded = async (provider: string) =>
  (await log.read('EVENTS', 1_000, { filterSubject: `evt.webhook.${provider}` })).flatMap((m) =>
    m.events.map((e) => ({ msgId: m.msgId, id: e.id, type: e.type, data: e.data as WebhookReceivedData })),
  );
const fold = async () => {
  const from = await readCheckpoint(db.sql, webhookEventsProjection);
  const messages = await log.read('EVENTS', 1_000, { fromSeq: from + 1, filterSubject: 'evt.webhook.>' });
  if (messages.length > 0) await applyBatch(db.sql, webhookEventsProjection, from, messages);
};
const stripeEvent = (id: string) => `{"id":"${id}","object":"event","type":"payment_intent.succeeded","data":{"note":"Пётр "}}`;
const stripeSig = (payload: string, timestamp = Math.floor(now.getTime() / 1000)) => ({
  'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: SECRETS.STRIPE_WEBHOOK_SECRET, timestamp }),
});

describe('webhook ingress', () => {
  it('records a valid Stripe delivery byte for byte, without secret headers, and answers 200', async () => {
    const body = stripeEvent('evt_a');
    const reply = await deliver('stripe', body, { ...stripeSig(body), authorization: 'Bearer nope' });
    expect(reply.status).toBe(200);
    const [e, ...rest] = await recorded('stripe');
    expect(rest).toEqual([]);
    expect(e).toMatchObject({ msgId: 'webhook:stripe:evt_a', type: 'webhook.received' });
    expect(e?.data).toMatchObject({
      provider: 'stripe',
      providerEventId: 'evt_a',
      eventType: 'payment_intent.succeeded',
      signatureValid: true,
      duplicate: false,
      remoteAddr: '127.0.0.1',
      contentType: 'application/json',
      receivedAt: now.toISOString(),
    });
    expect(e?.data.error).toBeUndefined();
    expect(Buffer.from(e?.data.bodyBase64 ?? '', 'base64').equals(Buffer.from(body))).toBe(true);
    expect(Object.keys(e?.data.headers ?? {}).sort()).toEqual(['content-type', 'stripe-signature']);
  });

  it('acknowledges a replayed event id and records it as a duplicate, never processed twice', async () => {
    const body = stripeEvent('evt_b');
    const headers = stripeSig(body);
    expect((await deliver('stripe', body, headers)).status).toBe(200);
    // The log's message-id dedupe drops the second append; the delivery is still audited.
    expect((await deliver('stripe', body, headers)).status).toBe(200);
    await fold();
    // Past the log's dedupe window (simulated: a log that ignores message ids), webhook_events catches it.
    const forgetful: EventLog = { ...log, append: (s, e, o) => log.append(s, e, { ...o, msgId: undefined }) };
    const later = depsWith({ ...SECRETS }, forgetful);
    const resigned = stripeSig(body, Math.floor(now.getTime() / 1000) + 60);
    expect((await deliver('stripe', body, resigned, '', later)).status).toBe(200);
    const evtB = (await recorded('stripe')).filter((e) => e.data.providerEventId === 'evt_b');
    expect(evtB.map((e) => e.data.duplicate)).toEqual([false, true, true]);
    expect(evtB.filter((e) => e.msgId === 'webhook:stripe:evt_b')).toHaveLength(1);
    await fold();
    const rows = await db.sql<{ status: string }[]>`
      SELECT status FROM webhook_events WHERE provider_event_id = 'evt_b' ORDER BY last_seq`;
    expect(rows.map((r) => r.status)).toEqual(['received', 'duplicate', 'duplicate']);
  });

  it('records a tampered body and a stale timestamp, then refuses them with 401', async () => {
    const body = stripeEvent('evt_c');
    const tampered = await refusal(deliver('stripe', body.replace('Пётр', 'Petr'), stripeSig(body)));
    expect(tampered).toBeInstanceOf(HttpProblem);
    expect([tampered.code, tampered.status]).toEqual(['GW_ERR_INVALID_SIGNATURE', 401]);
    const stale = await refusal(deliver('stripe', body, stripeSig(body, Math.floor(now.getTime() / 1000) - 3_600)));
    expect(stale.code).toBe('GW_ERR_INVALID_SIGNATURE');
    const evtC = (await recorded('stripe')).filter((e) => e.data.providerEventId === 'evt_c');
    expect(evtC.map((e) => [e.data.signatureValid, e.data.duplicate, e.msgId === e.id])).toEqual([
      [false, false, true],
      [false, false, true],
    ]);
    expect(evtC[0]?.data.error).toBe('no signature matches the payload');
    expect(evtC[1]?.data.error).toMatch(/tolerance/);
  });

  // Issue 23: before, each of these was appended to EVENTS (kept forever) with its whole body.
  it('answers 404 to 1,000 forged deliveries for a provider whose secret is not configured, appending nothing', async () => {
    const bare = depsWith({});
    const [route] = webhookRoutes(bare);
    const before = await log.lastSeq('EVENTS');
    const body = `{"update_id":7,"message":{"text":"${'x'.repeat(4_000)}"}}`;
    const codes = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const provider = ['telegram', 'stripe', 'twilio', 'yookassa', 'smsru'][i % 5] as string;
      const p = await refusal(
        Promise.resolve().then(() => route?.handle(ctx(provider, body, { 'x-telegram-bot-api-secret-token': 'x' }))),
      );
      codes.add(`${p.status} ${p.code}`);
    }
    expect([...codes]).toEqual(['404 GW_ERR_ROUTE_NOT_FOUND']);
    expect(await log.lastSeq('EVENTS')).toBe(before);
  });

  it('keeps a refused delivery as its digest, size and first 512 bytes, not its body', async () => {
    const body = stripeEvent(`evt_big_${'y'.repeat(20_000)}`);
    const p = await refusal(deliver('stripe', body, { 'stripe-signature': 't=1,v1=00' }));
    expect(p.code).toBe('GW_ERR_INVALID_SIGNATURE');
    const [e] = (await recorded('stripe')).filter((r) => r.data.providerEventId?.startsWith('evt_big_'));
    const kept = Buffer.from(e?.data.bodyBase64 ?? '', 'base64');
    expect(kept.equals(Buffer.from(body).subarray(0, REFUSED_BODY_PREFIX_BYTES))).toBe(true);
    expect(e?.data).toMatchObject({
      signatureValid: false,
      bodyBytes: Buffer.byteLength(body),
      payloadSha256: createHash('sha256').update(body).digest('hex'),
    });
    // A genuine delivery still keeps every byte (see the first test) and has no bodyBytes.
    expect((await recorded('stripe')).find((r) => r.data.signatureValid)?.data.bodyBytes).toBeUndefined();
  });

  it('records 10 concurrent deliveries of one genuine event once, the rest as duplicates (RELIABILITY T18)', async () => {
    const body = stripeEvent('evt_concurrent');
    const answers = await Promise.all(Array.from({ length: 10 }, () => deliver('stripe', body, stripeSig(body))));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    const mine = (await recorded('stripe')).filter((r) => r.data.providerEventId === 'evt_concurrent');
    expect(mine.filter((r) => r.data.signatureValid && !r.data.duplicate)).toHaveLength(1);
    await fold();
    const rows = await db.sql<{ status: string }[]>`
      SELECT status FROM webhook_events WHERE provider_event_id = 'evt_concurrent' AND status = 'received'`;
    expect(rows).toHaveLength(1);
  });

  it('limits deliveries per client address apart from the API limit (WEBHOOK_RATE_LIMIT_PER_IP)', async () => {
    const limited = depsWith({ ...SECRETS, WEBHOOK_RATE_LIMIT_PER_IP: '3' });
    const [route] = webhookRoutes(limited);
    expect(route?.maxBodyBytes).toBe(65_536);
    const body = stripeEvent('evt_rate');
    for (let i = 0; i < 3; i++) expect((await route?.handle(ctx('stripe', body, stripeSig(body))))?.status).toBe(200);
    const p = await refusal(Promise.resolve().then(() => route?.handle(ctx('stripe', body, stripeSig(body)))));
    expect([p.status, p.code]).toEqual([429, 'GW_ERR_RATE_LIMITED']);
  });

  it('answers 404 for an unknown provider and records nothing', async () => {
    const before = await log.lastSeq('EVENTS');
    const p = await refusal(deliver('paypal', '{}'));
    expect(p.code).toBe('GW_ERR_ROUTE_NOT_FOUND');
    expect(await log.lastSeq('EVENTS')).toBe(before);
  });

  it('verifies Twilio against PUBLIC_URL + path + query, or http://Host when unset', async () => {
    const params = { MessageSid: 'SM1', MessageStatus: 'delivered', To: '+79990001122' };
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const body = new URLSearchParams(params).toString();
    const sig = twilio.getExpectedTwilioSignature(
      SECRETS.TWILIO_AUTH_TOKEN,
      'https://gw.example.com/webhooks/twilio?a=1',
      params,
    );
    expect((await deliver('twilio', body, { ...form, 'x-twilio-signature': sig }, 'a=1')).status).toBe(200);
    const hostSig = twilio.getExpectedTwilioSignature(
      SECRETS.TWILIO_AUTH_TOKEN,
      'http://gw.internal:8080/webhooks/twilio',
      params,
    );
    const noPublicUrl = depsWith({ ...SECRETS });
    const p = await refusal(deliver('twilio', body, { ...form, 'x-twilio-signature': sig }, 'a=1', noPublicUrl));
    expect(p.code).toBe('GW_ERR_INVALID_SIGNATURE');
    expect((await deliver('twilio', body, { ...form, 'x-twilio-signature': hostSig }, '', noPublicUrl)).status).toBe(200);
    const events = await recorded('twilio');
    expect(events.map((e) => [e.data.providerEventId, e.data.signatureValid, e.data.duplicate])).toEqual([
      ['SM1:delivered', true, false],
      ['SM1:delivered', false, false],
      ['SM1:delivered', true, true],
    ]);
    expect(events[0]?.data.headers['x-twilio-signature']).toBe(sig);
  });

  it('answers SMS.ru with the text 100, one event per data[N] record', async () => {
    const body = new URLSearchParams({
      'data[0]': 'sms_status\n201-1\n103\n1795830525',
      'data[1]': 'sms_status\n201-2\n104\n1795830526',
    });
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect(await deliver('smsru', body.toString(), form, 'token=smsru-token')).toEqual({
      status: 200,
      raw: '100',
      type: 'text/plain',
    });
    expect((await refusal(deliver('smsru', body.toString(), form, 'token=guess'))).code).toBe('GW_ERR_INVALID_SIGNATURE');
    const events = await recorded('smsru');
    expect(events.map((e) => [e.msgId.startsWith('webhook:') ? e.msgId : 'own', e.data.signatureValid])).toEqual([
      ['webhook:smsru:201-1:103', true],
      ['webhook:smsru:201-2:104', true],
      ['own', false],
    ]);
  });

  it('never records the Telegram secret header', async () => {
    const body = '{"update_id":8,"message":{"text":"hi"}}';
    await deliver('telegram', body, { 'x-telegram-bot-api-secret-token': SECRETS.TELEGRAM_WEBHOOK_SECRET });
    const e = (await recorded('telegram')).find((x) => x.data.providerEventId === '8');
    expect(e?.data.signatureValid).toBe(true);
    expect(JSON.stringify(e)).not.toContain(SECRETS.TELEGRAM_WEBHOOK_SECRET);
  });

  it('accepts a YooKassa notification the API confirms; an API outage is recorded and answered 503 with Retry-After', async () => {
    const body = JSON.stringify({
      type: 'notification',
      event: 'payment.succeeded',
      object: { id: 'pay-1', status: 'succeeded' },
    });
    expect((await deliver('yookassa', body)).status).toBe(200);
    api.failNext(503);
    expect((await refusal(deliver('yookassa', body))).status).toBe(503);
    const events = await recorded('yookassa');
    expect(events.map((e) => [e.data.signatureValid, e.data.duplicate, e.data.error?.slice(0, 14)])).toEqual([
      [true, false, undefined],
      [false, false, 're-fetch answe'],
    ]);
  });

  it('records the re-fetched YooKassa object; a forged body neither changes it nor takes the genuine dedupe slot', async () => {
    api.payments.set('pay-7', { id: 'pay-7', status: 'pending', amount: { value: '70.00', currency: 'RUB' } });
    const note = (event: string, object: Record<string, unknown>) => JSON.stringify({ type: 'notification', event, object });
    // Forged while the payment is pending: success claimed, the status the API reports copied.
    const forged = note('payment.succeeded', { id: 'pay-7', status: 'pending', amount: { value: '1.00', currency: 'RUB' } });
    expect((await refusal(deliver('yookassa', forged))).status).toBe(401);
    // The payment succeeds; the genuine notification is accepted, not taken for a duplicate.
    api.payments.set('pay-7', { id: 'pay-7', status: 'succeeded', amount: { value: '70.00', currency: 'RUB' } });
    const genuine = note('payment.succeeded', { id: 'pay-7', status: 'succeeded', amount: { value: '1.00', currency: 'RUB' } });
    expect((await deliver('yookassa', genuine)).status).toBe(200);
    const events = (await recorded('yookassa')).filter((e) => e.data.providerEventId?.endsWith('pay-7'));
    expect(
      events.map((e) => [e.msgId === 'webhook:yookassa:payment.succeeded:pay-7', e.data.signatureValid, e.data.duplicate]),
    ).toEqual([
      [false, false, false],
      [true, true, false],
    ]);
    // Even the accepted delivery's forged amount is not what is stored: the API's object is.
    const stored = JSON.parse(Buffer.from(events[1]?.data.bodyBase64 ?? '', 'base64').toString());
    expect(stored.object.amount).toEqual({ value: '70.00', currency: 'RUB' });
    expect(events[1]?.data.payloadSha256).toBe(createHash('sha256').update(genuine).digest('hex'));
  });

  it('is served as the public raw-body route POST /webhooks/{provider}', async () => {
    const [route, ...rest] = webhookRoutes(deps);
    expect(rest).toEqual([]);
    expect(route).toMatchObject({ method: 'POST', path: '/webhooks/{provider}', auth: 'public', bodyFormat: 'raw' });
    const body = stripeEvent('evt_route');
    expect((await route?.handle(ctx('stripe', body, stripeSig(body))))?.status).toBe(200);
    expect(() => webhookRoutes(depsWith({ YOOKASSA_WEBHOOK_ALLOWLIST: 'not-a-range' }))).toThrow(
      expect.objectContaining({ code: 'GW_ERR_CONFIG' }),
    );
  });

  it('records only events that match the webhook.received schema', async () => {
    if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', (v) => !Number.isNaN(Date.parse(v)));
    const all = (await log.read('EVENTS', 1_000, { filterSubject: 'evt.webhook.>' })).flatMap((m) => m.events);
    expect(all.length).toBeGreaterThan(15);
    expect(all.filter((e) => !Value.Check(WebhookReceivedData, e.data))).toEqual([]);
  });
});
