import type { SmsCalls } from './calls.js';
import { appendReport, type DeliveryDeps } from './delivery.js';
import type { SmsGuards } from './guards.js';
import type { SmsProviderName } from './port.js';

export interface PollerOptions {
  /** Seconds after sending of the first poll (SMS_STATUS_POLL_AFTER_SECONDS); each later one waits twice as long. */
  pollAfterMs: number;
  /** Polls per message before it is left as it is (SMS_STATUS_POLL_MAX). */
  pollMax: number;
  /** How often the work list is read. */
  tickMs: number;
  /** Messages claimed per tick and process. */
  batch: number;
  guards: SmsGuards;
  calls: SmsCalls;
}

interface Due {
  provider: SmsProviderName;
  provider_message_id: string;
  command_id: string;
  polls: number;
}

/** Housekeeping (ledger and call records) at most this often per process. */
const PRUNE_EVERY_MS = 10 * 60_000;
/** Call records outlive any callback a provider still sends (Twilio retries for hours, SMS.ru TTL ≤ 24 h). */
const KEEP_CALLS_DAYS = 30;

/**
 * Asks providers for the state of messages no callback has finished (`sms_status_polls`). Safe in
 * every handlers process: a due row is claimed by moving its next poll into the future in the
 * same statement that selects it (`FOR UPDATE SKIP LOCKED`), so one process polls it, and the
 * report's message id is deterministic, so even a double poll appends once.
 */
export const statusPoller = (deps: DeliveryDeps, opts: PollerOptions) => () => {
  const logger = deps.logger.child({ part: 'sms-status-poller' });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let lastPrune = 0;
  let running: Promise<void> = Promise.resolve();

  const claim = () =>
    deps.sql<Due[]>`
      WITH due AS (
        SELECT provider, provider_message_id FROM sms_status_polls
        WHERE next_poll_at <= now() ORDER BY next_poll_at LIMIT ${opts.batch}
        FOR UPDATE SKIP LOCKED
      )
      UPDATE sms_status_polls p
      SET polls = p.polls + 1,
          next_poll_at = now() + make_interval(secs => ${opts.pollAfterMs / 1000} * power(2, p.polls + 1))
      FROM due WHERE p.provider = due.provider AND p.provider_message_id = due.provider_message_id
      RETURNING p.provider, p.provider_message_id, p.command_id, p.polls`;

  const pollOne = async (row: Due) => {
    const provider = deps.providers.get(row.provider);
    if (!provider) {
      logger.warn({ provider: row.provider }, 'provider no longer configured; status not polled');
    } else {
      try {
        const s = await provider.status(row.provider_message_id);
        if (s.state !== 'unknown') {
          await appendReport(deps, row.command_id, {
            provider: row.provider,
            providerMessageId: row.provider_message_id,
            state: s.state,
            providerStatus: s.providerStatus,
            at: new Date().toISOString(),
            via: 'poll',
            cost: s.cost,
            ...(s.errorCode ? { errorCode: s.errorCode } : {}),
            ...(s.errorMessage ? { errorMessage: s.errorMessage } : {}),
          });
          if (s.state !== 'pending') return;
        }
      } catch (err) {
        logger.warn(
          { err: (err as Error).message, provider: row.provider, providerMessageId: row.provider_message_id },
          'status poll failed',
        );
      }
    }
    if (row.polls >= opts.pollMax) {
      await deps.sql`DELETE FROM sms_status_polls WHERE provider = ${row.provider} AND provider_message_id = ${row.provider_message_id}`;
      logger.info(
        { provider: row.provider, providerMessageId: row.provider_message_id, polls: row.polls },
        'no final status; polling stopped',
      );
    }
  };

  const tick = async () => {
    try {
      for (let more = true; more && !stopped; ) {
        const due = await claim();
        await Promise.all(due.map(pollOne));
        more = due.length === opts.batch;
      }
      if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
        lastPrune = Date.now();
        const ledger = await opts.guards.prune();
        const calls = await opts.calls.prune(KEEP_CALLS_DAYS);
        if (ledger || calls) logger.info({ ledger, calls }, 'pruned SMS guard and call records');
      }
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'status poll tick failed');
    }
  };

  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(schedule);
    }, opts.tickMs);
    timer.unref();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
};
