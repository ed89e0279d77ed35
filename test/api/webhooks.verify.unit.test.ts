import Stripe from 'stripe';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smsruVerifier } from '../../api/webhooks/smsru.js';
import { stripeVerifier } from '../../api/webhooks/stripe.js';
import { telegramVerifier } from '../../api/webhooks/telegram.js';
import { twilioVerifier } from '../../api/webhooks/twilio.js';
import type { WebhookRequest } from '../../api/webhooks/verifier.js';
import { allowlistMatcher, yookassaVerifier } from '../../api/webhooks/yookassa.js';
import { isGatewayError } from '../../schemas/errors.js';
import { type FakeYooKassa, startFakeYooKassa } from '../fakes/yookassa.js';

const req = (o: Partial<WebhookRequest> & { body: string | Buffer }): WebhookRequest => ({
  rawBody: Buffer.from(o.body),
  headers: o.headers ?? {},
  remoteAddress: o.remoteAddress ?? '127.0.0.1',
  url: o.url ?? 'https://gw.example.com/webhooks/x',
  query: o.query ?? new URLSearchParams(),
});

describe('Stripe signature (signed by the stripe package)', () => {
  const secret = 'whsec_test_secret';
  const stripe = new Stripe('sk_test_unused');
  const now = new Date();
  const nowSec = Math.floor(now.getTime() / 1000);
  const verifier = stripeVerifier({ secret, toleranceSeconds: 300, now: () => now });
  // Whitespace and non-ASCII: the signature covers the exact bytes, not a re-serialisation.
  const payload = '{\n  "id": "evt_1", "object": "event", "type": "checkout.session.completed", "data": {"name": "Пётр"}\n}';
  const sign = (p = payload, timestamp = nowSec, s = secret) =>
    stripe.webhooks.generateTestHeaderString({ payload: p, secret: s, timestamp });
  /** stripe-node's own verdict on the same request, so ours is checked against the reference. */
  const stripeAccepts = (body: string, header: string) => {
    try {
      stripe.webhooks.constructEvent(body, header, secret, 300, undefined, now.getTime());
      return true;
    } catch {
      return false;
    }
  };
  const verify = (body: string, header?: string) =>
    verifier.verify(req({ body, headers: header === undefined ? {} : { 'stripe-signature': header } }));

  it('accepts a valid signature and reports the event id and type', async () => {
    expect(await verify(payload, sign())).toEqual({
      verdict: 'valid',
      events: [{ providerEventId: 'evt_1', eventType: 'checkout.session.completed' }],
    });
    expect(stripeAccepts(payload, sign())).toBe(true);
  });

  it('accepts any matching v1 while the secret is rolled', async () => {
    const other = sign(payload, nowSec, 'whsec_old').split(',')[1];
    expect((await verify(payload, `${sign()},${other}`)).verdict).toBe('valid');
    expect((await verify(payload, `t=${nowSec},${other},${sign().split(',')[1]}`)).verdict).toBe('valid');
  });

  it('refuses a tampered body', async () => {
    const tampered = payload.replace('evt_1', 'evt_2');
    expect(await verify(tampered, sign())).toMatchObject({ verdict: 'invalid', reason: 'no signature matches the payload' });
    expect(stripeAccepts(tampered, sign())).toBe(false);
    expect((await verify(`${payload} `, sign())).verdict).toBe('invalid');
  });

  it('refuses a stale timestamp, and accepts one just inside the tolerance', async () => {
    const stale = sign(payload, nowSec - 301);
    expect(await verify(payload, stale)).toMatchObject({ verdict: 'invalid', reason: expect.stringMatching(/tolerance/) });
    expect(stripeAccepts(payload, stale)).toBe(false);
    expect((await verify(payload, sign(payload, nowSec - 300))).verdict).toBe('valid');
    const noCheck = stripeVerifier({ secret, toleranceSeconds: 0, now: () => now });
    expect((await noCheck.verify(req({ body: payload, headers: { 'stripe-signature': stale } }))).verdict).toBe('valid');
  });

  it('refuses a timestamp moved forward (it is signed too)', async () => {
    const [, v1] = sign().split(',');
    expect((await verify(payload, `t=${nowSec + 10},${v1}`)).verdict).toBe('invalid');
  });

  it('refuses a wrong secret, a missing or garbled header, and an unconfigured secret', async () => {
    expect((await verify(payload, sign(payload, nowSec, 'whsec_other'))).verdict).toBe('invalid');
    expect(await verify(payload)).toMatchObject({ verdict: 'invalid', reason: 'missing Stripe-Signature header' });
    expect((await verify(payload, 'v1=abc')).verdict).toBe('invalid');
    expect((await verify(payload, `t=${nowSec}`)).verdict).toBe('invalid');
    expect((await verify(payload, `t=${nowSec},v1=zz`)).verdict).toBe('invalid');
    const unset = stripeVerifier({ secret: undefined, toleranceSeconds: 300, now: () => now });
    expect(await unset.verify(req({ body: payload, headers: { 'stripe-signature': sign() } }))).toMatchObject({
      verdict: 'invalid',
      reason: 'not configured',
    });
  });
});

describe('Twilio signature (signed by the twilio package)', () => {
  const authToken = 'twilio_auth_token_123';
  const url = 'https://gw.example.com/webhooks/twilio?tenant=a';
  const params = {
    MessageSid: 'SM0123456789abcdef0123456789abcdef',
    MessageStatus: 'undelivered',
    ErrorCode: '30003',
    ErrorMessage: 'Unreachable destination handset & more',
    To: '+79990001122',
  };
  const body = new URLSearchParams(params).toString();
  const verifier = twilioVerifier({ authToken });
  const verify = (b: string, signature: string | undefined, u = url) =>
    verifier.verify(
      req({ body: b, url: u, query: new URL(u).searchParams, headers: signature ? { 'x-twilio-signature': signature } : {} }),
    );
  const signature = twilio.getExpectedTwilioSignature(authToken, url, params);

  it('accepts a valid signature and reports MessageSid:MessageStatus', async () => {
    expect(twilio.validateRequest(authToken, signature, url, params)).toBe(true);
    expect(await verify(body, signature)).toEqual({
      verdict: 'valid',
      events: [{ providerEventId: `${params.MessageSid}:undelivered`, eventType: 'undelivered' }],
    });
  });

  it('accepts the URL signed with or without the default port', async () => {
    const withPort = twilio.getExpectedTwilioSignature(authToken, 'https://gw.example.com:443/webhooks/twilio?tenant=a', params);
    expect((await verify(body, withPort)).verdict).toBe('valid');
  });

  it('covers repeated parameters as twilio-node sorts them', async () => {
    const sig = twilio.getExpectedTwilioSignature(authToken, url, { ...params, Media: ['b', 'a', 'b'] });
    expect((await verify(`${body}&Media=b&Media=a&Media=b`, sig)).verdict).toBe('valid');
  });

  it('refuses a tampered body, another URL, a wrong token and a missing header', async () => {
    expect((await verify(body.replace('undelivered', 'delivered'), signature)).verdict).toBe('invalid');
    expect((await verify(`${body}&Extra=1`, signature)).verdict).toBe('invalid');
    expect((await verify(body, signature, 'https://gw.example.com/webhooks/twilio?tenant=b')).verdict).toBe('invalid');
    expect((await verify(body, twilio.getExpectedTwilioSignature('other', url, params))).verdict).toBe('invalid');
    expect(await verify(body, undefined)).toMatchObject({ verdict: 'invalid', reason: 'missing X-Twilio-Signature header' });
    const unset = twilioVerifier({ authToken: undefined });
    expect((await unset.verify(req({ body, url, headers: { 'x-twilio-signature': signature } }))).verdict).toBe('invalid');
  });

  it('checks a JSON body against ?bodySHA256= in the signed URL', async () => {
    const json = '{"MessageSid":"SM1"}';
    const jsonUrl = `https://gw.example.com/webhooks/twilio?bodySHA256=${twilio.getExpectedBodyHash(json)}`;
    const sig = twilio.getExpectedTwilioSignature(authToken, jsonUrl, {});
    expect(twilio.validateRequestWithBody(authToken, sig, jsonUrl, json)).toBe(true);
    expect((await verify(json, sig, jsonUrl)).verdict).toBe('valid');
    expect((await verify('{"MessageSid":"SM2"}', sig, jsonUrl)).verdict).toBe('invalid');
  });
});

describe('Telegram secret token', () => {
  const verifier = telegramVerifier({ secret: 'tg-secret_1' });
  const update = '{"update_id":42,"message":{"text":"/start"}}';
  const verify = (body: string, token?: string) =>
    verifier.verify(req({ body, headers: token === undefined ? {} : { 'x-telegram-bot-api-secret-token': token } }));

  it('accepts the configured secret; the update id is the event id', async () => {
    expect(await verify(update, 'tg-secret_1')).toEqual({
      verdict: 'valid',
      events: [{ providerEventId: '42', eventType: 'message' }],
    });
  });
  it('refuses a wrong or missing secret, and an authentic non-update as malformed', async () => {
    expect((await verify(update, 'tg-secret_2')).verdict).toBe('invalid');
    expect((await verify(update, 'tg-secret_1x')).verdict).toBe('invalid');
    expect((await verify(update)).verdict).toBe('invalid');
    expect((await verify('not json', 'tg-secret_1')).verdict).toBe('malformed');
    expect((await telegramVerifier({ secret: undefined }).verify(req({ body: update }))).verdict).toBe('invalid');
  });
});

describe('SMS.ru callback token', () => {
  const verifier = smsruVerifier({ token: 'cb-token' });
  const body = new URLSearchParams({
    'data[1]': 'sms_status\n000-2\n104\n1795830600',
    'data[0]': 'sms_status\r\n000-1\r\n103\r\n1795830525',
  }).toString();
  const verify = (b: string, query: string) => verifier.verify(req({ body: b, query: new URLSearchParams(query) }));

  it('accepts the token; each data[N] record is one event, in order', async () => {
    expect(await verify(body, 'token=cb-token')).toEqual({
      verdict: 'valid',
      events: [
        { providerEventId: '000-1:103', eventType: 'sms_status' },
        { providerEventId: '000-2:104', eventType: 'sms_status' },
      ],
    });
  });
  it('refuses a wrong or missing token, and an empty callback as malformed', async () => {
    expect((await verify(body, 'token=cb-tokeN')).verdict).toBe('invalid');
    expect((await verify(body, '')).verdict).toBe('invalid');
    expect((await verify('', 'token=cb-token')).verdict).toBe('malformed');
    expect((await smsruVerifier({ token: undefined }).verify(req({ body, query: new URLSearchParams('token=') }))).verdict).toBe(
      'invalid',
    );
  });
});

describe('YooKassa allowlist and re-fetch (fake API)', () => {
  let api: FakeYooKassa;
  const creds = { shopId: '506751', secretKey: 'test_secret' };
  beforeAll(async () => {
    api = await startFakeYooKassa(creds);
    api.payments.set('pay-1', { id: 'pay-1', status: 'succeeded', paid: true });
    api.refunds.set('ref-1', { id: 'ref-1', status: 'succeeded', payment_id: 'pay-1' });
  });
  afterAll(() => api.close());
  const verifier = (o: Partial<Parameters<typeof yookassaVerifier>[0]> = {}) =>
    yookassaVerifier({ apiUrl: api.url, ...creds, allowlist: ['127.0.0.0/8', '2a02:5180::/32'], fetch, ...o });
  const note = (event: string, id: string, status: string) =>
    JSON.stringify({ type: 'notification', event, object: { id, status, amount: { value: '10.00', currency: 'RUB' } } });

  it('accepts a notification from an allowlisted address whose status the API confirms', async () => {
    const before = api.requests.length;
    const v = await verifier().verify(req({ body: note('payment.succeeded', 'pay-1', 'succeeded') }));
    expect(v).toEqual({
      verdict: 'valid',
      events: [{ providerEventId: 'payment.succeeded:pay-1', eventType: 'payment.succeeded' }],
      body: expect.any(Buffer),
    });
    const [fetched] = api.requests.slice(before);
    expect(fetched).toMatchObject({ method: 'GET', path: '/v3/payments/pay-1' });
    expect(fetched?.headers.authorization).toBe(`Basic ${Buffer.from('506751:test_secret').toString('base64')}`);
  });

  it('re-fetches refunds from /refunds and takes IPv4-mapped IPv6 peers as IPv4', async () => {
    const v = await verifier().verify(
      req({ body: note('refund.succeeded', 'ref-1', 'succeeded'), remoteAddress: '::ffff:127.0.0.1' }),
    );
    expect(v.verdict).toBe('valid');
    expect(api.requests.at(-1)?.path).toBe('/v3/refunds/ref-1');
  });

  it('matches single addresses and IPv6 ranges, and refuses a bad allowlist entry at construction', () => {
    const allowed = allowlistMatcher(['77.75.156.11', '2a02:5180::/32']);
    expect([allowed('77.75.156.11'), allowed('77.75.156.12'), allowed('2a02:5180:0:1509::1'), allowed('2a02:5181::1')]).toEqual([
      true,
      false,
      true,
      false,
    ]);
    expect(allowed('not an ip')).toBe(false);
    expect(() => allowlistMatcher(['10.0.0.0/33'])).toThrow(expect.objectContaining({ code: 'GW_ERR_CONFIG' }));
    try {
      allowlistMatcher(['nope']);
    } catch (e) {
      expect(isGatewayError(e, 'GW_ERR_CONFIG')).toBe(true);
    }
  });

  it('refuses a foreign address without asking the API', async () => {
    const before = api.requests.length;
    const v = await verifier().verify(
      req({ body: note('payment.succeeded', 'pay-1', 'succeeded'), remoteAddress: '203.0.113.9' }),
    );
    expect(v).toMatchObject({ verdict: 'invalid', reason: expect.stringMatching(/not allowlisted/) });
    expect(api.requests.length).toBe(before);
  });

  it('refuses a status the API does not confirm, an unknown object, and missing credentials', async () => {
    expect((await verifier().verify(req({ body: note('payment.canceled', 'pay-1', 'canceled') }))).verdict).toBe('invalid');
    expect((await verifier().verify(req({ body: note('payment.succeeded', 'pay-9', 'succeeded') }))).verdict).toBe('invalid');
    expect((await verifier().verify(req({ body: '{"type":"notification","event":"payout.succeeded"}' }))).verdict).toBe(
      'invalid',
    );
    expect(
      await verifier({ shopId: undefined }).verify(req({ body: note('payment.succeeded', 'pay-1', 'succeeded') })),
    ).toMatchObject({
      verdict: 'invalid',
      reason: 'not configured',
    });
  });

  it('takes the event, its id and the body to record from the re-fetched object, not from the posted body', async () => {
    api.payments.set('pay-2', { id: 'pay-2', status: 'pending', amount: { value: '10.00', currency: 'RUB' } });
    // A forged body claims success for a payment that is pending, with the pending status the API reports.
    const forged = JSON.stringify({
      type: 'notification',
      event: 'payment.succeeded',
      object: { id: 'pay-2', status: 'pending' },
    });
    expect(await verifier().verify(req({ body: forged }))).toMatchObject({
      verdict: 'invalid',
      reason: 'notified payment.succeeded but YooKassa reports payment.pending',
    });
    // A body with the true event but forged fields: what is recorded is the API's object.
    const tampered = JSON.stringify({
      type: 'notification',
      event: 'payment.succeeded',
      object: { id: 'pay-1', status: 'succeeded', paid: false, metadata: { orderId: 'forged' } },
    });
    const v = await verifier().verify(req({ body: tampered }));
    expect(v).toMatchObject({
      verdict: 'valid',
      events: [{ providerEventId: 'payment.succeeded:pay-1', eventType: 'payment.succeeded' }],
    });
    expect(JSON.parse((v as { body: Buffer }).body.toString())).toEqual({
      type: 'notification',
      event: 'payment.succeeded',
      object: { id: 'pay-1', status: 'succeeded', paid: true },
    });
  });

  it('reports an API outage or refused credentials as unverifiable, so the provider retries', async () => {
    api.failNext(500);
    expect((await verifier().verify(req({ body: note('payment.succeeded', 'pay-1', 'succeeded') }))).verdict).toBe(
      'unverifiable',
    );
    const wrongKey = verifier({ secretKey: 'wrong' });
    expect((await wrongKey.verify(req({ body: note('payment.succeeded', 'pay-1', 'succeeded') }))).verdict).toBe('unverifiable');
  });
});
