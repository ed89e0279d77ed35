import type { Projection, StoredEvent } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { SMS_REQUESTED, type SmsRequested } from '../schemas/events/sms.js';

const historyEntry = (e: StoredEvent) => ({ type: e.type, time: e.time, seq: e.seq });

/**
 * `sms_log`: one row per SMS command with its current state and its history. This issue folds
 * `sms.requested` (status `queued`); the notifications issue adds the provider outcomes.
 */
export const smsLogProjection: Projection = {
  name: 'sms_log',
  stream: 'EVENTS',
  filterSubject: 'evt.sms.>',
  async apply(tx: TransactionSql, events: readonly StoredEvent[]) {
    const requested = events
      .filter((e) => e.type === SMS_REQUESTED)
      .map((e) => {
        const d = e.data as SmsRequested;
        return {
          id: e.id,
          recipient: d.to,
          message: d.text,
          priority: d.priority,
          status: 'queued',
          provider: d.provider ?? null,
          source: d.via,
          created_at: e.time,
          updated_at: e.time,
          last_seq: e.seq,
          history: tx.json([historyEntry(e)]),
        };
      });
    if (requested.length === 0) return;
    // A command re-sent under the same id (idempotent retry) is already here: keep the first.
    await tx`INSERT INTO sms_log ${tx(requested)} ON CONFLICT (id) DO NOTHING`;
  },
  async reset(tx) {
    await tx`TRUNCATE sms_log`;
  },
};
