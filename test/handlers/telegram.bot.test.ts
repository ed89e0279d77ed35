import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { telegramRoutes } from '../../api/routes/telegram.js';
import { webhookRoutes } from '../../api/routes/webhooks.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import { createLogger, silentLogger } from '../../core/logger.js';
import { metrics } from '../../core/metrics.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { linkCodeDigest } from '../../core/telegram/linkCodes.js';
import { buildTelegramBotHandlers } from '../../handlers/telegram/bot/index.js';
import { polledUpdateEvent } from '../../handlers/telegram/bot/polling.js';
import { TELEGRAM_CHAT_BLOCKED, TELEGRAM_RESULTS_SUBJECT } from '../../schemas/events/telegram.js';
import { type FakeTelegram, startFakeTelegram } from '../fakes/telegram.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';
import { BOT_TOKEN, callbackUpdate, messageUpdate, replyTo, seedFleet } from './telegramBotHarness.js';

const SECRET = 'webhook-secret-0123456789';
let store: PostgresStore;
let api: ApiHarness;
let key: string;
let tg: FakeTelegram;
let runner: HandlerRunner;
let alertRunner: HandlerRunner;
let fleetRunner: HandlerRunner;

beforeAll(async () => {
  tg = await startFakeTelegram({ token: BOT_TOKEN });
  store = await freshPglite();
  api = await startRoutes(store, (deps) => [...telegramRoutes(deps), ...webhookRoutes(deps)], {
    TELEGRAM_TEST_MODE: 'false',
    TELEGRAM_BOT_TOKEN: BOT_TOKEN,
    TELEGRAM_API_URL: tg.url,
    TELEGRAM_WEBHOOK_ENABLED: 'true',
    TELEGRAM_WEBHOOK_SECRET: SECRET,
    NOTIFICATIONS_TIME_ZONE: 'Europe/Moscow',
    GPS_OFFLINE_AFTER: '60',
    GPS_SPEED_LIMIT_KMH: '100',
    GPS_SPEEDING_MIN_SECONDS: '10',
  });
  key = await api.key(['telegram']);
  const handlers = buildTelegramBotHandlers(
    {
      config: api.config,
      logger: process.env.DBG ? createLogger('debug') : silentLogger(),
      log: api.log,
      sql: store.sql,
    },
    { detectorEveryMs: 100 },
  );
  runner = await startHandler(api.log, handlers.bot, process.env.DBG ? { logger: createLogger('debug') } : {});
  alertRunner = await startHandler(api.log, handlers.alerts);
  fleetRunner = await startHandler(api.log, handlers.fleet);
  await seedFleet(store.sql);
}, 120_000);
afterAll(async () => {
  await runner?.stop();
  await alertRunner?.stop();
  await fleetRunner?.stop();
  await api?.close();
  await store?.close();
  await tg?.close();
});

const post = (path: string, body: unknown, headers: Record<string, string>) =>
  fetch(`${api.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

const deliver = async (update: { message?: { chat: { id: number } }; callback_query?: unknown }) => {
  if (update.message) tg.chats.add(update.message.chat.id);
  const res = await post('/webhooks/telegram', update, { 'x-telegram-bot-api-secret-token': SECRET });
  expect(res.status).toBe(200);
};

/** Sends `text` from the chat through the webhook and waits for the bot's answer. */
const say = async (chatId: number, text: string, lang = 'en') => {
  const seen = tg.messages.filter((m) => m.chatId === chatId).length;
  await deliver(messageUpdate(chatId, text, { lang }));
  return (await replyTo(tg, chatId, seen)).text;
};

const linkCode = async (body: Record<string, unknown>) => {
  const res = await post('/api/v1/telegram/link-codes', body, { authorization: `Bearer ${key}` });
  expect(res.status).toBe(201);
  const out = (await res.json()) as { code: string; link: string | null; expiresAt: string };
  await api.caughtUp();
  return out;
};

let nextChat = 70_000;
/** A new chat linked with the role (through a real code and /start). */
const linkedChat = async (body: Record<string, unknown>, lang = 'en') => {
  const chat = ++nextChat;
  const { code } = await linkCode(body);
  expect(await say(chat, `/start ${code}`, lang)).toMatch(/Linked|привязан/);
  return chat;
};
const flat = (s: string) => s.replace(/\s/g, '');

describe('linking', () => {
  it('answers a one-time code with its deep link and records only its digest', async () => {
    const before = Date.now();
    const out = await linkCode({ userId: 'u-admin', role: 'admin' });
    expect(out.code).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(out.link).toBe(`https://t.me/fleetgate_test_bot?start=${out.code}`);
    const ttl = Date.parse(out.expiresAt) - before;
    expect(ttl).toBeGreaterThan(14 * 60_000);
    expect(ttl).toBeLessThanOrEqual(15 * 60_000 + 5_000);
    const [row] = await store.sql`SELECT user_id, role FROM telegram_link_codes WHERE code_sha256 = ${linkCodeDigest(out.code)}`;
    expect(row).toMatchObject({ user_id: 'u-admin', role: 'admin' });
    const logged = JSON.stringify(await store.sql`SELECT events FROM fleetgate_log WHERE subject LIKE 'evt.telegram.%'`);
    expect(logged).toContain(linkCodeDigest(out.code));
    expect(logged).not.toContain(out.code);
  });

  it('makes a new code on every request, even with the same Idempotency-Key (the plain code is never stored)', async () => {
    const ask = async () => {
      const res = await post(
        '/api/v1/telegram/link-codes',
        { userId: 'u-idem', role: 'admin' },
        { authorization: `Bearer ${key}`, 'idempotency-key': 'same-key-1' },
      );
      expect(res.status).toBe(201);
      expect(res.headers.get('idempotent-replayed')).toBeNull();
      return ((await res.json()) as { code: string }).code;
    };
    const [a, b] = [await ask(), await ask()];
    expect(a).not.toBe(b);
    await api.caughtUp();
    const rows =
      await store.sql`SELECT 1 FROM telegram_link_codes WHERE code_sha256 IN (${linkCodeDigest(a)}, ${linkCodeDigest(b)})`;
    expect(rows).toHaveLength(2);
  });

  it('refuses a driver code without driverId (problem+json)', async () => {
    const res = await post('/api/v1/telegram/link-codes', { userId: 'u1', role: 'driver' }, { authorization: `Bearer ${key}` });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('links with /start CODE into telegram_users; the code cannot be used again', async () => {
    const { code } = await linkCode({ userId: 'u-drv1', role: 'driver', driverId: 'd1', companyId: 'c1' });
    const chat = ++nextChat;
    expect(await say(chat, `/start ${code}`)).toContain('Linked. Role: driver');
    const row = await until(async () => (await store.sql`SELECT * FROM telegram_users WHERE chat_id = ${chat}`)[0]);
    expect(row).toMatchObject({ user_id: 'u-drv1', role: 'driver', driver_id: 'd1', company_id: 'c1', language: 'en' });
    const other = ++nextChat;
    expect(await say(other, `/start ${code}`)).toContain('already used');
    expect(await say(other, '/earnings')).toContain('not linked');
  });

  it('says so for a wrong or expired code', async () => {
    const chat = ++nextChat;
    expect(await say(chat, '/start not-a-code')).toContain('not valid');
    const { code } = await linkCode({ userId: 'u2', role: 'admin' });
    await store.sql`UPDATE telegram_link_codes SET expires_at = now() - interval '1 minute' WHERE code_sha256 = ${linkCodeDigest(code)}`;
    expect(await say(chat, `/start ${code}`, 'ru')).toContain('истёк');
  });

  it('limits wrong codes per chat: a valid code is refused after five wrong ones', async () => {
    const chat = ++nextChat;
    for (let i = 0; i < 5; i++) expect(await say(chat, `/start wrong${i}`)).toContain('not valid');
    const { code } = await linkCode({ userId: 'u3', role: 'admin' });
    expect(await say(chat, `/start ${code}`)).toContain('Too many');
    const refusals = (await metrics.telegramLinkRefusals.get()).values;
    expect(refusals.find((v) => v.labels.reason === 'locked')?.value).toBeGreaterThanOrEqual(1);
    expect(refusals.find((v) => v.labels.reason === 'wrong')?.value).toBeGreaterThanOrEqual(5);
  });

  it('gives an unlinked chat instructions and no data', async () => {
    const chat = ++nextChat;
    for (const cmd of ['/status', '/today', '/drivers', '/earnings', '/help', 'hello']) {
      const text = await say(chat, cmd);
      expect(text).toContain('/start CODE');
      expect(text).not.toMatch(/\d/);
    }
  });

  it('/stop unlinks: no data afterwards, and the chat is free in telegram_users', async () => {
    const chat = await linkedChat({ userId: 'u-stop', role: 'admin' });
    expect(await say(chat, '/status')).toContain('Vehicles');
    expect(await say(chat, '/stop')).toContain('Unlinked');
    expect(await say(chat, '/status')).toContain('not linked');
    await until(
      async () => (await store.sql`SELECT user_id FROM telegram_users WHERE chat_id = ${chat} AND unlinked_at IS NOT NULL`)[0],
    );
  });

  it('records a block from my_chat_member as telegram.chat_blocked', async () => {
    const chat = await linkedChat({ userId: 'u-kick', role: 'dispatcher' });
    await until(async () => (await store.sql`SELECT 1 FROM telegram_users WHERE chat_id = ${chat}`)[0]);
    await deliver({
      update_id: 990_001,
      my_chat_member: {
        chat: { id: chat, type: 'private' },
        from: { id: chat, is_bot: false, first_name: 'Test' },
        date: Math.floor(Date.now() / 1000),
        old_chat_member: { status: 'member', user: { id: 7000000001, is_bot: true, first_name: 'Fleetgate' } },
        new_chat_member: { status: 'kicked', until_date: 0, user: { id: 7000000001, is_bot: true, first_name: 'Fleetgate' } },
      },
    } as never);
    await until(
      async () => (await store.sql`SELECT 1 FROM telegram_users WHERE chat_id = ${chat} AND blocked_at IS NOT NULL`)[0],
    );
  });

  it('folds telegram.chat_blocked into blocked_at', async () => {
    const chat = await linkedChat({ userId: 'u-block', role: 'dispatcher' });
    await until(async () => (await store.sql`SELECT 1 FROM telegram_users WHERE chat_id = ${chat}`)[0]);
    const e = newEvent({
      type: TELEGRAM_CHAT_BLOCKED,
      subject: TELEGRAM_RESULTS_SUBJECT,
      source: 'test',
      data: { chatId: chat, description: 'Forbidden: bot was blocked by the user' },
    });
    await api.log.append(TELEGRAM_RESULTS_SUBJECT, e);
    await until(
      async () => (await store.sql`SELECT 1 FROM telegram_users WHERE chat_id = ${chat} AND blocked_at IS NOT NULL`)[0],
    );
  });
});

describe('commands by role', () => {
  const chats: Record<string, number> = {};
  beforeAll(async () => {
    chats.admin = await linkedChat({ userId: 'u-a', role: 'admin' });
    chats.dispatcher = await linkedChat({ userId: 'u-disp', role: 'dispatcher' }, 'ru');
    chats.company = await linkedChat({ userId: 'u-c1', role: 'company', companyId: 'c1' });
    chats.d1 = await linkedChat({ userId: 'u-d1', role: 'driver', driverId: 'd1', companyId: 'c1' });
    chats.d2 = await linkedChat({ userId: 'u-d2', role: 'driver', driverId: 'd2', companyId: 'c1' });
  }, 30_000);

  it('/earnings: everything for admin, the company its own, a driver only their own', async () => {
    expect(flat(await say(chats.admin as number, '/earnings'))).toContain('8,400.00');
    expect(flat(await say(chats.dispatcher as number, '/earnings', 'ru'))).toContain('8400,00₽');
    expect(flat(await say(chats.company as number, '/earnings'))).toContain('1,400.00');
    const d1 = flat(await say(chats.d1 as number, '/earnings'));
    expect(d1).toContain('900.00');
    expect(d1).not.toMatch(/500\.00|1,400|8,400|7,000/);
    const d2 = flat(await say(chats.d2 as number, '/earnings'));
    expect(d2).toContain('500.00');
    expect(d2).not.toMatch(/900\.00|1,400|8,400/);
  });

  it('/earnings buttons switch the period in place', async () => {
    const chat = chats.d1 as number;
    const seen = tg.messages.filter((m) => m.chatId === chat).length;
    await say(chat, '/earnings');
    const msg = tg.messages.filter((m) => m.chatId === chat)[seen];
    const sendCall = tg.calls.findLast((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === chat);
    expect(JSON.stringify(sendCall?.params.reply_markup)).toContain('earn:month');
    const edits = tg.edits.length;
    await deliver(callbackUpdate(chat, msg?.messageId as number, 'earn:month'));
    const edit = await until(() => tg.edits.slice(edits).find((x) => x.chatId === chat));
    expect(edit.text).toContain('this month');
    expect(flat(edit.text)).toContain('900.00');
  });

  it('/status: queues only for admin and dispatcher; vehicles by scope', async () => {
    const admin = await say(chats.admin as number, '/status');
    expect(admin).toContain('Queue: email 1, sms 2');
    expect(admin).toContain('Vehicles: 2 online, 1 offline');
    expect(await say(chats.dispatcher as number, '/status', 'ru')).toContain('Машины: 2 на связи, 1 не на связи');
    const company = await say(chats.company as number, '/status');
    expect(company).not.toContain('Queue');
    expect(company).toContain('Vehicles: 1 online, 1 offline');
    expect(await say(chats.d2 as number, '/status')).toContain('Vehicles: 0 online, 1 offline');
  });

  it('/status: a vehicle is offline after GPS_OFFLINE_AFTER (60 s here) without a fix, as the device alerts judge it', async () => {
    // Two minutes silent: past GPS_OFFLINE_AFTER, within the five minutes once fixed in the code.
    await store.sql`INSERT INTO vehicle_positions (device_id, ts, lat, lon, source, received_at, last_seq)
      VALUES ('dev-status', now() - interval '2 minutes', 55.75, 37.61, 'test', now(), 0)`;
    try {
      expect(await say(chats.admin as number, '/status')).toContain('Vehicles: 2 online, 2 offline');
      await store.sql`UPDATE vehicle_positions SET ts = now() - interval '50 seconds' WHERE device_id = 'dev-status'`;
      expect(await say(chats.admin as number, '/status')).toContain('Vehicles: 3 online, 1 offline');
    } finally {
      await store.sql`DELETE FROM vehicle_positions WHERE device_id = 'dev-status'`;
    }
  });

  it('/status: gateway health and the last successful ERP sync per entity (staff only)', async () => {
    const before = await say(chats.admin as number, '/status');
    expect(before).toContain('Gateway: up');
    expect(before).toContain('Last ERP sync: never');
    const at = new Date('2026-03-01T09:30:00Z');
    for (const [id, entity, status] of [
      ['00000000-0000-4000-a000-000000000001', 'drivers', 'ok'],
      ['00000000-0000-4000-a000-000000000002', 'payments', 'failed'],
    ] as const) {
      await store.sql`INSERT INTO erp_sync_log (id, entity, direction, status, created_at, finished_at, updated_at, last_seq)
        VALUES (${id}, ${entity}, 'push', ${status}, ${at}, ${at}, ${at}, 0)`;
    }
    const after = await say(chats.admin as number, '/status');
    expect(after).toContain('Last ERP sync: drivers 01/03, 12:30');
    expect(after).not.toContain('payments');
    expect(await say(chats.company as number, '/status')).not.toContain('ERP');
  });

  it('/today: orders and revenue in scope', async () => {
    expect(await say(chats.admin as number, '/today')).toMatch(
      /Orders: 4 created, 1 completed, 1 cancelled\nRevenue: RUB\s?8,400\.00/,
    );
    expect(await say(chats.dispatcher as number, '/today', 'ru')).toContain('Уведомления: 1 отправлено, 0 с ошибкой');
    const company = await say(chats.company as number, '/today');
    expect(company).toContain('Orders: 3 created, 1 completed, 0 cancelled');
    expect(company).not.toContain('Notifications');
    expect(flat(company)).toContain('1,400.00');
    expect(await say(chats.d1 as number, '/today')).toContain('Orders: 2 created, 1 completed, 0 cancelled');
  });

  it('/drivers: paged with buttons for admin; a company sees its drivers, a driver only themself', async () => {
    const admin = await say(chats.admin as number, '/drivers');
    expect(admin).toContain('Drivers (page 1/2)');
    expect(admin).toMatch(/Anna: online, on an order/);
    expect(admin).toMatch(/Boris: last seen/);
    const chat = chats.admin as number;
    const msg = tg.messages.filter((m) => m.chatId === chat).at(-1);
    const edits = tg.edits.length;
    await deliver(callbackUpdate(chat, msg?.messageId as number, 'drv:1'));
    const edit = await until(() => tg.edits.slice(edits).find((x) => x.chatId === chat));
    expect(edit.text).toContain('Drivers (page 2/2)');
    const company = await say(chats.company as number, '/drivers');
    expect(company).toContain('Anna');
    expect(company).toContain('Boris');
    expect(company).not.toContain('Chen');
    const d2 = await say(chats.d2 as number, '/drivers');
    expect(d2).toContain('Boris');
    expect(d2).not.toContain('Anna');
  });

  it("/help in the user's language", async () => {
    expect(await say(chats.company as number, '/help')).toContain('/earnings — earnings');
    expect(await say(chats.company as number, '/help', 'ru')).toContain('/earnings — заработок');
  });
});

describe('updates', () => {
  it('acts on a repeated update once, even one that got past the log dedupe', async () => {
    const chat = await linkedChat({ userId: 'u-rep', role: 'admin' });
    const u = messageUpdate(chat, '/help');
    const seen = tg.messages.filter((m) => m.chatId === chat).length;
    await deliver(u);
    await deliver(u);
    // As if polling had fetched it too, under another message id: only telegram_bot_updates stops it.
    const again = polledUpdateEvent(u, new Date());
    await api.log.append(again.subject, again, { msgId: `test-repeat-${u.update_id}` });
    await replyTo(tg, chat, seen);
    await say(chat, '/help');
    expect(tg.messages.filter((m) => m.chatId === chat).length).toBe(seen + 2);
    const duplicates = (await metrics.telegramUpdates.get()).values.find((v) => v.labels.outcome === 'duplicate');
    expect(duplicates?.value).toBeGreaterThanOrEqual(1);
  });

  it('answers an update from before downtime "bot was offline" instead of acting on it', async () => {
    const chat = await linkedChat({ userId: 'u-old', role: 'admin' });
    const seen = tg.messages.filter((m) => m.chatId === chat).length;
    await deliver(messageUpdate(chat, '/stop', { date: Math.floor(Date.now() / 1000) - 3_600 }));
    expect((await replyTo(tg, chat, seen)).text).toContain('offline');
    expect(await say(chat, '/status')).toContain('Vehicles');
  });

  it('answers a chat in the order its updates came', async () => {
    const chat = await linkedChat({ userId: 'u-ord', role: 'admin' });
    const seen = tg.messages.filter((m) => m.chatId === chat).length;
    for (const cmd of ['/help', '/status', '/today', '/earnings', '/drivers']) await deliver(messageUpdate(chat, cmd));
    await replyTo(tg, chat, seen + 4);
    const texts = tg.messages
      .filter((m) => m.chatId === chat)
      .slice(seen)
      .map((m) => m.text.split('\n')[0]);
    expect(texts).toEqual([
      'Commands:',
      'Status',
      expect.stringMatching(/^Today/),
      expect.stringMatching(/^Earnings/),
      expect.stringMatching(/^Drivers/),
    ]);
  });

  it('refuses a wrong webhook secret and audits it', async () => {
    const res = await post('/webhooks/telegram', messageUpdate(1, '/status'), { 'x-telegram-bot-api-secret-token': 'wrong' });
    expect(res.status).toBe(401);
    const refused = await until(
      async () => (await store.sql`SELECT 1 FROM webhook_events WHERE provider = 'telegram' AND signature_valid = false`)[0],
    );
    expect(refused).toBeTruthy();
  });
});

describe('alerts', () => {
  const paymentFailed = (paymentId: string) =>
    newEvent({
      type: 'payment.failed',
      subject: `evt.payment.tx.${paymentId}`,
      source: 'test',
      data: { paymentId, reason: 'card declined', permanent: true },
    });

  /** Turns `kind` on with the /alerts buttons and waits for the projection to show it. */
  const subscribe = async (chat: number, kind: string) => {
    await say(chat, '/alerts');
    const msg = tg.messages.filter((m) => m.chatId === chat).at(-1);
    await deliver(callbackUpdate(chat, msg?.messageId as number, `alert:${kind}:on`));
    await until(
      async () =>
        (
          await store.sql`SELECT 1 FROM telegram_users WHERE chat_id = ${chat} AND preferences->'alerts'->${kind} = 'true'::jsonb`
        )[0],
      { what: `${kind} subscribed in chat ${chat}` },
    );
  };
  const texts = (chat: number, from = 0) =>
    tg.messages
      .filter((m) => m.chatId === chat)
      .slice(from)
      .map((m) => m.text);
  const count = (chat: number) => tg.messages.filter((m) => m.chatId === chat).length;

  it('reach a subscribed chat once, not an unsubscribed one; a company chat sees only its kinds', async () => {
    const sub = await linkedChat({ userId: 'u-al1', role: 'dispatcher' });
    const unsub = await linkedChat({ userId: 'u-al2', role: 'admin' });
    const company = await linkedChat({ userId: 'u-al3', role: 'company', companyId: 'c1' });
    const companyMenu = await say(company, '/alerts');
    expect(companyMenu).toContain('Payment failed');
    expect(companyMenu).toContain('Speeding');
    expect(companyMenu).not.toContain('Notification failed');
    expect(companyMenu).not.toContain('ERP sync failed');
    const menu = await say(sub, '/alerts');
    expect(menu).toContain('🔕 Payment failed');
    const msg = tg.messages.filter((m) => m.chatId === sub).at(-1);
    const edits = tg.edits.length;
    await deliver(callbackUpdate(sub, msg?.messageId as number, 'alert:payment_failed:on'));
    expect((await until(() => tg.edits.slice(edits).find((x) => x.chatId === sub))).text).toContain('🔔 Payment failed');
    await until(
      async () =>
        (
          await store.sql`SELECT 1 FROM telegram_users WHERE chat_id = ${sub} AND preferences->'alerts'->'payment_failed' = 'true'::jsonb`
        )[0],
    );
    const before = {
      sub: tg.messages.filter((m) => m.chatId === sub).length,
      unsub: tg.messages.filter((m) => m.chatId === unsub).length,
    };
    const e = paymentFailed('pay-alert-1');
    await api.log.append(e.subject, e);
    // The same alert again (a redelivery under another message id): still one message.
    await api.log.append(e.subject, e, { msgId: 'test-alert-repeat' });
    const got = await replyTo(tg, sub, before.sub);
    expect(got.text).toContain('Payment pay-alert-1 failed: card declined');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(tg.messages.filter((m) => m.chatId === sub).length).toBe(before.sub + 1);
    expect(tg.messages.filter((m) => m.chatId === unsub).length).toBe(before.unsub);
  });

  it('100 alerts in a second to one chat arrive as a handful of messages, none lost', async () => {
    const chat = await linkedChat({ userId: 'u-burst', role: 'admin' });
    await say(chat, '/alerts');
    const msg = tg.messages.filter((m) => m.chatId === chat).at(-1);
    await deliver(callbackUpdate(chat, msg?.messageId as number, 'alert:payment_failed:on'));
    await until(
      async () =>
        (
          await store.sql`SELECT 1 FROM telegram_users WHERE chat_id = ${chat} AND preferences->'alerts'->'payment_failed' = 'true'::jsonb`
        )[0],
    );
    const before = tg.messages.filter((m) => m.chatId === chat).length;
    const events = Array.from({ length: 100 }, (_, i) => paymentFailed(`burst-${i}`));
    for (const e of events) await api.log.append(e.subject, e);
    const counted = () =>
      tg.messages
        .filter((m) => m.chatId === chat)
        .slice(before)
        .reduce((n, m) => n + (/^(\d+) alerts/.exec(m.text) ? Number(/^(\d+) alerts/.exec(m.text)?.[1]) : 1), 0);
    await until(() => counted() >= 100, { what: 'all 100 alerts accounted for', timeoutMs: 20_000 });
    const sent = tg.messages.filter((m) => m.chatId === chat).slice(before);
    expect(sent.length).toBeLessThanOrEqual(6);
    expect(counted()).toBe(100);
  });

  it("device offline and back, and speeding: events first, then the chats of the vehicle's company and driver only", async () => {
    const company = await linkedChat({ userId: 'u-dev-c1', role: 'company', companyId: 'c1' });
    const driver = await linkedChat({ userId: 'u-dev-d1', role: 'driver', driverId: 'd1' });
    const otherCompany = await linkedChat({ userId: 'u-dev-c2', role: 'company', companyId: 'c2' });
    for (const c of [company, driver, otherCompany]) {
      await subscribe(c, 'device_offline');
      await subscribe(c, 'speeding');
    }
    const from = { company: count(company), driver: count(driver), other: count(otherCompany) };
    // dev1 (vehicle v1: company c1, driver d1) goes silent past GPS_OFFLINE_AFTER (60 s) …
    await store.sql`UPDATE vehicle_positions SET ts = now() - interval '5 minutes', speed = 0 WHERE device_id = 'dev1'`;
    await until(() => texts(company, from.company).some((t) => t.includes('dev1 is offline')), { what: 'offline alert' });
    // … and reports again.
    await store.sql`UPDATE vehicle_positions SET ts = now() WHERE device_id = 'dev1'`;
    await until(() => texts(company, from.company).some((t) => t.includes('dev1 is back online')), { what: 'online alert' });
    // Over 100 km/h for at least 10 s: one speeding episode.
    const t0 = Date.now();
    await store.sql`UPDATE vehicle_positions SET ts = ${new Date(t0)}, speed = 130 WHERE device_id = 'dev1'`;
    await new Promise((r) => setTimeout(r, 300));
    await store.sql`UPDATE vehicle_positions SET ts = ${new Date(t0 + 12_000)}, speed = 142 WHERE device_id = 'dev1'`;
    await until(() => texts(driver, from.driver).some((t) => t.includes('Speeding: dev1 at 142 km/h')), {
      what: 'speeding alert',
      timeoutMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 1_500));
    const events = (await api.log.read('EVENTS', 10_000, { filterSubject: 'evt.alert.devices' }))
      .flatMap((m) => m.events)
      .filter((e) => (e.data as { deviceId: string }).deviceId === 'dev1')
      .map((e) => e.type);
    expect(events).toEqual(['alert.device_offline', 'alert.device_online', 'alert.speeding']);
    const all = (c: number, f: number) => texts(c, f).join('\n');
    for (const [c, f] of [
      [company, from.company],
      [driver, from.driver],
    ] as const) {
      expect(all(c, f).match(/dev1 is offline/g)).toHaveLength(1);
      expect(all(c, f).match(/dev1 is back online/g)).toHaveLength(1);
      expect(all(c, f).match(/Speeding: dev1/g)).toHaveLength(1);
    }
    expect(texts(otherCompany, from.other)).toEqual([]);
  });

  it('a failed ERP sync and a dead-lettered notification reach staff, not a company chat', async () => {
    const admin = await linkedChat({ userId: 'u-ops', role: 'admin' });
    await subscribe(admin, 'erp_sync_failed');
    await subscribe(admin, 'notification_dead_lettered');
    const from = count(admin);
    const failed = newEvent({
      type: 'erp.sync_failed',
      subject: 'evt.erp.runs',
      source: 'test',
      // A run id as the ERP engine makes them (erp_sync_log keys runs by uuid: anything else stops its projection).
      data: { runId: '00000000-0000-4000-b000-000000000001', entity: 'drivers', direction: 'push', error: '1C answered 401' },
    });
    await api.log.append(failed.subject, failed);
    await until(() => texts(admin, from).some((t) => t.includes('ERP sync (drivers, push) failed: 1C answered 401')), {
      what: 'ERP alert',
    });
    const command = newEvent({ type: 'sms.requested', subject: 'cmd.sms.normal', source: 'test', data: {} as never });
    await api.log.append('dlq.sms-normal', command, {
      headers: {
        'fg-dlq-stream': 'EVENTS',
        'fg-dlq-seq': '1',
        'fg-dlq-subject': 'cmd.sms.normal',
        'fg-dlq-consumer': 'sms-normal',
        'fg-dlq-deliveries': '5',
        'fg-dlq-reason': 'provider down',
        'fg-dlq-at': new Date().toISOString(),
      },
    });
    await until(() => texts(admin, from).some((t) => /sms notification was dead-lettered .*provider down/.test(t)), {
      what: 'dead-letter alert',
      timeoutMs: 10_000,
    });
    // /alerts lists them, newest first.
    const menu = await say(admin, '/alerts');
    expect(menu).toContain('Latest alerts:');
    expect(menu.indexOf('dead-lettered')).toBeLessThan(menu.indexOf('ERP sync (drivers'));
  });

  it("keeps the global rate: 80 chats with an alert each get it within Telegram's 30 messages a second", async () => {
    const chats: number[] = [];
    for (let i = 0; i < 80; i++) {
      const c = ++nextChat;
      tg.chats.add(c);
      chats.push(c);
    }
    // Linked and subscribed as the projection leaves them (80 link flows would only slow the test).
    for (const c of chats)
      await store.sql`INSERT INTO telegram_users (chat_id, user_id, role, linked_at, created_at, updated_at, last_seq, preferences)
        VALUES (${c}, ${`u-rate-${c}`}, 'admin', now(), now(), now(), 0, ${store.sql.json({ alerts: { erp_sync_failed: true } })})`;
    const e = newEvent({
      type: 'erp.sync_failed',
      subject: 'evt.erp.runs',
      source: 'test',
      data: { runId: '00000000-0000-4000-b000-000000000002', entity: 'payments', direction: 'pull', error: 'timeout after 30 s' },
    });
    await api.log.append(e.subject, e);
    const got = () => tg.messages.filter((m) => chats.includes(m.chatId) && m.text.includes('payments, pull'));
    await until(() => got().length >= 80, { what: 'the alert in all 80 chats', timeoutMs: 20_000 });
    const at = got()
      .map((m) => m.at)
      .sort((a, b) => a - b);
    // The budget is a tenth of the limit per tenth of a second: any one-second window holds at
    // most 33 of them (a little more here for the fake's clock, stamped on arrival).
    const maxInWindow = Math.max(...at.map((t, i) => at.filter((u, j) => j >= i && u < t + 1_000).length));
    expect(maxInWindow).toBeLessThanOrEqual(36);
    expect((at.at(-1) ?? 0) - (at[0] ?? 0)).toBeGreaterThanOrEqual(2_000);
    expect(new Set(got().map((m) => m.chatId)).size).toBe(80);
  });

  it('alerts accepted before a crash are sent by the next process (the outbox is in Postgres)', async () => {
    const chat = await linkedChat({ userId: 'u-crash', role: 'admin' });
    tg.chats.add(chat);
    await alertRunner.stop();
    // What a process leaves when it dies after accepting and before sending.
    for (let i = 0; i < 5; i++)
      await store.sql`INSERT INTO telegram_alerts_sent (alert_id, chat_id, kind, text, language)
        VALUES (${`crash-${i}`}, ${chat}, 'payment_failed', ${`⚠️ Payment crash-${i} failed: test`}, 'en')`;
    const from = count(chat);
    const again = buildTelegramBotHandlers({ config: api.config, logger: silentLogger(), log: api.log, sql: store.sql });
    alertRunner = await startHandler(api.log, again.alerts);
    const summary = await replyTo(tg, chat, from);
    expect(summary.text).toMatch(/^5 alerts/);
    for (let i = 0; i < 5; i++) expect(summary.text).toContain(`Payment crash-${i} failed`);
  });
});
