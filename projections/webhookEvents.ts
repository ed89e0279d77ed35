import type { WebhookStatus } from '../core/readModels/webhookEvents.js';
import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type WebhookEvent, type WebhookReceivedData, webhookEvents } from '../schemas/events/webhook.js';

type Received = Extract<Stored<WebhookEvent>, { type: 'webhook.received' }>;

/** 12 parameters a row: stays far below the protocol's 65 535 parameters per statement. */
const CHUNK = 1_000;

const keyOf = (provider: string, providerEventId: string) => `${provider}\0${providerEventId}`;

/** Accepted rows that already hold one of these provider event ids. */
const acceptedKeys = async (tx: TransactionSql, data: readonly WebhookReceivedData[]) => {
  const wanted = data.filter((d) => d.providerEventId !== undefined);
  if (wanted.length === 0) return new Set<string>();
  const rows = await tx<{ provider: string; provider_event_id: string }[]>`
    SELECT w.provider, w.provider_event_id
    FROM webhook_events w
    JOIN unnest(${tx.array(wanted.map((d) => d.provider))}::text[], ${tx.array(wanted.map((d) => d.providerEventId as string))}::text[])
      AS k(provider, provider_event_id)
      ON w.provider = k.provider AND w.provider_event_id = k.provider_event_id
    WHERE w.signature_valid AND w.status NOT IN ('duplicate', 'rejected')`;
  return new Set(rows.map((r) => keyOf(r.provider, r.provider_event_id)));
};

/**
 * `webhook_events`: one row per `webhook.received`, the audit of every delivery. The first
 * accepted delivery of a provider event id is `received`; any later one is `duplicate`, whether
 * the gateway flagged it at ingress or the fold finds the id already taken (the log's dedupe
 * window is bounded), so the unique index never stops the fold and a rebuild equals the live table.
 */
export const webhookEventsProjection: FoldProjection<WebhookEvent> = {
  kind: 'fold',
  name: 'webhook_events',
  stream: 'EVENTS',
  filterSubject: 'evt.webhook.>',
  reads: readsDomains(webhookEvents),
  async apply(tx, events) {
    await insertReceived(
      tx,
      events.filter((e): e is Received => e.type === 'webhook.received'),
    );
    // After the inserts: a handler's record always follows the delivery it processed in the log.
    for (const e of events) {
      switch (e.type) {
        case 'webhook.processed': {
          const d = e.data;
          const status: WebhookStatus = d.outcome === 'applied' ? 'processed' : d.outcome;
          await tx`
            UPDATE webhook_events SET processed_at = ${e.time}, last_seq = ${e.seq},
              status = CASE WHEN status = 'received' THEN ${status} ELSE status END,
              error = CASE WHEN status = 'received' AND ${status} <> 'processed' THEN coalesce(${d.detail ?? null}, error) ELSE error END
            WHERE id = ${d.webhookEventId}`;
          break;
        }
        // Inserted above.
        case 'webhook.received':
          break;
        default:
          unhandledEvent(e);
      }
    }
  },
  async reset(tx) {
    await tx`TRUNCATE webhook_events`;
  },
};

const insertReceived = async (tx: TransactionSql, received: readonly Received[]) => {
  if (received.length === 0) return;
  const seen = await acceptedKeys(
    tx,
    received.map((e) => e.data).filter((d) => d.signatureValid && !d.error && !d.duplicate),
  );
  const rows = received.map(({ id, seq, data: d }) => {
    let status: WebhookStatus = d.signatureValid && !d.error ? (d.duplicate ? 'duplicate' : 'received') : 'rejected';
    if (status === 'received' && d.providerEventId !== undefined) {
      const key = keyOf(d.provider, d.providerEventId);
      if (seen.has(key)) status = 'duplicate';
      seen.add(key);
    }
    return {
      id,
      provider: d.provider,
      provider_event_id: d.providerEventId ?? null,
      event_type: d.eventType ?? null,
      signature_valid: d.signatureValid,
      status,
      error: d.error ?? null,
      remote_addr: d.remoteAddr,
      headers: tx.json(d.headers),
      payload_sha256: d.payloadSha256,
      received_at: new Date(d.receivedAt),
      last_seq: seq,
    };
  });
  for (let i = 0; i < rows.length; i += CHUNK) {
    // ON CONFLICT (id): the runner's checkpoint already prevents a second apply; this only guards a hand-run replay.
    await tx`INSERT INTO webhook_events ${tx(rows.slice(i, i + CHUNK))} ON CONFLICT (id) DO NOTHING`;
  }
};
