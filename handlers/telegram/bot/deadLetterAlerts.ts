import { setTimeout as sleep } from 'node:timers/promises';
import { toDeadLetter } from '../../../core/eventlog/deadLetter.js';
import type { EventLog } from '../../../core/eventlog/port.js';
import type { Logger } from '../../../core/logger.js';
import type { Sql } from '../../../core/stores/postgres.js';
import { acceptAlert } from './alertOutbox.js';

/** Consumers whose dead letters are notifications that did not go out. */
const NOTIFICATION_CONSUMER = /^(sms|email|push|telegram)-/;

/**
 * "Notification dead-lettered": follows the DLQ stream (already in the log: the dead letter is
 * the fact) from a cursor in `telegram_alert_cursors`; each dead letter of a notification
 * consumer is an alert `dlq:<seq>`, accepted once per chat whichever process reads it first.
 */
export const deadLetterAlerts = (opts: { sql: Sql; log: EventLog; logger: Logger; everyMs?: number }) => {
  const { sql, log, logger } = opts;
  const ac = new AbortController();

  const look = async () => {
    const [c] = await sql<{ seq: string }[]>`SELECT seq FROM telegram_alert_cursors WHERE name = 'dlq'`;
    if (!c) {
      // First start: from the end (dead letters from before the bot are in `fleetgate dlq list`).
      const last = await log.lastSeq('DLQ');
      await sql`INSERT INTO telegram_alert_cursors (name, seq) VALUES ('dlq', ${last}) ON CONFLICT (name) DO NOTHING`;
      return;
    }
    const from = Number(c.seq);
    const page = await log.read('DLQ', 200, { fromSeq: from + 1 });
    for (const m of page) {
      const d = toDeadLetter(m);
      if (!d || !NOTIFICATION_CONSUMER.test(d.consumer)) continue;
      const channel = d.consumer.slice(0, d.consumer.indexOf('-'));
      const reason = d.reason.slice(0, 300);
      await acceptAlert(sql, {
        id: `dlq:${d.seq}`,
        kind: 'notification_dead_lettered',
        text: {
          en: `🪦 A ${channel} notification was dead-lettered (#${d.seq}): ${reason}. See fleetgate dlq show ${d.seq}`,
          ru: `🪦 Уведомление (${channel}) в очереди ошибок (#${d.seq}): ${reason}. Подробнее: fleetgate dlq show ${d.seq}`,
        },
        companyIds: [],
        driverIds: [],
      });
    }
    const last = page.at(-1)?.seq;
    if (last !== undefined) await sql`UPDATE telegram_alert_cursors SET seq = ${last} WHERE name = 'dlq' AND seq < ${last}`;
  };

  const running = (async () => {
    while (!ac.signal.aborted) {
      try {
        await look();
      } catch (err) {
        if (ac.signal.aborted) break;
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dead-letter alerts failed; retrying');
      }
      await sleep(opts.everyMs ?? 2_000, undefined, { signal: ac.signal }).catch(() => undefined);
    }
  })();
  return {
    async stop() {
      ac.abort();
      await running;
    },
  };
};
