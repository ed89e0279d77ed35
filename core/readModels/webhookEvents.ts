import type { Sql } from '../stores/postgres.js';

/** `processed` / `ignored` / `failed`: a handler acted on the delivery, found nothing to act on, or gave up (`webhook.processed`). */
export type WebhookStatus = 'received' | 'rejected' | 'duplicate' | 'processed' | 'ignored' | 'failed';

/**
 * A row of `webhook_events` (`schemas/postgres/003_crm_read_models.sql`, 004) as the `postgres`
 * client reads it: timestamps as `Date`, `bigint` as text. Written only by
 * `projections/webhookEvents.ts`; read by the webhook ingress through the query below.
 */
export interface WebhookEventRow {
  id: string;
  provider: string;
  provider_event_id: string | null;
  event_type: string | null;
  signature_valid: boolean;
  status: WebhookStatus;
  error: string | null;
  remote_addr: string | null;
  headers: Record<string, string> | null;
  payload_sha256: string | null;
  received_at: Date;
  processed_at: Date | null;
  last_seq: string;
}

/** An accepted row for this provider event id exists (it outlives the log's dedupe window). */
export const hasAcceptedWebhookEvent = async (sql: Sql, provider: string, providerEventId: string): Promise<boolean> => {
  const rows = await sql`
    SELECT 1 FROM webhook_events
    WHERE provider = ${provider} AND provider_event_id = ${providerEventId}
      AND signature_valid AND status NOT IN ('duplicate', 'rejected')
    LIMIT 1`;
  return rows.length > 0;
};
