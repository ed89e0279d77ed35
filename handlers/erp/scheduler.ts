import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../core/logger.js';
import type { Sql } from '../../core/stores/postgres.js';
import type { ErpEntity } from '../../schemas/events/erp.js';
import type { ErpSyncEngine } from './sync.js';

/** Referenced entities first, so a driver's company already has its ERP key when the driver goes. */
export const AUTO_SYNC_ORDER: readonly (readonly [ErpEntity, 'push' | 'pull'])[] = [
  ['companies', 'push'],
  ['companies', 'pull'],
  ['drivers', 'push'],
  ['drivers', 'pull'],
  ['vehicles', 'push'],
  ['vehicles', 'pull'],
  ['applications', 'push'],
  ['applications', 'pull'],
  ['payments', 'push'],
];

export interface SchedulerOptions {
  sql: Sql;
  logger: Logger;
  /** The engine, built with the hook that renews the lease after each page. */
  engine: (onPage: () => Promise<void>) => ErpSyncEngine;
  intervalMs: number;
  /** Lease length; renewed every tick and every page, well within. */
  leaseMs?: number;
  /** How often a process looks whether a run is due (and renews its lease). */
  tickMs?: number;
  /** First back-off after a failed run; doubles per failure, capped at the interval. */
  backoffMs?: number;
  holder?: string;
  order?: typeof AUTO_SYNC_ORDER;
}

/**
 * ERP_AUTO_SYNC: every process runs this; one lease row (`erp_sync_schedule`) lets exactly one of
 * them run at a time, and `next_run_at` there says when the next run is due, so several processes
 * still make one run per interval. A failed run (ERP down) is retried with back-off; its entity
 * and direction resume from the last committed page. Nothing here blocks a request or a handler.
 */
export const erpScheduler = (opts: SchedulerOptions) => {
  const leaseMs = opts.leaseMs ?? 60_000;
  const tickMs = opts.tickMs ?? Math.min(5_000, leaseMs / 4);
  const backoffMs = opts.backoffMs ?? 30_000;
  const holder = opts.holder ?? randomUUID();
  const order = opts.order ?? AUTO_SYNC_ORDER;
  const ac = new AbortController();
  const lease = `${leaseMs} milliseconds`;

  /** Takes or keeps the lease; says whether a run is due now. Undefined: another process holds it. */
  const takeLease = async (): Promise<boolean | undefined> => {
    const [row] = await opts.sql<{ due: boolean }[]>`
      INSERT INTO erp_sync_schedule (name, holder, expires_at, next_run_at) VALUES ('auto', ${holder}, now() + ${lease}::interval, now())
      ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
        WHERE erp_sync_schedule.holder = EXCLUDED.holder OR erp_sync_schedule.expires_at < now()
      RETURNING next_run_at <= now() AS due`;
    return row?.due;
  };
  const renew = async () => {
    await opts.sql`UPDATE erp_sync_schedule SET expires_at = now() + ${lease}::interval WHERE name = 'auto' AND holder = ${holder}`;
  };

  const runAll = async () => {
    const startedAt = new Date();
    const engine = opts.engine(renew);
    try {
      for (const [entity, direction] of order) {
        const runId = (await engine.unfinishedRun(entity, direction)) ?? randomUUID();
        await engine.run({ runId, entity, direction, trigger: 'schedule' });
      }
      await opts.sql`UPDATE erp_sync_schedule SET next_run_at = ${startedAt}::timestamptz + ${`${opts.intervalMs} milliseconds`}::interval,
          failures = 0, last_error = NULL, last_ok_at = now() WHERE name = 'auto' AND holder = ${holder}`;
    } catch (e) {
      const error = (e instanceof Error ? e.message : String(e)).slice(0, 500);
      const [row] = await opts.sql<{ failures: number }[]>`SELECT failures FROM erp_sync_schedule WHERE name = 'auto'`;
      const failures = (row?.failures ?? 0) + 1;
      const wait = Math.min(opts.intervalMs, backoffMs * 2 ** Math.min(failures - 1, 20));
      await opts.sql`UPDATE erp_sync_schedule SET next_run_at = now() + ${`${wait} milliseconds`}::interval,
          failures = ${failures}, last_error = ${error} WHERE name = 'auto' AND holder = ${holder}`;
      opts.logger.warn({ err: error, failures, retryInMs: wait }, 'erp auto-sync failed; backing off');
    }
  };

  const loop = async () => {
    while (!ac.signal.aborted) {
      try {
        if (await takeLease()) await runAll();
      } catch (err) {
        opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'erp auto-sync tick failed');
      }
      await sleep(tickMs, undefined, { signal: ac.signal }).catch(() => undefined);
    }
  };
  const running = loop();
  return {
    holder,
    async stop() {
      ac.abort();
      await running;
      await opts.sql`UPDATE erp_sync_schedule SET expires_at = now() WHERE name = 'auto' AND holder = ${holder}`.catch(
        () => undefined,
      );
    },
  };
};
