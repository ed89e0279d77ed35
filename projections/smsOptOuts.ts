import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { SMS_OPT_OUT_SUBJECT, type SmsEvent, smsEvents } from '../schemas/events/sms.js';

type OptEvent = Extract<Stored<SmsEvent>, { type: 'sms.opted_out' | 'sms.opted_in' }>;

/**
 * `sms_opt_outs`: whether each number that ever opted out still does. The SMS handler refuses to
 * send to a number marked here; the events keep who asked and why.
 */
export const smsOptOutsProjection: FoldProjection<SmsEvent> = {
  kind: 'fold',
  name: 'sms_opt_outs',
  stream: 'EVENTS',
  filterSubject: SMS_OPT_OUT_SUBJECT,
  reads: readsDomains(smsEvents),
  async apply(tx, events) {
    // The last event per number wins; folding in order keeps a rebuild equal to the live table.
    const latest = new Map<string, OptEvent>();
    for (const e of events) {
      switch (e.type) {
        case 'sms.opted_out':
        case 'sms.opted_in':
          latest.set(e.data.phone, e);
          break;
        // Commands and their outcomes are `sms_log`'s (not on this subject anyway).
        case 'sms.requested':
        case 'sms.sent':
        case 'sms.failed':
        case 'sms.refused':
        case 'sms.delivered':
        case 'sms.undelivered':
        case 'sms.status_reported':
        case 'sms.attempt_failed':
          break;
        default:
          unhandledEvent(e);
      }
    }
    for (const e of latest.values()) {
      const row = {
        phone: e.data.phone,
        opted_out: e.type === 'sms.opted_out',
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
