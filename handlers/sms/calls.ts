import type { Sql } from '../../core/stores/postgres.js';
import type { SendResult, SmsProviderError, SmsProviderName } from './port.js';

export type CallState = 'calling' | 'accepted' | 'rejected' | 'unknown';

export interface CallRow {
  command_id: string;
  call_no: number;
  provider: SmsProviderName;
  state: CallState;
  provider_message_id: string | null;
  segments: number | null;
  cost_minor: string | null;
  currency: string | null;
  test_mode: boolean;
  error_code: string | null;
  error: string | null;
}

/**
 * The SMS handler's record of its provider calls (`sms_provider_calls`), committed before and
 * after each call. Neither SMS.ru nor Twilio takes an idempotency key, so this record is what
 * keeps a redelivered command from sending again (read back with the guards' verdict,
 * `SmsGuards.checkIn`): an `accepted` call is reused, and a call left `calling` or `unknown`
 * (the process died, the connection broke) is known to be a possible copy.
 */
export const smsCalls = (sql: Sql, opts: { pollAfterMs: number; pollMax: number }) => ({
  /** Written before the provider is called; returns the call's number. */
  async begin(commandId: string, provider: SmsProviderName, testMode: boolean): Promise<number> {
    const [row] = await sql<{ call_no: number }[]>`
      INSERT INTO sms_provider_calls (command_id, call_no, provider, state, test_mode)
      SELECT ${commandId}, coalesce(max(call_no), 0) + 1, ${provider}, 'calling', ${testMode}
      FROM sms_provider_calls WHERE command_id = ${commandId}
      RETURNING call_no`;
    return (row as { call_no: number }).call_no;
  },

  /** The provider took it: the call's outcome and, in the same statement, the message's first status poll. */
  async accepted(commandId: string, callNo: number, provider: SmsProviderName, testMode: boolean, r: SendResult) {
    // One statement each way (atomic on its own): no BEGIN/COMMIT round trips around them.
    if (opts.pollMax <= 0) {
      await sql`
        UPDATE sms_provider_calls SET state = 'accepted', provider_message_id = ${r.providerMessageId},
          segments = ${r.segments}, cost_minor = ${r.cost?.amountMinor ?? null}, currency = ${r.cost?.currency ?? null},
          finished_at = now()
        WHERE command_id = ${commandId} AND call_no = ${callNo}`;
      return;
    }
    // A data-modifying WITH runs whether or not the INSERT reads it.
    await sql`
      WITH accepted AS (
        UPDATE sms_provider_calls SET state = 'accepted', provider_message_id = ${r.providerMessageId},
          segments = ${r.segments}, cost_minor = ${r.cost?.amountMinor ?? null}, currency = ${r.cost?.currency ?? null},
          finished_at = now()
        WHERE command_id = ${commandId} AND call_no = ${callNo}
      )
      INSERT INTO sms_status_polls (provider, provider_message_id, command_id, test_mode, next_poll_at)
      VALUES (${provider}, ${r.providerMessageId}, ${commandId}, ${testMode},
              now() + make_interval(secs => ${opts.pollAfterMs / 1000}))
      ON CONFLICT DO NOTHING`;
  },

  /** The call failed: `rejected` when the provider certainly sent nothing, else `unknown`. */
  async failed(commandId: string, callNo: number, err: SmsProviderError) {
    const state: CallState = err.opts.outcomeUnknown ? 'unknown' : 'rejected';
    await sql`
      UPDATE sms_provider_calls SET state = ${state}, error_code = ${err.code}, error = ${err.message.slice(0, 1_000)},
        finished_at = now()
      WHERE command_id = ${commandId} AND call_no = ${callNo}`;
  },

  /** The command a provider's message id belongs to (for callbacks and polls). */
  async byProviderMessage(provider: string, providerMessageId: string): Promise<string | undefined> {
    const [row] = await sql<{ command_id: string }[]>`
      SELECT command_id FROM sms_provider_calls WHERE provider = ${provider} AND provider_message_id = ${providerMessageId}`;
    return row?.command_id;
  },

  /** Drops call records older than `days` (a command is long settled by then). */
  async prune(days: number) {
    const rows = await sql`DELETE FROM sms_provider_calls WHERE started_at < now() - make_interval(days => ${days})`;
    return rows.count;
  },
});

export type SmsCalls = ReturnType<typeof smsCalls>;
