import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Api } from 'grammy';
import { newEvent } from '../../../core/eventlog/newEvent.js';
import type { EventLog } from '../../../core/eventlog/port.js';
import type { Logger } from '../../../core/logger.js';
import type { Sql } from '../../../core/stores/postgres.js';
import { recordTelegramUpdate } from '../../../core/telegram/chatQueueEntry.js';
import { ALLOWED_TELEGRAM_UPDATES } from '../../../core/telegram/updates.js';
import { WEBHOOK_RECEIVED, type WebhookReceivedData, webhookSubject } from '../../../schemas/events/webhook.js';

export const ALLOWED_UPDATES = ALLOWED_TELEGRAM_UPDATES;

export interface PollerOptions {
  sql: Sql;
  log: EventLog;
  logger: Logger;
  /** The live bot's API, or undefined while there is none (test mode, no token, webhook mode). */
  api: () => Promise<Api | undefined>;
  /** Lease length; the holder renews it every poll, well within (the long poll is a third of it). */
  leaseMs?: number;
  /** This process, in the lease row. */
  holder?: string;
}

/** The same message id `/webhooks/telegram` gives the update (api/webhooks/ingress.ts): one event per update, whichever way it came. */
export const updateMsgId = (updateId: number) => `webhook:telegram:${updateId}`;

/** An update fetched by long polling, recorded exactly as a webhook delivery would be. */
export const polledUpdateEvent = (update: { update_id: number }, at: Date) => {
  const raw = Buffer.from(JSON.stringify(update));
  const kind = Object.keys(update).find((k) => k !== 'update_id');
  const data: WebhookReceivedData = {
    provider: 'telegram',
    providerEventId: String(update.update_id),
    ...(kind ? { eventType: kind } : {}),
    signatureValid: true,
    duplicate: false,
    remoteAddr: 'getUpdates',
    headers: {},
    contentType: 'application/json',
    bodyBase64: raw.toString('base64'),
    payloadSha256: createHash('sha256').update(raw).digest('hex'),
    receivedAt: at.toISOString(),
  };
  return newEvent({ type: WEBHOOK_RECEIVED, subject: webhookSubject('telegram'), source: 'telegram/polling', time: at, data });
};

/**
 * Long polling by exactly one process: a lease row in Postgres (`telegram_poll_lease`) with an
 * expiry, taken over only once expired; the holder keeps the next offset there, so a new holder
 * continues where the last stopped. Each update is appended before anything acts on it.
 */
export const telegramPoller = (opts: PollerOptions) => {
  const leaseMs = opts.leaseMs ?? 30_000;
  const holder = opts.holder ?? randomUUID();
  const pollSeconds = Math.max(0, Math.floor(leaseMs / 3_000));
  const ac = new AbortController();
  let holding = false;

  const takeLease = async (): Promise<number | undefined> => {
    const [row] = await opts.sql<{ next_offset: string }[]>`
      INSERT INTO telegram_poll_lease (name, holder, expires_at) VALUES ('bot', ${holder}, now() + ${`${leaseMs} milliseconds`}::interval)
      ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
        WHERE telegram_poll_lease.holder = EXCLUDED.holder OR telegram_poll_lease.expires_at < now()
      RETURNING next_offset`;
    return row ? Number(row.next_offset) : undefined;
  };

  const loop = async () => {
    while (!ac.signal.aborted) {
      try {
        const api = await opts.api();
        const offset = api ? await takeLease() : undefined;
        if (holding !== (offset !== undefined)) {
          holding = offset !== undefined;
          opts.logger.info({ holder, holding }, holding ? 'telegram polling lease taken' : 'telegram polling lease not held');
        }
        if (!api || offset === undefined) {
          await sleep(Math.max(100, leaseMs / 3), undefined, { signal: ac.signal });
          continue;
        }
        const updates = await api.getUpdates(
          { offset, timeout: pollSeconds, allowed_updates: [...ALLOWED_UPDATES] },
          // grammy types the signal with its own AbortSignal polyfill; Node's is the same at run time.
          ac.signal as unknown as Parameters<Api['getUpdates']>[1],
        );
        for (const u of updates) {
          // Recorded in its chat's queue before it is in the log, as the webhook ingress does: a
          // later update of the chat, delivered to another process first, waits for this one.
          await recordTelegramUpdate(opts.sql, u);
          const e = polledUpdateEvent(u, new Date());
          await opts.log.append(e.subject, e, { msgId: updateMsgId(u.update_id) });
        }
        const last = updates.at(-1);
        if (last) {
          await opts.sql`UPDATE telegram_poll_lease SET next_offset = ${last.update_id + 1} WHERE name = 'bot' AND holder = ${holder}`;
        }
      } catch (err) {
        if (ac.signal.aborted) break;
        opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'telegram polling failed; retrying');
        await sleep(1_000, undefined, { signal: ac.signal }).catch(() => undefined);
      }
    }
  };

  const running = loop().catch(() => undefined);
  return {
    holder,
    get holding() {
      return holding;
    },
    async stop() {
      ac.abort();
      await running;
      // Let another process take over at once instead of after the expiry.
      if (holding)
        await opts.sql`DELETE FROM telegram_poll_lease WHERE name = 'bot' AND holder = ${holder}`.catch(() => undefined);
    },
  };
};
