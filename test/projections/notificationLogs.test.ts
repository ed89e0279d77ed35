import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { emailLogProjection } from '../../projections/emailLog.js';
import { pushNotificationLogProjection } from '../../projections/pushNotificationLog.js';
import type { EmailEvent } from '../../schemas/events/email.js';
import type { PushEvent } from '../../schemas/events/push.js';
import { storedEvents } from '../support/storedEvents.js';
import { freshPglite } from '../support/stores.js';

const emailEvent = storedEvents<EmailEvent>('evt.test', 100);
const pushEvent = storedEvents<PushEvent>('evt.test', 500);

/*
 * Outcomes of several commands in one batch are written by one statement per run; these check that
 * every row still gets its own outcome, and that a second outcome of the same command in the
 * batch (a redelivered command's result) still applies after the first, as one statement per event did.
 */
describe('notification log folds, several outcomes in one batch', () => {
  let store: PostgresStore;
  beforeAll(async () => {
    store = await freshPglite();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('email_log: each command of the batch gets its own email.sent; a repeated outcome applies in order', async () => {
    const reqs = [0, 1, 2].map((i) =>
      emailEvent('email.requested', {
        to: `u${i}@example.com`,
        subject: `s${i}`,
        text: 'hi',
        priority: 'normal',
        via: 'api',
        requestedBy: 'test',
      } as never),
    );
    const sent = (i: number, attempt: number, messageId: string) =>
      emailEvent(
        'email.sent',
        {
          messageId,
          accepted: [`u${i}@example.com`],
          rejected: [],
          response: `250 ok ${messageId}`,
          testMode: false,
          subject: `s${i}`,
          attempt,
        } as never,
        reqs[i]?.id,
      );
    const failed = emailEvent(
      'email.attempt_failed',
      { attempt: 1, error: 'temporary', nextAttemptAt: '2024-01-01T00:10:00.000Z' } as never,
      reqs[2]?.id,
    );
    const batch = [...reqs, sent(0, 1, 'm0'), sent(1, 1, 'm1'), sent(0, 2, 'm0-again'), failed, sent(2, 2, 'm2')];
    await store.sql.begin((tx) => emailLogProjection.apply(tx, batch as never));

    const rows = await store.sql<
      {
        id: string;
        status: string;
        attempts: number;
        provider_message_id: string;
        smtp_response: string;
        history: { type: string }[];
      }[]
    >`SELECT id, status, attempts, provider_message_id, smtp_response, history FROM email_log WHERE id IN ${store.sql(reqs.map((r) => r.id))}`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    const [r0, r1, r2] = reqs.map((r) => byId.get(r.id));
    // The second outcome of command 0 came last: its message id stands, and both are in the history.
    expect(r0).toMatchObject({ status: 'sent', attempts: 2, provider_message_id: 'm0-again', smtp_response: '250 ok m0-again' });
    expect(r0?.history.map((h) => h.type)).toEqual(['email.requested', 'email.sent', 'email.sent']);
    expect(r1).toMatchObject({ status: 'sent', attempts: 1, provider_message_id: 'm1' });
    expect(r1?.history.map((h) => h.type)).toEqual(['email.requested', 'email.sent']);
    // The failed attempt (its own statement) applied before the run that followed it.
    expect(r2).toMatchObject({ status: 'sent', attempts: 2, provider_message_id: 'm2' });
    expect(r2?.history.map((h) => h.type)).toEqual(['email.requested', 'email.attempt_failed', 'email.sent']);
  });

  it('push_notification_log: each command of the batch gets its own push.sent; a repeated outcome applies in order', async () => {
    const reqs = [0, 1].map((i) =>
      pushEvent('push.requested', { userId: `user-${i}`, title: `t${i}`, body: 'b', priority: 'normal' } as never),
    );
    const sent = (i: number, attempt: number, messageIds: string[]) =>
      pushEvent(
        'push.sent',
        {
          results: messageIds.map((m, k) => ({ token: `tok-${i}-${k}`, messageId: m, outcome: 'sent' })),
          successCount: messageIds.length,
          failureCount: 0,
          attempt,
          testMode: false,
        } as never,
        reqs[i]?.id,
      );
    const batch = [...reqs, sent(0, 1, ['a', 'b']), sent(1, 1, ['c']), sent(0, 2, ['d'])];
    await store.sql.begin((tx) => pushNotificationLogProjection.apply(tx, batch as never));

    const rows = await store.sql<
      {
        id: string;
        user_id: string;
        status: string;
        attempts: number;
        success_count: number;
        provider_message_ids: string[];
        history: { type: string }[];
      }[]
    >`SELECT id, user_id, status, attempts, success_count, provider_message_ids, history
      FROM push_notification_log WHERE id IN ${store.sql(reqs.map((r) => r.id))}`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    const [r0, r1] = reqs.map((r) => byId.get(r.id));
    expect(r0).toMatchObject({ user_id: 'user-0', status: 'sent', attempts: 2, success_count: 1, provider_message_ids: ['d'] });
    expect(r0?.history.map((h) => h.type)).toEqual(['push.requested', 'push.sent', 'push.sent']);
    expect(r1).toMatchObject({ user_id: 'user-1', status: 'sent', attempts: 1, success_count: 1, provider_message_ids: ['c'] });
    expect(r1?.history.map((h) => h.type)).toEqual(['push.requested', 'push.sent']);
  });
});
