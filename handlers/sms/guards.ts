import { createHash } from 'node:crypto';
import type { Sql } from '../../core/stores/postgres.js';
import type { SmsRefusalReason } from '../../schemas/events/sms.js';

export interface GuardLimits {
  /** SMS per recipient per rolling hour; 0 = no limit. */
  perRecipientPerHour: number;
  /** SMS per source (API key prefix) per rolling hour; 0 = no limit. */
  perSourcePerHour: number;
  /** Same text to the same number within this many seconds is a duplicate; 0 = off. */
  duplicateWindowSeconds: number;
}

export type GuardVerdict = { ok: true } | { ok: false; reason: SmsRefusalReason; detail: string };

/** Advisory lock classes: one per recipient, one per source (taken in this order, so never a deadlock). */
const LOCK_RECIPIENT = 8_101;
const LOCK_SOURCE = 8_102;

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/**
 * The cost guards, counted in Postgres so that they hold across handler processes: a command is
 * checked and entered into `sms_send_ledger` in one transaction under advisory locks on its
 * recipient and its source, so two processes cannot both take the last slot. A command already in
 * the ledger (a retry, a redelivery) passes without being counted again; the opt-out is checked
 * on every attempt.
 */
export const smsGuards = (sql: Sql, limits: GuardLimits) => ({
  async admit(cmd: { id: string; to: string; source: string; text: string }): Promise<GuardVerdict> {
    return sql.begin(async (tx) => {
      const hash = sha256(cmd.text);
      // Sent together (pipelined: one round trip while the transaction holds its connection) and run
      // in this order, so the counts are read under the locks. An opted-out number takes its lock
      // for nothing, released at once by the commit.
      const [[optOut], , , [seen]] = await Promise.all([
        tx<{ reason: string | null; source: string }[]>`
          SELECT reason, source FROM sms_opt_outs WHERE phone = ${cmd.to} AND opted_out`,
        tx`SELECT pg_advisory_xact_lock(${LOCK_RECIPIENT}, hashtext(${cmd.to}))`,
        limits.perSourcePerHour > 0 ? tx`SELECT pg_advisory_xact_lock(${LOCK_SOURCE}, hashtext(${cmd.source}))` : undefined,
        tx<{ mine: boolean; dup: boolean; to_recipient: number; from_source: number }[]>`
          SELECT
            EXISTS (SELECT 1 FROM sms_send_ledger WHERE id = ${cmd.id}) AS mine,
            EXISTS (SELECT 1 FROM sms_send_ledger
                    WHERE recipient = ${cmd.to} AND text_sha256 = ${hash}
                      AND reserved_at > now() - make_interval(secs => ${limits.duplicateWindowSeconds})) AS dup,
            (SELECT count(*)::int FROM sms_send_ledger
              WHERE recipient = ${cmd.to} AND reserved_at > now() - interval '1 hour') AS to_recipient,
            (SELECT count(*)::int FROM sms_send_ledger
              WHERE ${limits.perSourcePerHour > 0} AND source = ${cmd.source} AND reserved_at > now() - interval '1 hour') AS from_source`,
      ]);
      if (optOut) {
        return {
          ok: false,
          reason: 'opted_out',
          detail: `the recipient opted out (${optOut.source}${optOut.reason ? `: ${optOut.reason}` : ''})`,
        } as const;
      }
      const s = seen as NonNullable<typeof seen>;
      if (s.mine) return { ok: true } as const;
      if (limits.duplicateWindowSeconds > 0 && s.dup) {
        return {
          ok: false,
          reason: 'duplicate',
          detail: `the same text went to this number less than ${limits.duplicateWindowSeconds} s ago`,
        } as const;
      }
      if (limits.perRecipientPerHour > 0 && s.to_recipient >= limits.perRecipientPerHour) {
        return {
          ok: false,
          reason: 'recipient_limit',
          detail: `this number already got ${s.to_recipient} SMS in the last hour (limit ${limits.perRecipientPerHour})`,
        } as const;
      }
      if (limits.perSourcePerHour > 0 && s.from_source >= limits.perSourcePerHour) {
        return {
          ok: false,
          reason: 'source_limit',
          detail: `API key ${cmd.source} already sent ${s.from_source} SMS in the last hour (limit ${limits.perSourcePerHour})`,
        } as const;
      }
      await tx`INSERT INTO sms_send_ledger (id, recipient, source, text_sha256)
               VALUES (${cmd.id}, ${cmd.to}, ${cmd.source}, ${hash}) ON CONFLICT (id) DO NOTHING`;
      return { ok: true } as const;
    });
  },

  /** Frees the slot of a command that certainly sent nothing (every provider refused it). */
  async release(id: string) {
    await sql`DELETE FROM sms_send_ledger WHERE id = ${id}`;
  },

  /** Drops ledger rows no window looks at any more. */
  async prune() {
    const keepSeconds = Math.max(3_600, limits.duplicateWindowSeconds);
    const rows = await sql`DELETE FROM sms_send_ledger WHERE reserved_at < now() - make_interval(secs => ${keepSeconds})`;
    return rows.count;
  },
});

export type SmsGuards = ReturnType<typeof smsGuards>;
