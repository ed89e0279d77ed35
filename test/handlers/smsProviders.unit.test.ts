import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRetryAfter, SmsProviderError, toMinor } from '../../handlers/sms/port.js';
import { smsSegments } from '../../handlers/sms/segments.js';
import { smsRuProvider } from '../../handlers/sms/smsru.js';
import { testModeProvider } from '../../handlers/sms/testMode.js';
import { twilioProvider } from '../../handlers/sms/twilio.js';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { type FakeTwilio, startFakeTwilio } from '../fakes/twilio.js';

const SID = `AC${'1'.repeat(32)}`;
const TOKEN = 'twilio-token-providers';
let smsru: FakeSmsRu;
let tw: FakeTwilio;

beforeAll(async () => {
  smsru = await startFakeSmsRu({ apiKey: 'smsru-key-1' });
  tw = await startFakeTwilio({ accountSid: SID, authToken: TOKEN });
});
afterAll(async () => {
  await smsru?.close();
  await tw?.close();
});

/** The error a promise rejects with, as an SmsProviderError. */
const failure = async (p: Promise<unknown>) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SmsProviderError);
  return e as SmsProviderError;
};

/** A port nothing listens on. */
const closedPort = async () => {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
};

describe('SMS.ru client (plain HTTP, json=1) against the fake', () => {
  const client = (over: Partial<Parameters<typeof smsRuProvider>[0]> = {}) =>
    smsRuProvider({ baseUrl: smsru.url, apiKey: 'smsru-key-1', from: 'Fleet', timeoutMs: 2_000, ...over });

  it('sends as a POST form with api_id, json=1, the number without + and the sender; reads the id, status, cost and balance', async () => {
    const before = smsru.requests.length;
    const r = await client().send({ to: '+79990001122', text: 'Водитель назначен' });
    const req = smsru.requests[before];
    expect(req).toMatchObject({ method: 'POST', path: '/sms/send' });
    expect(req?.params).toMatchObject({
      api_id: 'smsru-key-1',
      json: '1',
      to: '79990001122',
      msg: 'Водитель назначен',
      from: 'Fleet',
    });
    expect(r.providerMessageId).toBe(smsru.sent.at(-1)?.id);
    expect(r).toMatchObject({ segments: 1, cost: null });

    smsru.setStatus(r.providerMessageId, 103);
    expect(await client().status(r.providerMessageId)).toEqual({
      state: 'delivered',
      providerStatus: '103',
      cost: { amountMinor: 395, currency: 'RUB' },
    });
    smsru.setStatus(r.providerMessageId, 104);
    expect(await client().status(r.providerMessageId)).toMatchObject({ state: 'undelivered', errorCode: '104' });
    expect((await client().status('000000-1')).state).toBe('unknown');
    smsru.balance = 4762.58;
    expect(await client().balance()).toEqual({ amountMinor: 476_258, currency: 'RUB' });
  });

  it('classifies body-level errors by code: account, permanent, stop-list, retryable', async () => {
    const bad = await failure(client({ apiKey: 'wrong' }).send({ to: '+79990001122', text: 'x' }));
    expect([bad.kind, bad.code, bad.opts.outcomeUnknown]).toEqual(['account', '200', undefined]);

    smsru.failNext('sms/send', { code: 201 });
    expect((await failure(client().send({ to: '+79990001122', text: 'x' }))).kind).toBe('account');
    smsru.failNext('sms/send', { code: 207, perNumber: true });
    const noRoute = await failure(client().send({ to: '+79990001122', text: 'x' }));
    expect([noRoute.kind, noRoute.code, noRoute.opts.optOut]).toEqual(['permanent', '207', false]);
    smsru.failNext('sms/send', { code: 209, perNumber: true });
    const stop = await failure(client().send({ to: '+79990001122', text: 'x' }));
    expect([stop.kind, stop.opts.optOut]).toEqual(['permanent', true]);
    smsru.failNext('sms/send', { code: 220 });
    expect((await failure(client().send({ to: '+79990001122', text: 'x' }))).kind).toBe('retryable');
    smsru.failNext('sms/send', { code: 231, perNumber: true });
    const perMinute = await failure(client().send({ to: '+79990001122', text: 'x' }));
    expect([perMinute.kind, perMinute.opts.retryAfterMs]).toEqual(['retryable', 60_000]);
  });

  it('treats 5xx and 429 as retryable (Retry-After kept); a 5xx after sending, a hang and a reset leave the outcome unknown', async () => {
    smsru.failNext('sms/send', { http: 503 });
    const outage = await failure(client().send({ to: '+79990001122', text: 'x' }));
    expect([outage.kind, outage.code, outage.opts.outcomeUnknown]).toEqual(['retryable', 'http_503', true]);
    smsru.failNext('sms/send', { http: 429, retryAfter: 7 });
    const limited = await failure(client().send({ to: '+79990001122', text: 'x' }));
    expect([limited.kind, limited.opts.retryAfterMs, limited.opts.outcomeUnknown]).toEqual(['retryable', 7_000, false]);

    const sentBefore = smsru.sent.length;
    smsru.failNext('sms/send', { hang: true });
    const hung = await failure(client({ timeoutMs: 300 }).send({ to: '+79990001122', text: 'x' }));
    expect([hung.kind, hung.code, hung.opts.outcomeUnknown]).toEqual(['retryable', 'network', true]);
    expect(smsru.sent.length).toBe(sentBefore + 1); // it did go out: hence "unknown"

    const refused = await failure(
      client({ baseUrl: `http://127.0.0.1:${await closedPort()}` }).send({ to: '+79990001122', text: 'x' }),
    );
    expect([refused.kind, refused.opts.outcomeUnknown]).toEqual(['retryable', false]);
  });
});

describe('Twilio client (the twilio package) against the fake', () => {
  const client = (over: Partial<Parameters<typeof twilioProvider>[0]> = {}) =>
    twilioProvider({
      accountSid: SID,
      authToken: TOKEN,
      from: '+15550001111',
      baseUrl: tw.url,
      statusCallback: 'https://gw.example/webhooks/twilio',
      timeoutMs: 2_000,
      ...over,
    });

  it('creates the message with Basic auth, To/From/Body and the status callback; fetches status with price; reads the balance', async () => {
    const before = tw.requests.length;
    const r = await client().send({ to: '+447700900123', text: 'Your driver is here' });
    const req = tw.requests[before];
    expect(req).toMatchObject({ method: 'POST', path: `/2010-04-01/Accounts/${SID}/Messages.json`, user: SID });
    expect(req?.form).toEqual({
      To: '+447700900123',
      From: '+15550001111',
      Body: 'Your driver is here',
      StatusCallback: 'https://gw.example/webhooks/twilio',
    });
    expect(r).toEqual({ providerMessageId: tw.messages.at(-1)?.sid, segments: 1, cost: null });

    tw.setStatus(r.providerMessageId, 'delivered', { price: '-0.00790' });
    expect(await client().status(r.providerMessageId)).toEqual({
      state: 'delivered',
      providerStatus: 'delivered',
      cost: { amountMinor: 1, currency: 'USD' },
    });
    tw.setStatus(r.providerMessageId, 'undelivered', { errorCode: 30003, errorMessage: 'Unreachable destination handset' });
    expect(await client().status(r.providerMessageId)).toMatchObject({ state: 'undelivered', errorCode: '30003' });
    expect((await client().status('SMdoesnotexist')).state).toBe('unknown');
    expect(await client().balance()).toEqual({ amountMinor: 2_000, currency: 'USD' });
  });

  it('classifies RestExceptions: invalid To permanent, STOP permanent with opt-out, bad credentials account, 5xx and 429 retryable', async () => {
    const invalid = await failure(client().send({ to: '+1', text: 'x' }));
    expect([invalid.kind, invalid.code]).toEqual(['permanent', '21211']);
    tw.failNext('create', { code: 21610 });
    const stop = await failure(client().send({ to: '+447700900123', text: 'x' }));
    expect([stop.kind, stop.code, stop.opts.optOut]).toEqual(['permanent', '21610', true]);
    const auth = await failure(client({ authToken: 'wrong' }).send({ to: '+447700900123', text: 'x' }));
    expect([auth.kind, auth.code]).toEqual(['account', '20003']);
    tw.failNext('create', { code: 21606 });
    expect((await failure(client().send({ to: '+447700900123', text: 'x' }))).kind).toBe('account');

    tw.failNext('create', { http: 500, accept: true });
    const outage = await failure(client().send({ to: '+447700900123', text: 'x' }));
    expect([outage.kind, outage.opts.outcomeUnknown]).toEqual(['retryable', true]);
    tw.failNext('create', { http: 429, retryAfter: 3 });
    const limited = await failure(client().send({ to: '+447700900123', text: 'x' }));
    expect([limited.kind, limited.code, limited.opts.retryAfterMs]).toEqual(['retryable', 'http_429', 3_000]);

    const refused = await failure(
      client({ baseUrl: `http://127.0.0.1:${await closedPort()}` }).send({ to: '+447700900123', text: 'x' }),
    );
    expect([refused.kind, refused.opts.outcomeUnknown]).toEqual(['retryable', false]);
    tw.failNext('create', { hang: true });
    const hung = await failure(client({ timeoutMs: 300 }).send({ to: '+447700900123', text: 'x' }));
    expect([hung.kind, hung.opts.outcomeUnknown]).toEqual(['retryable', true]);
  });
});

describe('test-mode client', () => {
  it('answers like each provider without any request: id shape, segments, price, delivered status, balance', async () => {
    const before = [smsru.requests.length, tw.requests.length];
    const ru = testModeProvider('smsru');
    const t = testModeProvider('twilio');
    const a = await ru.send({ to: '+79990001122', text: 'Ваш водитель прибыл, номер машины А123ВС' });
    expect(a.providerMessageId).toMatch(/^\d{6}-\d{8}$/);
    expect(a).toMatchObject({ segments: 1, cost: null });
    expect(await ru.status(a.providerMessageId)).toEqual({
      state: 'delivered',
      providerStatus: '103',
      cost: { amountMinor: 395, currency: 'RUB' },
    });
    const b = await t.send({ to: '+447700900123', text: 'x'.repeat(161) });
    expect(b.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
    expect(b).toMatchObject({ segments: 2, cost: { amountMinor: 2, currency: 'USD' } });
    expect(await t.balance()).toEqual({ amountMinor: 2_000, currency: 'USD' });
    const magic = await failure(t.send({ to: '+15005550001', text: 'x' }));
    expect([magic.kind, magic.code]).toEqual(['permanent', '21211']);
    expect([smsru.requests.length, tw.requests.length]).toEqual(before);
  });
});

describe('helpers', () => {
  it('counts GSM-7 and UCS-2 segments as operators bill them', () => {
    expect([
      smsSegments('a'.repeat(160)),
      smsSegments('a'.repeat(161)),
      smsSegments('a'.repeat(306)),
      smsSegments('a'.repeat(307)),
    ]).toEqual([1, 2, 2, 3]);
    expect([smsSegments('€'.repeat(80)), smsSegments('€'.repeat(81))]).toEqual([1, 2]); // escape + septet each
    expect([
      smsSegments('ж'.repeat(70)),
      smsSegments('ж'.repeat(71)),
      smsSegments('ж'.repeat(134)),
      smsSegments('ж'.repeat(135)),
    ]).toEqual([1, 2, 2, 3]);
  });

  it('turns decimal amounts into minor units without float error, rounding fractions up', () => {
    expect(toMinor('0.10', 'RUB')).toEqual({ amountMinor: 10, currency: 'RUB' });
    expect(toMinor(4762.58, 'RUB')).toEqual({ amountMinor: 476_258, currency: 'RUB' });
    expect(toMinor('-0.00750', 'usd')).toEqual({ amountMinor: -1, currency: 'USD' });
    expect(toMinor('12', 'JPY')).toEqual({ amountMinor: 12, currency: 'JPY' });
    expect(toMinor('abc', 'RUB')).toBeNull();
    expect(parseRetryAfter('5')).toBe(5_000);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
