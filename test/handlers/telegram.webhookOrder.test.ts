import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telegramWebhookPhp } from '../../api/legacy/telegramWebhook.js';
import { webhookRoutes } from '../../api/routes/webhooks.js';
import { handleWebhook } from '../../api/webhooks/ingress.js';
import { telegramVerifier } from '../../api/webhooks/telegram.js';
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

const SECRET = 'webhook-secret-0123456789';
let store: PostgresStore;
let tg: FakeTelegram;
/** Two gateway processes in webhook mode: each its own HTTP server, event log client and bot runner. */
const gateways: ApiHarness[] = [];
const runners: HandlerRunner[] = [];

const startGateway = async () => {
  const api = await startRoutes(store, (deps) => [...webhookRoutes(deps), ...telegramWebhookPhp(deps)], {
    TELEGRAM_TEST_MODE: 'false',
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    TELEGRAM_API_URL: tg.url,
    TELEGRAM_WEBHOOK_ENABLED: 'true',
    TELEGRAM_WEBHOOK_SECRET: SECRET,
  });
  gateways.push(api);
  const bot = buildTelegramBotHandler({ config: api.config, logger: silentLogger(), log: api.log, sql: store.sql });
  runners.push(await startHandler(api.log, bot));
};

beforeAll(async () => {
  tg = await startFakeTelegram({ token: BOT_TOKEN });
  store = await freshPglite();
  await startGateway();
  await startGateway();
}, 60_000);
afterAll(async () => {
  for (const r of runners) await r.stop();
  for (const g of gateways) await g.close();
  await store?.close();
  await tg?.close();
});

/** A delivery to `/webhooks/telegram`, or to the PHP CRM's URL the bot's webhook may still point at. */
const deliver = (gateway: ApiHarness, update: unknown, path = '/webhooks/telegram') =>
  fetch(`${gateway.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
    body: JSON.stringify(update),
  });
const repliesTo = (chat: number) => tg.messages.filter((m) => m.chatId === chat).map((m) => m.text);

describe('webhook mode with two gateway processes', () => {
  // Unlinked chats get the instructions in the sender's language: alternating languages make
  // the order of the replies visible.
  it("answers a burst of one chat's updates, posted alternately to both, in update order and each once", async () => {
    const chat = 93_000;
    tg.chats.add(chat);
    const langs = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'ru' : 'en'));
    const updates = langs.map((lang) => messageUpdate(chat, 'hello', { lang }));
    // As Telegram sends one chat's updates: the next once the last was answered. Every third
    // through the legacy URL, which records the same way.
    for (const [i, u] of updates.entries()) {
      const res = await deliver(gateways[i % 2] as ApiHarness, u, i % 3 === 2 ? '/api/telegram-webhook.php' : undefined);
      expect(res.status).toBe(200);
    }
    // One delivery repeated (to the other process): one event, one reply.
    expect((await deliver(gateways[1] as ApiHarness, updates[0])).status).toBe(200);
    const expected = langs.map((l) => texts(l === 'ru' ? 'ru' : 'en').unlinked);
    await until(() => repliesTo(chat).length >= expected.length, { what: 'every reply of the burst', timeoutMs: 40_000 });
    await new Promise((r) => setTimeout(r, 500));
    expect(repliesTo(chat)).toEqual(expected);
    const rows = await store.sql<{ n: string; handled: string }[]>`
      SELECT count(*) AS n, count(handled_at) AS handled FROM telegram_bot_updates WHERE chat_id = ${chat}`;
    expect(rows[0]).toEqual({ n: '30', handled: '30' });
    const [accepted] = await store.sql<{ n: string }[]>`
      SELECT count(*) AS n FROM fleetgate_log, jsonb_array_elements(events) AS e
      WHERE subject = 'evt.webhook.telegram' AND e->'data'->>'duplicate' = 'false'
        AND e->'data'->>'providerEventId' = ANY(${updates.map((u) => String(u.update_id))})`;
    expect(Number(accepted?.n)).toBe(30);
  }, 60_000);

  it('records an update in its chat queue before it is in the log, and answers 200 only then', async () => {
    const chat = 93_001;
    tg.chats.add(chat);
    const u = messageUpdate(chat, '/help', { lang: 'en' });
    const res = await deliver(gateways[0] as ApiHarness, u);
    expect(res.status).toBe(200);
    const [row] = await store.sql<
      { chat_id: string }[]
    >`SELECT chat_id FROM telegram_bot_updates WHERE update_id = ${u.update_id}`;
    expect(row?.chat_id).toBe(String(chat));
    await until(() => repliesTo(chat).length >= 1, { what: 'the reply' });
  });

  it('records nothing for a delivery with a wrong secret', async () => {
    const u = messageUpdate(93_002, '/help');
    const res = await fetch(`${gateways[1]?.url}/webhooks/telegram`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': 'wrong' },
      body: JSON.stringify(u),
    });
    expect(res.status).toBe(401);
    const rows = await store.sql`SELECT 1 FROM telegram_bot_updates WHERE update_id = ${u.update_id}`;
    expect(rows).toHaveLength(0);
  });

  it('refuses an authentic update whose update_id is not a safe integer (400, nothing queued)', async () => {
    const res = await deliver(gateways[0] as ApiHarness, { ...messageUpdate(93_004, '/help'), update_id: 1.5 });
    expect(res.status).toBe(400);
    expect(await store.sql`SELECT 1 FROM telegram_bot_updates WHERE chat_id = 93004`).toHaveLength(0);
  });

  it('appends nothing when the update cannot be recorded (the delivery fails, Telegram sends it again)', async () => {
    const g = gateways[0] as ApiHarness;
    const u = messageUpdate(93_003, '/help');
    const failing = telegramVerifier({
      secret: SECRET,
      record: async () => {
        throw new Error('Postgres is down');
      },
    });
    const ctx = {
      path: '/webhooks/telegram',
      rawQuery: '',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
      remoteAddress: '127.0.0.1',
      rawBody: Buffer.from(JSON.stringify(u)),
    };
    const deps = { config: g.config, log: g.log, sql: store.sql, logger: silentLogger() };
    await expect(handleWebhook(deps, 'telegram', ctx, new Map([['telegram', failing]]))).rejects.toThrow('Postgres is down');
    const [n] = await store.sql<{ n: string }[]>`
      SELECT count(*) AS n FROM fleetgate_log, jsonb_array_elements(events) AS e
      WHERE subject = 'evt.webhook.telegram' AND e->'data'->>'providerEventId' = ${String(u.update_id)}`;
    expect(Number(n?.n)).toBe(0);
  });
});
