import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { buildTelegramBotHandlers } from '../../handlers/telegram/bot/index.js';
import { polledUpdateEvent } from '../../handlers/telegram/bot/polling.js';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram.js';
import type { ApiHarness } from '../support/apiServer.js';
import { migrateClickHouse, openTestChdb } from '../support/gps.js';
import { startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { BOT_TOKEN, messageUpdate, replyTo, seedFleet } from './telegramBotHarness.js';

// /today's distance comes from the GPS history in ClickHouse (chdb here), scoped by role.
let ch: Awaited<ReturnType<typeof openTestChdb>>;
let store: PostgresStore;
let api: ApiHarness;
let tg: FakeTelegram;
let runner: HandlerRunner;

const CHATS = { admin: 81_001, c1: 81_002, d1: 81_003, c2: 81_004 } as const;

beforeAll(async () => {
  [ch, store, tg] = await Promise.all([openTestChdb(), freshPglite(), startFakeTelegram({ token: BOT_TOKEN })]);
  await migrateClickHouse(store, ch.store);
  api = await startRoutes(store, () => [], {
    TELEGRAM_TEST_MODE: 'false',
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    TELEGRAM_API_URL: tg.url,
    NOTIFICATIONS_TIME_ZONE: 'Europe/Moscow',
  });
  await seedFleet(store.sql);
  for (const [chat, role, company, driver] of [
    [CHATS.admin, 'admin', null, null],
    [CHATS.c1, 'company', 'c1', null],
    [CHATS.d1, 'driver', 'c1', 'd1'],
    [CHATS.c2, 'company', 'c2', null],
  ] as const) {
    tg.chats.add(chat);
    await store.sql`INSERT INTO telegram_users (chat_id, user_id, role, company_id, driver_id, linked_at, created_at, updated_at, last_seq)
      VALUES (${chat}, ${`u-${chat}`}, ${role}, ${company}, ${driver}, now(), now(), now(), 0)`;
  }
  // dev1 (vehicle of c1 / d1) drove 0.01° of latitude (≈1.11 km) a minute ago, dev3 (c2) twice
  // that; a point of dev1 from two days ago, far away, is not today.
  const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
  const now = Date.now();
  const point = (device_id: string, ms: number, lat: number, i: number) => ({
    device_id,
    ts: iso(ms),
    lat,
    lon: 37.6,
    speed: 40,
    source: 'mqtt',
    received_at: iso(ms),
    log_seq: i,
    event_id: `e${i}`,
  });
  await ch.client.insert({
    table: 'fleetgate.gps_tracking',
    format: 'JSONEachRow',
    values: [
      point('dev1', now - 2 * 86_400_000, 10, 1),
      point('dev1', now - 120_000, 55.75, 2),
      point('dev1', now - 60_000, 55.76, 3),
      point('dev3', now - 120_000, 55.75, 4),
      point('dev3', now - 60_000, 55.77, 5),
    ],
  });
  const handlers = buildTelegramBotHandlers({
    config: api.config,
    logger: silentLogger(),
    log: api.log,
    sql: store.sql,
    clickhouse: ch.client,
  });
  runner = await startHandler(api.log, handlers.bot);
}, 90_000);
afterAll(async () => {
  await runner?.stop();
  await api?.close();
  await store?.close();
  await ch?.close();
  await tg?.close();
});

const say = async (chat: number, text: string) => {
  const seen = tg.messages.filter((m) => m.chatId === chat).length;
  const e = polledUpdateEvent(messageUpdate(chat, text, { lang: 'en' }), new Date());
  await api.log.append(e.subject, e);
  return (await replyTo(tg, chat, seen)).text;
};
const km = (reply: string) => Number(/Distance driven: ([\d.]+) km/.exec(reply)?.[1]);

describe('/today distance from ClickHouse', () => {
  it("sums today's GPS steps of the vehicles the role may see", async () => {
    expect(km(await say(CHATS.admin, '/today'))).toBeCloseTo(3.3, 1);
    expect(km(await say(CHATS.c1, '/today'))).toBeCloseTo(1.1, 1);
    expect(km(await say(CHATS.d1, '/today'))).toBeCloseTo(1.1, 1);
    expect(km(await say(CHATS.c2, '/today'))).toBeCloseTo(2.2, 1);
  });

  it('/status tells the gateway is up as this process sees the log, Postgres and ClickHouse', async () => {
    const status = await say(CHATS.admin, '/status');
    expect(status).toContain('Gateway: up');
    expect(status).toContain('Last ERP sync: never');
  });
});
