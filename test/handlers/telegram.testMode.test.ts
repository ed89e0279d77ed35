import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telegramRoutes } from '../../api/routes/telegram.js';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { buildTelegramHandler } from '../../handlers/telegram/index.js';
import { isGatewayError } from '../../schemas/errors.js';
import type { TelegramFailed, TelegramSent } from '../../schemas/events/telegram.js';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram.js';
import type { ApiHarness } from '../support/apiServer.js';
import { eventsCausedBy, startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

const TOKEN = '7000000002:AAH-another_fake_token_0123456789abc';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
let tg: FakeTelegram;

const build = (env: Record<string, string> = {}) =>
  buildTelegramHandler({
    config: loadConfig({ DATA_DIR: '/nonexistent', ...env }),
    logger: silentLogger(),
    log: api.log,
    sql: store.sql,
  });

beforeAll(async () => {
  store = await freshPglite();
  api = await startRoutes(store, telegramRoutes);
  key = await api.key(['telegram']);
  tg = await startFakeTelegram({ token: TOKEN });
  tg.chats.add(42);
  const now = new Date().toISOString();
  await store.sql`
    INSERT INTO telegram_users (chat_id, user_id, role, linked_at, created_at, updated_at, last_seq)
    VALUES (42, 'manager-1', 'manager', ${now}, ${now}, ${now}, 0)`;
}, 60_000);
afterAll(async () => {
  await tg?.close();
  await api?.close();
  await store?.close();
});

const send = async (body: Record<string, unknown>) => {
  const res = await fetch(`${api.url}/api/v1/telegram/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
};
const outcome = (id: string) =>
  until(
    async () =>
      (await eventsCausedBy(api.log, id, 'evt.telegram.>')).find(
        (e) => e.type === 'telegram.sent' || e.type === 'telegram.failed',
      ),
    { what: `the outcome of ${id}` },
  );

describe('Telegram from configuration', () => {
  it('TELEGRAM_TEST_MODE (the default): nothing reaches Telegram, events marked testMode', async () => {
    const runner = await startHandler(api.log, build({ TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_URL: tg.url }));
    try {
      const a = await outcome(await send({ chatId: 42, text: 'one' }));
      const b = await outcome(await send({ userId: 'manager-1', text: 'two' }));
      const c = await outcome(await send({ userId: 'stranger', text: 'three' }));
      expect(a.data as TelegramSent).toEqual({ chatId: 42, messageId: 1, attempt: 1, testMode: true });
      expect(b.data as TelegramSent).toEqual({ chatId: 42, messageId: 2, attempt: 1, testMode: true });
      expect(c.data as TelegramFailed).toMatchObject({ code: 'not_linked', testMode: true });
      expect(tg.calls).toHaveLength(0);
    } finally {
      await runner.stop();
    }
  });

  it('TELEGRAM_TEST_MODE=false sends through TELEGRAM_API_URL with TELEGRAM_BOT_TOKEN', async () => {
    const runner = await startHandler(
      api.log,
      build({ TELEGRAM_TEST_MODE: 'false', TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_URL: `${tg.url}/` }),
    );
    try {
      const sent = await outcome(await send({ userId: 'manager-1', text: 'live' }));
      expect(sent.data as TelegramSent).toMatchObject({ chatId: 42, testMode: false });
      expect(tg.messages.map((m) => m.text)).toEqual(['live']);
    } finally {
      await runner.stop();
    }
  });

  it('TELEGRAM_TEST_MODE=false without a bot token stops start-up with a clear error', () => {
    let err: unknown;
    try {
      build({ TELEGRAM_TEST_MODE: 'false' });
    } catch (e) {
      err = e;
    }
    expect(isGatewayError(err, 'GW_ERR_CONFIG')).toBe(true);
    expect((err as Error).message).toBe('invalid configuration:\n  TELEGRAM_TEST_MODE=false needs TELEGRAM_BOT_TOKEN');
  });
});
