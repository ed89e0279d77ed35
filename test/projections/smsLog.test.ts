import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import { silentLogger } from '../../core/logger.js';
import { projectionRunner, rebuildProjection } from '../../core/runners/projectionRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { evolveSmsLog, type SmsLogFoldRow, smsLogProjection } from '../../projections/smsLog.js';
import { smsOptOutsProjection } from '../../projections/smsOptOuts.js';
import type { SmsEvent } from '../../schemas/events/sms.js';
import { storedEvents } from '../support/storedEvents.js';
import { freshPglite } from '../support/stores.js';

const queued = (id: string): SmsLogFoldRow => ({
  id,
  status: 'queued',
  provider: null,
  provider_message_id: null,
  provider_status: null,
  segments: null,
  cost_minor: null,
  currency: null,
  error_code: null,
  error_message: null,
  attempts: 0,
  test_mode: false,
  sent_at: null,
  delivered_at: null,
  updated_at: '2024-01-01T00:00:00.000Z',
  last_seq: 1,
  history: [],
});
const event = storedEvents<SmsEvent>('evt.sms.result', 10);

describe('sms_log fold', () => {
  it('an operator’s retry (command.retried) queues a failed SMS again; the history names the dead letter, not the text', () => {
    const id = uuidv7();
    const failed = evolveSmsLog(
      queued(id),
      event('sms.failed', { smsId: id, reason: 'gave up after 3 attempts', permanent: false }),
    );
    expect(failed.status).toBe('failed');
    const command = {
      id,
      type: 'sms.requested',
      subject: 'evt.sms.cmd.normal',
      time: failed.updated_at as string,
      source: 'api',
      data: { text: 'secret code 1234' },
    };
    const deadLetter = {
      seq: 7,
      consumer: 'sms-normal',
      stream: 'EVENTS' as const,
      originalSeq: 3,
      reason: 'gave up',
      deliveries: 3,
      deadLetteredAt: '2024-01-01T00:05:00.000Z',
    };
    const retried = {
      ...event('sms.failed', { smsId: id, reason: 'x', permanent: false }),
      type: 'command.retried',
      data: { command, deadLetter, requestedBy: 'cli' },
    };
    const queuedAgain = evolveSmsLog(failed, retried as never);
    expect(queuedAgain.status).toBe('queued');
    const last = queuedAgain.history[queuedAgain.history.length - 1] as { type: string; data: object };
    expect(last).toMatchObject({ type: 'command.retried', data: { deadLetter, requestedBy: 'cli' } });
    expect(JSON.stringify(last)).not.toContain('secret code');
    const sent = evolveSmsLog(
      queuedAgain,
      event('sms.sent', {
        smsId: id,
        provider: 'smsru',
        providerMessageId: '1-1',
        segments: 1,
        cost: null,
        testMode: false,
        attempt: 1,
      }),
    );
    expect(sent.status).toBe('sent');
    // A retry of an SMS that is not failed (already sent) leaves its state alone.
    expect(evolveSmsLog(sent, retried as never).status).toBe('sent');
  });

  it('goes queued → sent → delivered, counting attempts and keeping the cost the report brings', () => {
    const id = uuidv7();
    const steps = [
      event('sms.attempt_failed', { attempt: 1, error: 'no provider sent it', nextAttemptAt: '2024-01-01T00:01:00.000Z' }, id),
      event('sms.sent', {
        smsId: id,
        provider: 'smsru',
        providerMessageId: '000001-1',
        segments: 2,
        cost: null,
        testMode: false,
        attempt: 2,
      }),
      event('sms.status_reported', {
        smsId: id,
        provider: 'smsru',
        providerMessageId: '000001-1',
        providerStatus: '102',
        via: 'poll',
        at: '2024-01-01T00:02:00.000Z',
      }),
      event('sms.delivered', {
        smsId: id,
        provider: 'smsru',
        providerMessageId: '000001-1',
        providerStatus: '103',
        via: 'callback',
        at: '2024-01-01T00:03:00.000Z',
        cost: { amountMinor: 790, currency: 'RUB' },
      }),
    ];
    const row = steps.reduce(evolveSmsLog, queued(id));
    expect(row).toMatchObject({
      status: 'delivered',
      attempts: 2,
      provider: 'smsru',
      provider_message_id: '000001-1',
      provider_status: '103',
      segments: 2,
      cost_minor: 790,
      currency: 'RUB',
      delivered_at: '2024-01-01T00:03:00.000Z',
      error_message: 'no provider sent it',
    });
    expect(row.history.map((h) => (h as { type: string }).type)).toEqual(steps.map((s) => s.type));
  });

  it('keeps a delivery report folded before its sms.sent, and never turns a sent message into failed or refused', () => {
    const id = uuidv7();
    const early = [
      event('sms.delivered', {
        smsId: id,
        provider: 'twilio',
        providerMessageId: 'SM1',
        providerStatus: 'delivered',
        via: 'callback',
        at: '2024-01-01T00:00:30.000Z',
      }),
      event('sms.sent', {
        smsId: id,
        provider: 'twilio',
        providerMessageId: 'SM1',
        segments: 1,
        cost: { amountMinor: 1, currency: 'USD' },
        testMode: true,
        attempt: 1,
      }),
    ].reduce(evolveSmsLog, queued(id));
    expect(early).toMatchObject({ status: 'delivered', provider: 'twilio', cost_minor: 1, test_mode: true });
    const after = evolveSmsLog(early, event('sms.failed', { smsId: id, reason: 'late', permanent: false }));
    expect(after.status).toBe('delivered');
    const refused = evolveSmsLog(queued(id), event('sms.refused', { smsId: id, reason: 'duplicate', detail: 'same text' }));
    expect(refused).toMatchObject({ status: 'refused', error_code: 'duplicate', error_message: 'same text', attempts: 0 });
    const undelivered = evolveSmsLog(
      early,
      event('sms.undelivered', {
        smsId: id,
        provider: 'twilio',
        providerMessageId: 'SM1',
        providerStatus: 'undelivered',
        via: 'poll',
        at: '2024-01-01T00:01:00.000Z',
        errorCode: '30003',
      }),
    );
    expect(undelivered).toMatchObject({ status: 'undelivered', error_code: '30003', delivered_at: null });
  });
});

describe('sms_log and sms_opt_outs projections', () => {
  let store: PostgresStore;
  let log: EventLog;
  beforeAll(async () => {
    store = await freshPglite();
    log = embeddedEventLog(store.sql, { pollMs: 10 });
  }, 60_000);
  afterAll(async () => {
    await log?.close();
    await store?.close();
  });

  it('folded one event at a time equals a rebuild in one batch', async () => {
    const append = (subject: string, type: string, data: object, causationId?: string) =>
      log.append(subject, newEvent({ type, subject, source: 'test', data, ...(causationId ? { causationId } : {}) }));
    const ids = [uuidv7(), uuidv7(), uuidv7()];
    const [a, b, c] = ids as [string, string, string];
    for (const [i, id] of ids.entries()) {
      const subject = 'evt.sms.cmd.normal';
      await log.append(
        subject,
        newEvent({
          id,
          type: 'sms.requested',
          subject,
          source: 'test',
          data: { to: `+7999000000${i}`, text: `t${i}`, priority: 'normal', requestedBy: 'fg_x', via: 'v1' },
        }),
      );
    }
    await append(
      'evt.sms.cmd.normal',
      'sms.attempt_failed',
      { attempt: 1, error: 'boom', nextAttemptAt: new Date().toISOString() },
      a,
    );
    await append('evt.sms.result', 'sms.sent', {
      smsId: a,
      provider: 'smsru',
      providerMessageId: 'X-1',
      segments: 1,
      cost: null,
      testMode: false,
      attempt: 2,
    });
    await append('evt.sms.status', 'sms.delivered', {
      smsId: a,
      provider: 'smsru',
      providerMessageId: 'X-1',
      providerStatus: '103',
      via: 'poll',
      at: new Date().toISOString(),
      cost: { amountMinor: 395, currency: 'RUB' },
    });
    await append('evt.sms.result', 'sms.refused', { smsId: b, reason: 'recipient_limit', detail: 'limit 10' });
    await append('evt.sms.result', 'sms.failed', {
      smsId: c,
      reason: 'permanent: 207',
      code: '207',
      provider: 'smsru',
      permanent: true,
    });
    await append('evt.sms.optout', 'sms.opted_out', { phone: '+79990000002', source: 'api:fg_x', reason: 'asked' });
    await append('evt.sms.optout', 'sms.opted_out', { phone: '+79990000003', source: 'provider:twilio' });
    await append('evt.sms.optout', 'sms.opted_in', { phone: '+79990000003', source: 'api:fg_x' });

    const logger = silentLogger();
    const live = [smsLogProjection, smsOptOutsProjection].map((projection) =>
      projectionRunner({ log, sql: store.sql, projection, logger, batchSize: 1, batchDelayMs: 0 }),
    );
    for (const r of live) await r.start();
    for (const r of live) await r.caughtUp(15_000);
    for (const r of live) await r.stop();
    const snapshot = async () => ({
      log: await store.sql`SELECT * FROM sms_log ORDER BY id`,
      optOuts: await store.sql`SELECT * FROM sms_opt_outs ORDER BY phone`,
    });
    const before = await snapshot();
    expect(Object.fromEntries(before.log.map((r) => [r.id, [r.status, r.attempts]]))).toEqual({
      [a]: ['delivered', 2],
      [b]: ['refused', 0],
      [c]: ['failed', 1],
    });
    expect(before.optOuts.map((r) => [r.phone, r.opted_out])).toEqual([
      ['+79990000002', true],
      ['+79990000003', false],
    ]);
    for (const projection of [smsLogProjection, smsOptOutsProjection]) {
      await rebuildProjection({ log, sql: store.sql, projection, logger, batchSize: 1000, batchDelayMs: 0 });
    }
    expect(await snapshot()).toEqual(before);
  });
});
