import type { Projection, StoredEvent } from '../core/runners/projectionRunner.js';
import { SMS_OPT_OUT_SUBJECT, SMS_OPTED_IN, SMS_OPTED_OUT, type SmsOptOut } from '../schemas/events/sms.js';

/**
 * `sms_opt_outs`: whether each number that ever opted out still does. The SMS handler refuses to
 * send to a number marked here; the events keep who asked and why.
 */
export const smsOptOutsProjection: Projection = {
  name: 'sms_opt_outs',
  stream: 'EVENTS',
  filterSubject: SMS_OPT_OUT_SUBJECT,
  async apply(tx, events: readonly StoredEvent[]) {
    // The last event per number wins; folding in order keeps a rebuild equal to the live table.
    const latest = new Map<string, StoredEvent & { data: SmsOptOut }>();
    for (const e of events) {
      if (e.type !== SMS_OPTED_OUT && e.type !== SMS_OPTED_IN) continue;
      latest.set((e.data as SmsOptOut).phone, e as StoredEvent & { data: SmsOptOut });
    }
    for (const e of latest.values()) {
      const row = {
        phone: e.data.phone,
        opted_out: e.type === SMS_OPTED_OUT,
        reason: e.data.reason ?? null,
        source: e.data.source,
        updated_at: e.time,
        last_seq: e.seq,
      };
      await tx`
        INSERT INTO sms_opt_outs ${tx(row)}
        ON CONFLICT (phone) DO UPDATE SET opted_out = EXCLUDED.opted_out, reason = EXCLUDED.reason,
          source = EXCLUDED.source, updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq`;
    }
  },
  async reset(tx) {
    await tx`TRUNCATE sms_opt_outs`;
  },
};
