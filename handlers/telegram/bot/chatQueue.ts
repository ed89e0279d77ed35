import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Update } from 'grammy/types';
import type { Logger } from '../../../core/logger.js';
import type { Sql } from '../../../core/stores/postgres.js';
import type { WebhookProcessedData } from '../../../schemas/events/webhook.js';

/** What handling an update left, as its own delivery reports it (again, after a crash). */
export interface HandledUpdate {
  results: unknown[];
  outcome: WebhookProcessedData['outcome'];
  detail: string;
  /** Handled before this delivery (a redelivery, or drained by the chat's lease holder). */
  repeat: boolean;
}

export interface ChatQueueOptions {
  sql: Sql;
  logger: Logger;
  /** Acts on one update: returns once the reply is sent; throws when it was not. */
  act: (update: Update) => Promise<Omit<HandledUpdate, 'repeat'>>;
  lease?: {
    /** How long a chat's lease lasts unless renewed (a dead holder's chats wait this long). */
    ms?: number;
    /** This process, in the lease rows. */
    holder?: string;
  };
  /** Attempts at one update before it is given up and the chat's later updates go on. */
  maxAttempts?: number;
  /** How long an update recorded by the poller but not yet in the log holds up the chat's later ones. */
  unloggedWaitMs?: number;
  /** How long one delivery waits for its update to be handled before it is retried. */
  waitMs?: number;
}

interface PendingRow {
  update_id: string;
  body: Update | null;
  event_id: string | null;
  received_at: Date;
  attempts: number;
}

/** Updates of a chat read at once by the lease holder. */
const DRAIN_PAGE = 50;

/** Thrown when this delivery's update could not be handled yet: the runner retries it. */
export class ChatBusyError extends Error {}

/**
 * Updates of one chat, handled once and in update id order across every process:
 * `telegram_bot_updates` is the chat's queue (the poller records an update before appending
 * it; a delivery records its own), and one process at a time holds the chat's lease
 * (`telegram_chat_leases`) and works through the chat's recorded updates oldest first. An
 * update is marked handled only after its reply was sent, with the events the handling caused;
 * its own delivery (or a redelivery after a crash) reports those events, which the log keeps
 * once (their message ids come from the cause).
 */
export const chatQueue = (opts: ChatQueueOptions) => {
  const { sql, logger } = opts;
  const leaseMs = opts.lease?.ms ?? 60_000;
  const holder = opts.lease?.holder ?? randomUUID();
  const maxAttempts = opts.maxAttempts ?? 5;
  const unloggedWaitMs = opts.unloggedWaitMs ?? 10_000;
  const waitMs = opts.waitMs ?? 20_000;
  const tails = new Map<number, Promise<unknown>>();

  /** In this process, one delivery per chat at a time: the others wait here, not on the lease. */
  const serial = <T>(chatId: number, work: () => Promise<T>): Promise<T> => {
    const prev = tails.get(chatId) ?? Promise.resolve();
    const run = prev.then(work, work);
    const tail = run.catch(() => undefined);
    tails.set(chatId, tail);
    void tail.then(() => {
      if (tails.get(chatId) === tail) tails.delete(chatId);
    });
    return run;
  };

  /** Takes or renews the chat's lease; false while another live process holds it. */
  const takeLease = async (chatId: number) =>
    (
      await sql`
        INSERT INTO telegram_chat_leases (chat_id, holder, expires_at)
        VALUES (${chatId}, ${holder}, now() + ${`${leaseMs} milliseconds`}::interval)
        ON CONFLICT (chat_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
          WHERE telegram_chat_leases.holder = EXCLUDED.holder OR telegram_chat_leases.expires_at < now()
        RETURNING chat_id`
    ).length === 1;
  const releaseLease = (chatId: number) =>
    sql`DELETE FROM telegram_chat_leases WHERE chat_id = ${chatId} AND holder = ${holder}`.catch(() => undefined);

  const markHandled = async (updateId: number | string, h: Omit<HandledUpdate, 'repeat'>) => {
    await sql`UPDATE telegram_bot_updates SET handled_at = now(), outcome = ${h.outcome}, detail = ${h.detail.slice(0, 1_000)},
          results = ${sql.json(h.results as never)}
        WHERE update_id = ${updateId} AND handled_at IS NULL`;
    return h;
  };

  /** One update, acted on and marked; a failure counts an attempt, the last one gives it up. */
  const handleRow = async (r: PendingRow & { body: Update }): Promise<Omit<HandledUpdate, 'repeat'>> => {
    try {
      return await markHandled(r.update_id, await opts.act(r.body));
    } catch (err) {
      const attempts = r.attempts + 1;
      if (attempts >= maxAttempts) {
        const reason = err instanceof Error ? err.message : String(err);
        logger.warn({ updateId: r.update_id, attempts, err: reason }, 'telegram update given up');
        await markHandled(r.update_id, {
          results: [],
          outcome: 'failed',
          detail: `given up after ${attempts} attempts: ${reason}`,
        });
      } else {
        await sql`UPDATE telegram_bot_updates SET attempts = ${attempts} WHERE update_id = ${r.update_id}`;
      }
      throw err;
    }
  };

  /**
   * With the chat's lease: its recorded updates, oldest first, until none is left or one not
   * yet in the log holds the rest up ('blocked'). An update the poller recorded but never
   * appended (it died in between, and its successor fetched it again under the same id) is
   * passed over once it is older than `unloggedWaitMs`.
   */
  const drain = async (
    chatId: number,
    own: number,
    done: (h: Omit<HandledUpdate, 'repeat'>) => void,
  ): Promise<'done' | 'blocked'> => {
    let renewAt = Date.now() + leaseMs / 2;
    for (;;) {
      const rows = await sql<PendingRow[]>`
        SELECT update_id, body, event_id, received_at, attempts FROM telegram_bot_updates
        WHERE chat_id = ${chatId} AND handled_at IS NULL ORDER BY update_id LIMIT ${DRAIN_PAGE}`;
      for (const r of rows) {
        if (r.event_id === null || r.body === null) {
          if (Date.now() - r.received_at.getTime() < unloggedWaitMs) return 'blocked';
          continue;
        }
        if (Date.now() > renewAt) {
          if (!(await takeLease(chatId))) return 'blocked';
          renewAt = Date.now() + leaseMs / 2;
        }
        const h = await handleRow(r as PendingRow & { body: Update });
        if (Number(r.update_id) === own) done(h);
      }
      // Updates recorded meanwhile are their own deliveries' to drain (they wait for the lease).
      if (rows.length < DRAIN_PAGE) return 'done';
    }
  };

  const handled = async (updateId: number) => {
    const [row] = await sql<{ handled_at: Date | null; outcome: string; detail: string; results: unknown[] | null }[]>`
      SELECT handled_at, outcome, detail, results FROM telegram_bot_updates WHERE update_id = ${updateId}`;
    return row?.handled_at
      ? { results: row.results ?? [], outcome: row.outcome as HandledUpdate['outcome'], detail: row.detail }
      : undefined;
  };

  return {
    holder,
    /** This delivery's update, recorded, then handled in its chat's order (here or by the lease holder). */
    async handle(update: Update, chatId: number | undefined, eventId: string): Promise<HandledUpdate> {
      // Now and then: updates handled two days ago (a delivery that late is answered "bot was offline" anyway).
      if (Math.random() < 0.001)
        await sql`DELETE FROM telegram_bot_updates WHERE handled_at < now() - interval '2 days'`.catch(() => undefined);
      const [row] = await sql<{ handled_at: Date | null; outcome: string; detail: string; results: unknown[] | null }[]>`
        INSERT INTO telegram_bot_updates (update_id, chat_id, body, event_id)
        VALUES (${update.update_id}, ${chatId ?? null}, ${sql.json(update as never)}, ${eventId})
        ON CONFLICT (update_id) DO UPDATE SET event_id = coalesce(telegram_bot_updates.event_id, EXCLUDED.event_id),
          body = coalesce(telegram_bot_updates.body, EXCLUDED.body)
        RETURNING handled_at, outcome, detail, results`;
      if (row?.handled_at)
        return { results: row.results ?? [], outcome: row.outcome as HandledUpdate['outcome'], detail: row.detail, repeat: true };
      const pending: PendingRow & { body: Update } = {
        update_id: String(update.update_id),
        body: update,
        event_id: eventId,
        received_at: new Date(),
        attempts: 0,
      };
      // No chat, no order to keep: acted on by whichever delivery gets here.
      if (chatId === undefined) return { ...(await handleRow(pending)), repeat: false };
      // Another delivery of this chat ahead in this process may handle this one too: look again then.
      const queued = tails.has(chatId);
      return serial(chatId, async () => {
        const deadline = Date.now() + waitMs;
        let delay = 10;
        let look = queued;
        for (;;) {
          if (look) {
            const h = await handled(update.update_id);
            if (h) return { ...h, repeat: true };
          }
          look = true;
          if (Date.now() > deadline)
            throw new ChatBusyError(`chat ${chatId}: update ${update.update_id} is still waiting for earlier ones`);
          if (await takeLease(chatId)) {
            let mine: Omit<HandledUpdate, 'repeat'> | undefined;
            let state: 'done' | 'blocked';
            try {
              state = await drain(chatId, update.update_id, (h) => {
                mine = h;
              });
            } finally {
              await releaseLease(chatId);
            }
            if (mine) return { ...mine, repeat: false };
            if (state === 'done') continue;
          }
          await sleep(delay);
          delay = Math.min(200, delay * 2);
        }
      });
    },
  };
};
