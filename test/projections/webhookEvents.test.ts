import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { applyBatch, readCheckpoint, rebuildProjection } from '../../core/runners/projectionRunner.js';
import { projections } from '../../projections/index.js';
import { webhookEventsProjection } from '../../projections/webhookEvents.js';
import { WEBHOOK_RECEIVED, type WebhookReceivedData, webhookSubject } from '../../schemas/events/webhook.js';
import { freshPglite } from '../support/stores.js';

let db: Awaited<ReturnType<typeof freshPglite>>;
let log: EventLog;
beforeAll(async () => {
  db = await freshPglite();
  log = embeddedEventLog(db.sql, { pollMs: 20 });
});
afterAll(async () => {
  await log.close();
  await db.close();
});

/** A webhook.received with defaults: an accepted first Stripe delivery. */
const aWebhookReceived = (o: Partial<WebhookReceivedData> = {}) => {
  const body = Buffer.from(`{"id":"${o.providerEventId ?? 'evt'}"}`);
  const data: WebhookReceivedData = {
    provider: 'stripe',
    eventType: 'charge.refunded',
    signatureValid: true,
    duplicate: false,
    remoteAddr: '203.0.113.5',
    headers: { 'stripe-signature': 't=1,v1=ab' },
    contentType: 'application/json',
    bodyBase64: body.toString('base64'),
    payloadSha256: createHash('sha256').update(body).digest('hex'),
    receivedAt: '2026-11-20T10:00:00.000Z',
    ...o,
  };
  return newEvent({ type: WEBHOOK_RECEIVED, subject: webhookSubject(data.provider), source: 'test', data });
};
/** One message per event, in order. */
const append = async (...events: ReturnType<typeof aWebhookReceived>[]) => {
  for (const e of events) await log.append(e.subject, e, { msgId: e.id });
  return events;
};
/** Folds everything new, in batches of `size` messages. */
const fold = async (size = 1_000) => {
  for (;;) {
    const from = await readCheckpoint(db.sql, webhookEventsProjection);
    const messages = await log.read('EVENTS', size, { fromSeq: from + 1, filterSubject: 'evt.webhook.>' });
    if (messages.length === 0) return;
    await applyBatch(db.sql, webhookEventsProjection, from, messages);
  }
};
interface Row {
  id: string;
  provider: string;
  provider_event_id: string | null;
  event_type: string | null;
  signature_valid: boolean;
  status: string;
  error: string | null;
  remote_addr: string;
  headers: Record<string, string>;
  payload_sha256: string;
  received_at: Date;
  processed_at: Date | null;
  last_seq: string;
}
const rowsFor = (providerEventId: string) =>
  db.sql<Row[]>`SELECT * FROM webhook_events WHERE provider_event_id = ${providerEventId} ORDER BY last_seq`;

describe('webhook_events projection', () => {
  it('is registered with the projections role', () => {
    expect(projections({ clickhouse: undefined }, loadConfig({ DATA_DIR: '/nonexistent' }))).toContain(webhookEventsProjection);
  });

  it('stores an accepted delivery as received, with its audit fields', async () => {
    const [e] = await append(aWebhookReceived({ providerEventId: 'evt_1' }));
    await fold();
    const [row, ...more] = await rowsFor('evt_1');
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      id: e?.id,
      provider: 'stripe',
      event_type: 'charge.refunded',
      signature_valid: true,
      status: 'received',
      error: null,
      remote_addr: '203.0.113.5',
      headers: { 'stripe-signature': 't=1,v1=ab' },
      payload_sha256: e?.data.payloadSha256,
      processed_at: null,
    });
    expect(row?.received_at.toISOString()).toBe('2026-11-20T10:00:00.000Z');
    expect(Number(row?.last_seq)).toBeGreaterThan(0);
  });

  it('stores a refused delivery as rejected, even under an id already accepted', async () => {
    await append(
      aWebhookReceived({ providerEventId: 'evt_1', signatureValid: false, error: 'no signature matches the payload' }),
      aWebhookReceived({ providerEventId: undefined, signatureValid: true, error: 'the payload is not a Stripe event' }),
    );
    await fold();
    const rows = await rowsFor('evt_1');
    expect(rows.map((r) => [r.status, r.signature_valid, r.error])).toEqual([
      ['received', true, null],
      ['rejected', false, 'no signature matches the payload'],
    ]);
    const [malformed] = await db.sql<Row[]>`SELECT * FROM webhook_events WHERE error = 'the payload is not a Stripe event'`;
    expect(malformed?.status).toBe('rejected');
  });

  it('stores repeats as duplicates: flagged at ingress, or found by the fold in one batch and across batches', async () => {
    await append(
      aWebhookReceived({ providerEventId: 'evt_1', duplicate: true }),
      // Past the log's dedupe window a repeat can arrive unflagged; the fold still keeps the first.
      aWebhookReceived({ providerEventId: 'evt_1' }),
      aWebhookReceived({ providerEventId: 'evt_2' }),
      aWebhookReceived({ providerEventId: 'evt_2' }),
      aWebhookReceived({ provider: 'telegram', providerEventId: 'evt_2' }),
    );
    await fold();
    expect((await rowsFor('evt_1')).map((r) => r.status)).toEqual(['received', 'rejected', 'duplicate', 'duplicate']);
    expect((await rowsFor('evt_2')).map((r) => [r.provider, r.status])).toEqual([
      ['stripe', 'received'],
      ['stripe', 'duplicate'],
      ['telegram', 'received'],
    ]);
  });

  it('keeps a second accepted row for one provider event id out through the unique index', async () => {
    const [first] = await rowsFor('evt_2');
    await expect(
      db.sql`INSERT INTO webhook_events (id, provider, provider_event_id, signature_valid, status, received_at, last_seq)
             VALUES (gen_random_uuid(), 'stripe', 'evt_2', true, 'received', now(), ${first?.last_seq ?? 0})`,
    ).rejects.toMatchObject({ code: '23505' });
  });

  it('folds a large batch in one go and equals a rebuild from the log', async () => {
    const many = Array.from({ length: 1_500 }, (_, i) => aWebhookReceived({ providerEventId: `bulk_${i % 1_000}` }));
    for (let i = 0; i < many.length; i += 250) await append(...many.slice(i, i + 250));
    await fold(5_000);
    const checksum = () =>
      db.sql<{ md5: string; n: string }[]>`
        SELECT md5(string_agg(id || status || coalesce(provider_event_id, '') || last_seq, ',' ORDER BY id)) AS md5, count(*) AS n
        FROM webhook_events`;
    const [live] = await checksum();
    const [counts] = await db.sql<{ received: string; duplicate: string }[]>`
      SELECT count(*) FILTER (WHERE status = 'received') AS received, count(*) FILTER (WHERE status = 'duplicate') AS duplicate
      FROM webhook_events WHERE provider_event_id LIKE 'bulk_%'`;
    expect([Number(counts?.received), Number(counts?.duplicate)]).toEqual([1_000, 500]);
    await rebuildProjection({
      log,
      sql: db.sql,
      projection: webhookEventsProjection,
      batchSize: 300,
      batchDelayMs: 5,
      logger: silentLogger(),
    });
    expect((await checksum())[0]).toEqual(live);
  });
});
