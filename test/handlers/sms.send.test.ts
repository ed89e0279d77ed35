import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type FakeSmsRu, startFakeSmsRu } from '../fakes/smsru.js';
import { type FakeTwilio, startFakeTwilio } from '../fakes/twilio.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';
import { capturingLogger, type SmsRig, startSmsRig } from './smsHarness.js';

const SID = `AC${'2'.repeat(32)}`;
const TOKEN = 'twilio-token-send';
let store: PostgresStore;
let smsru: FakeSmsRu;
let tw: FakeTwilio;

const liveEnv = () => ({
  SMS_TEST_MODE: 'false',
  SMS_PROVIDER: 'smsru',
  SMS_API_KEY: 'smsru-key-send',
  SMSRU_BASE_URL: smsru.url,
  TWILIO_ACCOUNT_SID: SID,
  TWILIO_AUTH_TOKEN: TOKEN,
  TWILIO_FROM_NUMBER: '+15550002222',
  TWILIO_API_BASE_URL: tw.url,
  SMS_HTTP_TIMEOUT_SECONDS: '2',
  SMS_MAX_PER_SOURCE_PER_HOUR: '0',
});

beforeAll(async () => {
  store = await freshPglite();
  smsru = await startFakeSmsRu({ apiKey: 'smsru-key-send' });
  tw = await startFakeTwilio({ accountSid: SID, authToken: TOKEN });
}, 60_000);
afterAll(async () => {
  await smsru?.close();
  await tw?.close();
  await store?.close();
});

let n = 0;
/** A number no other test used, so per-recipient counts start at zero. */
const phone = () => `+7999${String(1_000_000 + ++n).slice(1)}0`;

describe('sms handler: live providers through their fakes, and test mode', () => {
  let rig: SmsRig;
  const live = capturingLogger();
  beforeAll(async () => {
    rig = await startSmsRig(store, liveEnv(), { logger: live.logger });
  });
  afterAll(() => rig?.stop());

  it('sends through SMS.ru (SMS_PROVIDER) and through Twilio when the request names it; sms_log says which', async () => {
    const a = await rig.request(phone(), 'Водитель назначен');
    const to = phone();
    const b = await rig.request(to, 'Driver assigned', { provider: 'twilio' });
    const ra = await rig.rowWhen(a, (r) => r.status === 'sent');
    const rb = await rig.rowWhen(b, (r) => r.status === 'sent');
    expect(ra).toMatchObject({
      provider: 'smsru',
      provider_message_id: smsru.sent.at(-1)?.id,
      segments: 1,
      test_mode: false,
      attempts: 1,
    });
    expect(rb).toMatchObject({ provider: 'twilio', provider_message_id: tw.messages.at(-1)?.sid, segments: 1, test_mode: false });
    expect(tw.messages.at(-1)).toMatchObject({ to, body: 'Driver assigned', from: '+15550002222' });
    expect(rb.history.map((h) => h.type)).toEqual(['sms.requested', 'sms.sent']);
    expect(rb.history[1]?.data).toMatchObject({ provider: 'twilio', testMode: false, attempt: 1 });
  });

  it('retries when every provider answers 5xx, then sends: one attempt_failed, attempts 2', async () => {
    smsru.failNext('sms/send', { http: 502 });
    tw.failNext('create', { http: 503 });
    const id = await rig.request(phone(), 'retry me');
    const r = await rig.rowWhen(id, (x) => x.status === 'sent');
    expect(r).toMatchObject({ attempts: 2, provider: 'smsru' });
    expect(r.history.map((h) => h.type)).toEqual(['sms.requested', 'sms.attempt_failed', 'sms.sent']);
    expect(r.history[1]?.data?.error).toMatch(/^no provider sent it: smsru: http_502.*twilio: 20500/);
  });

  it('fails a permanent error at once: no retry, no failover, sms.failed with the code, a dead letter', async () => {
    smsru.failNext('sms/send', { code: 207, perNumber: true });
    const before = [smsru.requests.length, tw.requests.length];
    const id = await rig.request(phone(), 'no route');
    const r = await rig.rowWhen(id, (x) => x.status === 'failed');
    expect(r).toMatchObject({ error_code: '207', provider: 'smsru', attempts: 1 });
    expect(r.error_message).toMatch(/^permanent: smsru refused the message \(207\)/);
    expect([smsru.requests.length - (before[0] as number), tw.requests.length - (before[1] as number)]).toEqual([1, 0]);
    const dead = (await rig.log.read('DLQ', 1000)).flatMap((m) => m.events).filter((e) => e.id === id);
    expect(dead).toHaveLength(1);
  });

  it('gives up after the last attempt when every provider stays down: failed, attempts = max, dead letter', async () => {
    for (let i = 0; i < 3; i++) {
      smsru.failNext('sms/send', { http: 503 });
      tw.failNext('create', { http: 503 });
    }
    const id = await rig.request(phone(), 'never');
    const r = await rig.rowWhen(id, (x) => x.status === 'failed');
    expect(r.attempts).toBe(3);
    expect(r.error_message).toMatch(/^gave up after 3 attempts: no provider sent it: smsru: http_503/);
    expect(r.history.map((h) => h.type)).toEqual(['sms.requested', 'sms.attempt_failed', 'sms.attempt_failed', 'sms.failed']);
    expect((await rig.log.read('DLQ', 1000)).flatMap((m) => m.events).some((e) => e.id === id)).toBe(true);
  });

  it('fails over from SMS.ru to Twilio when SMS.ru answers 5xx; the event and sms_log name Twilio', async () => {
    smsru.failNext('sms/send', { http: 500 });
    const to = phone();
    const id = await rig.request(to, 'failover please');
    const r = await rig.rowWhen(id, (x) => x.status === 'sent');
    expect(r.provider).toBe('twilio');
    expect(r.attempts).toBe(1);
    expect(tw.messages.at(-1)).toMatchObject({ to, body: 'failover please' });
    const sent = r.history.find((h) => h.type === 'sms.sent')?.data;
    expect(sent).toMatchObject({
      provider: 'twilio',
      failedOver: [{ provider: 'smsru', error: expect.stringMatching(/^http_500/) }],
    });
    const line = live.lines.find((l) => l.msg === 'sms sent' && l.smsId === id);
    expect(line).toMatchObject({ provider: 'twilio', failedOver: ['smsru'] });
  });

  it('records a STOP from the provider as an opt-out, and refuses the next SMS to that number', async () => {
    const to = phone();
    smsru.failNext('sms/send', { code: 209, perNumber: true });
    const first = await rig.request(to, 'hello');
    await rig.rowWhen(first, (x) => x.status === 'failed');
    await until(async () => (await rig.sql`SELECT 1 FROM sms_opt_outs WHERE phone = ${to} AND opted_out`).length === 1);
    const second = await rig.request(to, 'hello again');
    const r = await rig.rowWhen(second, (x) => x.status === 'refused');
    expect(r.error_code).toBe('opted_out');
    expect(r.error_message).toContain('provider:smsru');
  });

  it('in SMS_TEST_MODE sends nothing, and logs and records the same shape marked test_mode', async () => {
    const testLog = capturingLogger();
    // Another process's turn: the live handlers stop, so the test-mode ones take the command (the read models keep running).
    await Promise.all(rig.runners.map((r) => r.stop(5_000)));
    const testRig = await startSmsRig(
      store,
      { ...liveEnv(), SMS_TEST_MODE: 'true' },
      { logger: testLog.logger, projections: [] },
    );
    try {
      const before = [smsru.requests.length, tw.requests.length];
      const id = await testRig.request(phone(), 'simulated');
      const r = await rig.rowWhen(id, (x) => x.status === 'sent');
      expect(r).toMatchObject({ provider: 'smsru', test_mode: true, segments: 1 });
      expect(r.provider_message_id).toMatch(/^\d{6}-\d{8}$/);
      expect([smsru.requests.length, tw.requests.length]).toEqual(before);
      const simulated = testLog.lines.find((l) => l.msg === 'sms sent' && l.smsId === id);
      const real = live.lines.find((l) => l.msg === 'sms sent' && l.provider === 'smsru');
      expect(simulated?.testMode).toBe(true);
      expect(real?.testMode).toBe(false);
      expect(Object.keys(simulated ?? {}).sort()).toEqual(Object.keys(real ?? {}).sort());
      // The sent event has the same fields as a live one, only the flag differs.
      const liveSent = (await rig.events('evt.sms.result')).find(
        (e) => e.type === 'sms.sent' && (e.data as { provider: string }).provider === 'smsru',
      );
      const testSent = (await testRig.events('evt.sms.result')).find((e) => (e.data as { smsId: string }).smsId === id);
      expect(Object.keys(testSent?.data as object).sort()).toEqual(Object.keys(liveSent?.data as object).sort());
      // Numbers are masked in logs; the API key never appears.
      expect(JSON.stringify([...testLog.lines, ...live.lines])).not.toContain('smsru-key-send');
      expect(String(simulated?.to)).toMatch(/^\+7999\*\*\*\d{4}$/);
    } finally {
      await testRig.stop();
    }
  });
});
