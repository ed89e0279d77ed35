import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telegramRoutes } from '../../api/routes/telegram.js';
import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { grammyTelegramSender } from '../../handlers/telegram/grammy.js';
import { classifyTelegramError, telegramHandler } from '../../handlers/telegram/handler.js';
import { TelegramSendError } from '../../handlers/telegram/port.js';
import { telegramRateLimits } from '../../handlers/telegram/rateLimit.js';
import type { TelegramChatBlocked, TelegramFailed, TelegramSent } from '../../schemas/events/telegram.js';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram.js';
import type { ApiHarness } from '../support/apiServer.js';
import { deadLetters, eventsCausedBy, startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';

const TOKEN = '7000000001:AAH-fake_bot_token_for_tests_0123456789';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
let tg: FakeTelegram;
let runner: HandlerRunner;

beforeAll(async () => {
  store = await freshPglite();
  api = await startRoutes(store, telegramRoutes);
  key = await api.key(['telegram']);
  tg = await startFakeTelegram({ token: TOKEN });
  const sender = grammyTelegramSender({ token: TOKEN, apiRoot: tg.url });
  runner = await startHandler(
    api.log,
    telegramHandler({ sender, sql: store.sql, logger: silentLogger(), limits: telegramRateLimits() }),
  );
  // Nothing folds telegram_users yet (the bot's /start linking is another part): the fixture writes it.
  const now = new Date().toISOString();
  await store.sql`
    INSERT INTO telegram_users (chat_id, user_id, role, username, linked_at, blocked_at, created_at, updated_at, last_seq) VALUES
      (1001, 'driver-7', 'driver', 'old_phone', ${new Date(Date.now() - 86_400_000).toISOString()}, NULL, ${now}, ${now}, 0),
      (1002, 'driver-7', 'manager', 'new_phone', ${now}, NULL, ${now}, ${now}, 0),
      (1003, 'driver-9', 'driver', 'gone', ${now}, ${now}, ${now}, ${now}, 0)`;
}, 60_000);
afterAll(async () => {
  await runner?.stop();
  await tg?.close();
  await api?.close();
  await store?.close();
});

let nextChat = 5000;
const newChat = () => {
  const id = ++nextChat;
  tg.chats.add(id);
  return id;
};
const send = async (body: Record<string, unknown>) => {
  const res = await fetch(`${api.url}/api/v1/telegram/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
};
/** The command's outcome (`telegram.sent` or `telegram.failed`) and everything it caused. */
const outcome = (id: string) =>
  until(
    async () => {
      const caused = await eventsCausedBy(api.log, id, 'evt.telegram.>');
      const end = caused.find((e) => e.type === 'telegram.sent' || e.type === 'telegram.failed');
      return end ? { end, caused } : undefined;
    },
    { what: `the outcome of ${id}` },
  );
const callsTo = (chatId: number) => tg.calls.filter((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === chatId);

describe('Telegram messages through grammy (Bot API fake)', () => {
  it('sends to a chat id', async () => {
    const chat = newChat();
    const id = await send({ chatId: chat, text: 'Заявка #42 назначена <b>вам</b>' });
    const { end } = await outcome(id);
    expect(end.type).toBe('telegram.sent');
    const [msg] = tg.messages.filter((m) => m.chatId === chat);
    expect(msg?.text).toBe('Заявка #42 назначена <b>вам</b>');
    expect(end.data as TelegramSent).toEqual({ chatId: chat, messageId: msg?.messageId, attempt: 1, testMode: false });
  });

  it("sends to a user's most recently linked chat that has not blocked the bot", async () => {
    tg.chats.add(1001);
    tg.chats.add(1002);
    const { end } = await outcome(await send({ userId: 'driver-7', text: 'hello' }));
    expect(end.data as TelegramSent).toMatchObject({ chatId: 1002 });
    expect(callsTo(1001)).toHaveLength(0);
  });

  it('a user without a linked chat fails at once (not_linked), dead-lettered', async () => {
    for (const userId of ['nobody', 'driver-9']) {
      const id = await send({ userId, text: 'hello' });
      const { end } = await outcome(id);
      expect(end.type).toBe('telegram.failed');
      expect(end.data as TelegramFailed).toMatchObject({
        code: 'not_linked',
        reason: `permanent: user ${userId} has no linked Telegram chat (telegram_users)`,
        testMode: false,
      });
      expect(await deadLetters(api.log, 'telegram-normal', id)).toHaveLength(1);
    }
  });

  it("waits out a 429's retry_after, then sends", async () => {
    const chat = newChat();
    tg.failNext(
      { error_code: 429, description: 'Too Many Requests: retry after 1', parameters: { retry_after: 1 } },
      { chatId: chat },
    );
    const { end, caused } = await outcome(await send({ chatId: chat, text: 'later' }));
    expect(end.data as TelegramSent).toMatchObject({ chatId: chat, attempt: 2 });
    const [first, second] = callsTo(chat);
    expect([first?.status, second?.status]).toEqual([429, 200]);
    expect((second?.at as number) - (first?.at as number)).toBeGreaterThanOrEqual(990);
    expect(caused.filter((e) => e.type === 'telegram.attempt_failed')).toHaveLength(1);
  });

  it('a bot blocked by the user fails at once and marks the chat blocked', async () => {
    const chat = newChat();
    tg.block(chat);
    const id = await send({ chatId: chat, text: 'are you there?' });
    const { end, caused } = await outcome(id);
    expect(end.data as TelegramFailed).toMatchObject({
      code: 'tg_403',
      chatId: chat,
      reason: 'permanent: telegram: 403 Forbidden: bot was blocked by the user',
    });
    expect(callsTo(chat)).toHaveLength(1);
    const blocked = caused.find((e) => e.type === 'telegram.chat_blocked');
    expect(blocked?.data as TelegramChatBlocked).toMatchObject({ chatId: chat });
    expect(await deadLetters(api.log, 'telegram-normal', id)).toHaveLength(1);
  });

  it('400 chat not found is permanent', async () => {
    const { end } = await outcome(await send({ chatId: 999_999, text: 'x' }));
    expect(end.data as TelegramFailed).toMatchObject({
      code: 'tg_400',
      reason: 'permanent: telegram: 400 Bad Request: chat not found',
    });
    expect(callsTo(999_999)).toHaveLength(1);
  });

  it('retries a 5xx, then sends', async () => {
    const chat = newChat();
    tg.failNext({ error_code: 502, description: 'Bad Gateway' }, { chatId: chat });
    const { end } = await outcome(await send({ chatId: chat, text: 'retry me' }));
    expect(end.data as TelegramSent).toMatchObject({ attempt: 2 });
    expect(callsTo(chat).map((c) => c.status)).toEqual([502, 200]);
  });

  it('gives up after the last attempt: telegram.failed and a dead letter', async () => {
    const chat = newChat();
    tg.failNext({ error_code: 500, description: 'Internal Server Error' }, { chatId: chat, times: 10 });
    const id = await send({ chatId: chat, text: 'doomed', priority: 'urgent' });
    const { end, caused } = await outcome(id);
    expect(end.data as TelegramFailed).toMatchObject({
      code: 'tg_500',
      reason: 'gave up after 3 attempts: telegram: 500 Internal Server Error',
    });
    expect(callsTo(chat)).toHaveLength(3);
    expect(caused.filter((e) => e.type === 'telegram.attempt_failed')).toHaveLength(2);
    expect(await deadLetters(api.log, 'telegram-urgent', id)).toHaveLength(1);
  });

  it('keeps to one message per second per chat by waiting, not failing', async () => {
    const chat = newChat();
    const ids = await Promise.all(['one', 'two', 'three'].map((text) => send({ chatId: chat, text })));
    for (const id of ids) expect((await outcome(id)).end.type).toBe('telegram.sent');
    const at = callsTo(chat)
      .map((c) => c.at)
      .sort((a, b) => a - b);
    expect(at).toHaveLength(3);
    expect((at[1] as number) - (at[0] as number)).toBeGreaterThanOrEqual(950);
    expect((at[2] as number) - (at[1] as number)).toBeGreaterThanOrEqual(950);
  });
});

describe('Telegram pieces', () => {
  it('the fake refuses a wrong bot token with 401, as Telegram does', async () => {
    const wrong = grammyTelegramSender({ token: '1:wrong', apiRoot: tg.url });
    const err = await wrong.sendMessage(newChat(), 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TelegramSendError);
    expect((err as TelegramSendError).errorCode).toBe(401);
    expect(classifyTelegramError(err as TelegramSendError).retryable).toBe(false);
  });

  it('no answer at all is retryable', async () => {
    const nowhere = grammyTelegramSender({ token: TOKEN, apiRoot: 'http://127.0.0.1:1', timeoutSeconds: 2 });
    const err = await nowhere.sendMessage(1, 'x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TelegramSendError);
    expect((err as TelegramSendError).errorCode).toBeUndefined();
    expect((err as Error).message).not.toContain(TOKEN);
    expect(classifyTelegramError(err as TelegramSendError)).toEqual({ retryable: true });
  });

  it('a message over the overall limit waits for the next second', async () => {
    const limits = telegramRateLimits({ perChatPerSecond: 1, overallPerSecond: 10 });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 11 }, (_, i) => limits.take(i)));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  });

  it('an overall limit of 0 (TELEGRAM_RATE_LIMIT_PER_SECOND=0) keeps only the per-chat one', async () => {
    const limits = telegramRateLimits({ perChatPerSecond: 1, overallPerSecond: 0 });
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 100 }, (_, i) => limits.take(i)));
    expect(Date.now() - t0).toBeLessThan(500);
    const t1 = Date.now();
    await limits.take(0);
    expect(Date.now() - t1).toBeGreaterThanOrEqual(900);
  });
});
