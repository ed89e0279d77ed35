import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { buildTelegramBotHandler } from '../../handlers/telegram/bot/index.js';
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

  it('registered the command menu in English and Russian', async () => {
    const menus = tg.calls.filter((c) => c.method === 'setMyCommands');
    expect(menus.some((c) => c.params.language_code === 'ru')).toBe(true);
    expect(menus.some((c) => c.params.language_code === undefined)).toBe(true);
  });
});
