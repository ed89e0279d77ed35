import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { buildTelegramBotHandler } from '../../handlers/telegram/bot/index.js';
import { texts } from '../../handlers/telegram/bot/texts.js';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';
import { BOT_TOKEN, messageUpdate } from './telegramBotHarness.js';

let store: PostgresStore;
let api: ApiHarness;
let tg: FakeTelegram;
const runners: HandlerRunner[] = [];

/** One gateway process's bot: its own poller (lease holder) and runner on the shared consumer. */
const startBot = async (holder: string) => {
  const handler = buildTelegramBotHandler(
    { config: api.config, logger: silentLogger(), log: api.log, sql: store.sql },
    { polling: { holder, leaseMs: 1_500 } },
  );
  const r = await startHandler(api.log, handler);
  runners.push(r);
  return r;
};

beforeAll(async () => {
  tg = await startFakeTelegram({ token: BOT_TOKEN });
  store = await freshPglite();
  api = await startRoutes(store, () => [], {
    TELEGRAM_TEST_MODE: 'false',
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    TELEGRAM_API_URL: tg.url,
  });
  await startBot('process-a');
  await startBot('process-b');
}, 60_000);
afterAll(async () => {
  for (const r of runners) await r.stop();
  await api?.close();
  await store?.close();
  await tg?.close();
});

/** Pushes one /help per chat to the fake's getUpdates queue. */
const push = (chats: number[]) => {
  for (const chat of chats) {
    tg.chats.add(chat);
    // The fake numbers the update itself, as Telegram does.
    tg.pushUpdate({ message: messageUpdate(chat, '/help').message });
  }
};
const repliesPerChat = (chats: number[]) => chats.map((c) => tg.messages.filter((m) => m.chatId === c).length);

describe('long polling by two gateway processes', () => {
  it('takes one lease and answers each update once', async () => {
    const chats = Array.from({ length: 30 }, (_, i) => 90_000 + i);
    push(chats);
    await until(() => repliesPerChat(chats).every((n) => n >= 1), { what: 'a reply in every chat' });
    const lease = await store.sql`SELECT holder FROM telegram_poll_lease`;
    expect(lease).toHaveLength(1);
    expect(['process-a', 'process-b']).toContain(lease[0]?.holder);
    // Let a second round of polls (both processes) pass: nothing is answered twice.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(repliesPerChat(chats).every((n) => n === 1)).toBe(true);
    // Every update is an event first (webhook.received from getUpdates).
    const [n] = await store.sql<{ n: string }[]>`SELECT count(*) AS n FROM fleetgate_log WHERE subject = 'evt.webhook.telegram'`;
    expect(Number(n?.n)).toBe(30);
  });

  // Unlinked chats get the instructions in the sender's language: alternating languages make
  // the order of the replies visible.
  const burst = (chat: number, n: number) => {
    tg.chats.add(chat);
    const langs = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'ru' : 'en'));
    for (const lang of langs) tg.pushUpdate({ message: messageUpdate(chat, 'hello', { lang }).message });
    return langs.map((l) => texts(l === 'ru' ? 'ru' : 'en').unlinked);
  };
  const repliesTo = (chat: number) => tg.messages.filter((m) => m.chatId === chat).map((m) => m.text);

  it('answers a burst from one chat in update order, each update once, with both processes at work', async () => {
    const chat = 92_000;
    const expected = burst(chat, 24);
    await until(() => repliesTo(chat).length >= expected.length, { what: 'every reply of the burst' });
    await new Promise((r) => setTimeout(r, 500));
    expect(repliesTo(chat)).toEqual(expected);
    const rows = await store.sql<{ n: string; handled: string }[]>`
      SELECT count(*) AS n, count(handled_at) AS handled FROM telegram_bot_updates WHERE chat_id = ${chat}`;
    expect(rows[0]).toEqual({ n: '24', handled: '24' });
  });

  it("retries a reply Telegram refused, before the chat's later updates (at least once, in order)", async () => {
    const chat = 92_001;
    tg.chats.add(chat);
    tg.failNext({ error_code: 500, description: 'Internal Server Error' }, { chatId: chat, times: 2 });
    const expected = burst(chat, 6);
    await until(() => repliesTo(chat).length >= expected.length, { what: 'every reply after the failures' });
    await new Promise((r) => setTimeout(r, 300));
    expect(repliesTo(chat)).toEqual(expected);
    const [first] = await store.sql<{ attempts: number }[]>`
      SELECT attempts FROM telegram_bot_updates WHERE chat_id = ${chat} ORDER BY update_id LIMIT 1`;
    expect(first?.attempts).toBe(2);
  });

  it('the other process takes over when the holder stops', async () => {
    const [lease] = await store.sql<{ holder: string }[]>`SELECT holder FROM telegram_poll_lease`;
    const i = lease?.holder === 'process-a' ? 0 : 1;
    await runners[i]?.stop();
    const chats = Array.from({ length: 5 }, (_, k) => 91_000 + k);
    push(chats);
    await until(() => repliesPerChat(chats).every((n) => n >= 1), { what: 'replies after the takeover' });
    const [now] = await store.sql<{ holder: string }[]>`SELECT holder FROM telegram_poll_lease`;
    expect(now?.holder).not.toBe(lease?.holder);
    expect(repliesPerChat(chats).every((n) => n === 1)).toBe(true);
  });

  it("a dead process's unanswered update is answered before the chat's next one once its lease expires", async () => {
    const chat = 92_002;
    tg.chats.add(chat);
    // As a process leaves it that died after the update was recorded and before the reply:
    // recorded, in the log, unhandled, and the chat's lease still held.
    const dead = messageUpdate(chat, 'hello', { lang: 'ru', updateId: 5_000_000 });
    await store.sql`INSERT INTO telegram_bot_updates (update_id, chat_id, body, event_id)
      VALUES (${dead.update_id}, ${chat}, ${store.sql.json(dead as never)}, 'dead-event')`;
    await store.sql`INSERT INTO telegram_chat_leases (chat_id, holder, expires_at) VALUES (${chat}, 'dead', now() + interval '1 second')`;
    tg.pushUpdate({ update_id: 5_000_001, message: messageUpdate(chat, 'hello', { lang: 'en' }).message });
    await until(() => repliesTo(chat).length >= 2, { what: 'both replies' });
    expect(repliesTo(chat)).toEqual([texts('ru').unlinked, texts('en').unlinked]);
  });

  it('registered the command menu in English and Russian', async () => {
    const menus = tg.calls.filter((c) => c.method === 'setMyCommands');
    expect(menus.some((c) => c.params.language_code === 'ru')).toBe(true);
    expect(menus.some((c) => c.params.language_code === undefined)).toBe(true);
  });
});
