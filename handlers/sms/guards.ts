import { createHash } from 'node:crypto';
import type { Sql } from '../../core/stores/postgres.js';
import type { SmsRefusalReason } from '../../schemas/events/sms.js';
import type { CallRow } from './calls.js';

export interface GuardLimits {
  /** SMS per recipient per rolling hour; 0 = no limit. */
  perRecipientPerHour: number;
  /** SMS per source (API key prefix) per rolling hour; 0 = no limit. */
  perSourcePerHour: number;
  /** Same text to the same number within this many seconds is a duplicate; 0 = off. */
  duplicateWindowSeconds: number;
}

export type GuardVerdict = { ok: true } | { ok: false; reason: SmsRefusalReason; detail: string };

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface AdmitRow {
  verdict: 'ok' | 'opted_out' | 'duplicate' | 'recipient_limit' | 'source_limit';
  opt_out_source: string | null;
  opt_out_reason: string | null;
  to_recipient: number;
  from_source: number;
}

const verdictOf = (r: AdmitRow, cmd: { source: string }, limits: GuardLimits): GuardVerdict => {
  switch (r.verdict) {
    case 'ok':
      return { ok: true };
    case 'opted_out': {
      const { opt_out_source: source, opt_out_reason: reason } = r;
      return { ok: false, reason: 'opted_out', detail: `the recipient opted out (${source}${reason ? `: ${reason}` : ''})` };
    }
    case 'duplicate':
      return {
        ok: false,
        reason: 'duplicate',
        detail: `the same text went to this number less than ${limits.duplicateWindowSeconds} s ago`,
      };
    case 'recipient_limit':
      return {
        ok: false,
        reason: 'recipient_limit',
        detail: `this number already got ${r.to_recipient} SMS in the last hour (limit ${limits.perRecipientPerHour})`,
      };
    case 'source_limit':
      return {
        ok: false,
        reason: 'source_limit',
        detail: `API key ${cmd.source} already sent ${r.from_source} SMS in the last hour (limit ${limits.perSourcePerHour})`,
      };
  }
};

/** A command's earlier provider calls, and the guards' verdict unless one of those calls was accepted. */
export interface CheckIn {
  prior: CallRow[];
  /** Not asked when an earlier call was accepted: the SMS went out, nothing is sent or counted again. */
  verdict: GuardVerdict | undefined;
}

/**
 * The cost guards, counted in Postgres so that they hold across handler processes: a command is
 * checked and entered into `sms_send_ledger` by `sms_admit()` (migration 011) in one statement,
 * under advisory locks on its recipient and its source, so two processes cannot both take the
 * last slot. A command already in the ledger (a retry, a redelivery) passes without being counted
 * again; the opt-out is checked on every attempt.
 */
export const smsGuards = (sql: Sql, limits: GuardLimits) => ({
  async admit(cmd: { id: string; to: string; source: string; text: string }): Promise<GuardVerdict> {
    const [r] = await sql<AdmitRow[]>`
      SELECT * FROM sms_admit(${cmd.id}, ${cmd.to}, ${cmd.source}, ${sha256(cmd.text)},
        ${limits.perRecipientPerHour}, ${limits.perSourcePerHour}, ${limits.duplicateWindowSeconds})`;
    return verdictOf(r as AdmitRow, cmd, limits);
  },

  /**
   * What the handler asks first about a command, in one round trip: its earlier provider calls
   * (`sms_provider_calls`, in call order) and, unless one of them was
   * accepted, `admit`'s verdict. The CASE runs `sms_admit()` only when its branch is taken, so a
   * command recovered from an accepted call is neither counted nor refused, as before.
   */
  async checkIn(cmd: { id: string; to: string; source: string; text: string }): Promise<CheckIn> {
    const [r] = await sql<{ prior: CallRow[]; admit: AdmitRow | null }[]>`
      SELECT
        (SELECT coalesce(json_agg(c ORDER BY c.call_no), '[]'::json) FROM sms_provider_calls c
          WHERE c.command_id = ${cmd.id}) AS prior,
        CASE WHEN EXISTS (SELECT 1 FROM sms_provider_calls WHERE command_id = ${cmd.id} AND state = 'accepted') THEN NULL
          ELSE (SELECT row_to_json(a) FROM sms_admit(${cmd.id}, ${cmd.to}, ${cmd.source}, ${sha256(cmd.text)},
            ${limits.perRecipientPerHour}, ${limits.perSourcePerHour}, ${limits.duplicateWindowSeconds}) a)
        END AS admit`;
    const row = r as { prior: CallRow[]; admit: AdmitRow | null };
    // As postgres.js reads a bigint column (text), not as JSON has it (a number).
    const prior = row.prior.map((c) => ({ ...c, cost_minor: c.cost_minor === null ? null : String(c.cost_minor) }));
    return { prior, verdict: row.admit === null ? undefined : verdictOf(row.admit, cmd, limits) };
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
