import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derivedMsgId, newEvent } from '../../core/eventlog/newEvent.js';
import type { EventEnvelope } from '../../core/eventlog/port.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;
let all: string;

beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store, { NOTIFICATIONS_TIME_ZONE: 'Europe/Moscow' });
  all = await api.key(['sms', 'email', 'push', 'telegram']);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const notify = (kind: string, body: unknown, key = all, headers: Record<string, string> = {}) =>
  fetch(`${api.url}/api/v1/notifications/${kind}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const eventsSince = async (seq: number) => (await api.log.read('EVENTS', 1000, { fromSeq: seq + 1 })).flatMap((m) => m.events);
const byType = (events: EventEnvelope[]) => Object.fromEntries(events.map((e) => [e.type, e]));

interface Accepted {
  status: string;
  commands: { channel: string; id: string }[];
}

const assigned = {
  to: { phone: '+79991234567', email: 'driver@example.com', name: 'Иван', userId: 'u-17', telegramChatId: 42 },
  data: { applicationId: 'A-1001', pickupAddress: 'Тверская, 1', pickupTime: '2026-11-28T09:30:00Z' },
};

describe('CRM notifications fan out to the chosen channels', () => {
  it('application assigned: one command per reachable channel, texts in the locale and time zone, each with its own id', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const res = await notify('application-assigned', assigned);
    expect(res.status).toBe(202);
    const body = (await res.json()) as Accepted;
    expect(body.commands.map((c) => c.channel)).toEqual(['sms', 'email', 'push', 'telegram']);
    expect(new Set(body.commands.map((c) => c.id)).size).toBe(4);
    const ev = byType(await eventsSince(before));
    // 09:30 UTC is 12:30 in Moscow; Russian by default; high priority by default.
    expect(ev['sms.requested']?.data).toMatchObject({
      to: '+79991234567',
      text: 'Иван, вам назначена заявка №A-1001: Тверская, 1, 28.11.2026, 12:30.',
      priority: 'high',
      via: 'v1:notifications/application_assigned',
    });
    expect(ev['email.requested']?.data).toMatchObject({
      to: 'driver@example.com',
      template: 'application_assigned',
      data: {
        driver: { name: 'Иван' },
        application: { number: 'A-1001', pickup: 'Тверская, 1', pickupAt: '2026-11-28T09:30:00Z' },
        locale: 'ru',
        timeZone: 'Europe/Moscow',
      },
    });
    expect(ev['push.requested']?.data).toMatchObject({
      userId: 'u-17',
      title: 'Новая заявка №A-1001',
      data: { kind: 'application_assigned', applicationId: 'A-1001' },
    });
    expect(ev['telegram.requested']?.data).toMatchObject({ chatId: 42 });
    expect(body.commands.find((c) => c.channel === 'sms')?.id).toBe(ev['sms.requested']?.id);
  });

  it('honours the channels given, English, and money in minor units', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const res = await notify('payment-received', {
      to: { phone: '+79991234567', email: 'c@example.com' },
      channels: ['sms'],
      locale: 'en',
      data: { orderId: 'O-7', amount: 150050, currency: 'RUB' },
    });
    expect(res.status).toBe(202);
    const events = await eventsSince(before);
    expect(events.map((e) => e.type)).toEqual(['sms.requested']);
    expect(events[0]?.data).toMatchObject({ text: 'Payment for order #O-7 received: RUB 1,500.50.', priority: 'normal' });
  });

  it('refuses a chosen channel without its address, or no address at all, naming the field; appends nothing', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const noPhone = await notify('password-reset', {
      to: { email: 'a@example.com' },
      channels: ['email', 'sms'],
      data: { resetUrl: 'https://crm.example.com/reset/abc' },
    });
    expect(noPhone.status).toBe(400);
    expect(((await noPhone.json()) as { errors: { field: string }[] }).errors.map((e) => e.field)).toEqual([
      'to.phone',
      'to.name',
    ]);
    const nobody = await notify('password-reset', { to: {}, data: { resetUrl: 'https://crm.example.com/reset/abc' } });
    expect(nobody.status).toBe(400);
    const badData = await notify('payment-received', { to: { phone: '+79991234567' }, data: { orderId: 'x', amount: -1 } });
    expect(badData.status).toBe(400);
    expect(((await badData.json()) as { errors: { field: string }[] }).errors.map((e) => e.field).sort()).toEqual([
      'data.amount',
      'data.currency',
    ]);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });

  it('needs the scope of every channel it would use (403 names the missing ones); one channel scope gets in', async () => {
    const smsOnly = await api.key(['sms']);
    const before = await api.log.lastSeq('EVENTS');
    const both = await notify('application-assigned', { ...assigned, channels: ['sms', 'email'] }, smsOnly);
    expect(both.status).toBe(403);
    expect(((await both.json()) as { detail: string }).detail).toContain('"email"');
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
    const one = await notify('application-assigned', { ...assigned, channels: ['sms'] }, smsOnly);
    expect(one.status).toBe(202);
    const payments = await api.key(['payments']);
    expect((await notify('application-assigned', assigned, payments)).status).toBe(403);
  });

  it('an Idempotency-Key gives the same commands again, and distinct ids per channel', async () => {
    const headers = { 'idempotency-key': 'assign-A-2002' };
    const first = (await (await notify('application-assigned', assigned, all, headers)).json()) as Accepted;
    const before = await api.log.lastSeq('EVENTS');
    const again = await notify('application-assigned', assigned, all, headers);
    expect(again.status).toBe(202);
    expect(((await again.json()) as Accepted).commands).toEqual(first.commands);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
    expect(new Set(first.commands.map((c) => c.id)).size).toBe(4);
  });
});

describe('notification_queue', () => {
  const outcome = async (cause: EventEnvelope, verb: string, data: object, i = 0) => {
    const channel = cause.type.split('.')[0] as string;
    await api.log.append(
      cause.subject,
      newEvent({ type: `${channel}.${verb}`, subject: cause.subject, source: 'test', data, causationId: cause.id }),
      { msgId: derivedMsgId(cause.id, `test-${verb}`, i) },
    );
  };
  const queueOf = async (key = all, query = '') =>
    (await (
      await fetch(`${api.url}/api/v1/notifications/queue${query}`, { headers: { authorization: `Bearer ${key}` } })
    ).json()) as {
      depth: { channel: string; priority: string; status: string; count: number }[];
      items: { id: string; status: string; attempts: number; lastError: string | null; nextAttemptAt: string | null }[];
    };

  it('follows each command: queued, retrying with attempts and next attempt, then sent / failed / refused', async () => {
    const before = await api.log.lastSeq('EVENTS');
    await notify('application-assigned', { ...assigned, priority: 'urgent' });
    const ev = byType(await eventsSince(before));
    const sms = ev['sms.requested'] as EventEnvelope;
    const email = ev['email.requested'] as EventEnvelope;
    const push = ev['push.requested'] as EventEnvelope;
    const next = new Date(Date.now() + 60_000).toISOString();
    await outcome(sms, 'attempt_failed', { attempt: 1, error: 'smsru 503', nextAttemptAt: next });
    await outcome(email, 'attempt_failed', { attempt: 1, error: 'smtp 451', nextAttemptAt: next }, 1);
    await outcome(email, 'attempt_failed', { attempt: 2, error: 'smtp 421', nextAttemptAt: next }, 2);
    await outcome(email, 'sent', {
      messageId: '<m@x>',
      accepted: ['driver@example.com'],
      rejected: [],
      response: '250 ok',
      testMode: false,
      subject: 'x',
      attempt: 3,
    });
    await outcome(push, 'failed', { reason: 'no active device tokens for user u-17', code: 'no_tokens', testMode: false });
    await api.caughtUp();
    const q = await queueOf(all, '?limit=1000');
    const item = (id: string) => q.items.find((i) => i.id === id);
    expect(item(sms.id)).toMatchObject({ status: 'retrying', attempts: 1, lastError: 'smsru 503', nextAttemptAt: next });
    expect(item(email.id)).toMatchObject({ status: 'sent', attempts: 3, nextAttemptAt: null });
    expect(item(push.id)).toMatchObject({ status: 'failed', attempts: 1, lastError: 'no active device tokens for user u-17' });
    expect(item(ev['telegram.requested']?.id as string)).toMatchObject({ status: 'queued', attempts: 0 });
    // Depth counts the unfinished ones only.
    const urgent = q.depth.filter((d) => d.priority === 'urgent');
    expect(urgent.map((d) => [d.channel, d.status])).toEqual(
      expect.arrayContaining([
        ['sms', 'retrying'],
        ['telegram', 'queued'],
      ]),
    );
    expect(urgent.some((d) => d.channel === 'email' || d.channel === 'push')).toBe(false);
    // A late event never reopens a finished command.
    await outcome(email, 'attempt_failed', { attempt: 4, error: 'late', nextAttemptAt: next }, 4);
    await outcome(sms, 'refused', { smsId: sms.id, reason: 'duplicate', detail: 'the same text went to this number 2 min ago' });
    await api.caughtUp();
    const later = await queueOf(all, '?limit=1000');
    expect(later.items.find((i) => i.id === email.id)).toMatchObject({ status: 'sent', attempts: 3 });
    expect(later.items.find((i) => i.id === sms.id)).toMatchObject({
      status: 'refused',
      lastError: 'duplicate: the same text went to this number 2 min ago',
    });
  });

  it('shows a key only the channels it may use, and filters by channel and status', async () => {
    const emailOnly = await api.key(['email']);
    const q = await queueOf(emailOnly, '?limit=1000');
    expect(q.items.length).toBeGreaterThan(0);
    expect(new Set(q.items.map((i) => (i as unknown as { channel: string }).channel))).toEqual(new Set(['email']));
    const sent = await queueOf(all, '?channel=email&status=sent');
    expect(sent.items.every((i) => i.status === 'sent')).toBe(true);
    expect(sent.items.length).toBeGreaterThan(0);
    const bad = await fetch(`${api.url}/api/v1/notifications/queue?status=lost`, { headers: { authorization: `Bearer ${all}` } });
    expect(bad.status).toBe(400);
  });

  it('is rebuilt from the log to the same rows', async () => {
    const snapshot = await store.sql`SELECT * FROM notification_queue ORDER BY id`;
    const { notificationQueueProjection } = await import('../../projections/notificationQueue.js');
    const { projectionRunner } = await import('../../core/runners/projectionRunner.js');
    const { silentLogger } = await import('../../core/logger.js');
    const runner = projectionRunner({
      log: api.log,
      sql: store.sql,
      projection: { ...notificationQueueProjection, name: 'notification_queue_rebuild' },
      logger: silentLogger(),
      batchSize: 7,
      batchDelayMs: 0,
    });
    await store.sql`TRUNCATE notification_queue`;
    await runner.start();
    await runner.caughtUp(10_000);
    await runner.stop();
    expect(await store.sql`SELECT * FROM notification_queue ORDER BY id`).toEqual(snapshot);
  });
});
