import type { Sql } from '../../core/stores/postgres.js';
import type { FakeTelegram } from '../fakes/telegram.js';
import { until } from '../support/until.js';

export const BOT_TOKEN = '7000000001:AAH-fake_bot_token_for_tests_0123456789';

let nextUpdate = 1_000;
let nextMessage = 1;

/** A private-chat message as Telegram sends it; a leading /command gets its bot_command entity (grammy matches on it). */
export const messageUpdate = (chatId: number, text: string, o: { lang?: string; date?: number; updateId?: number } = {}) => {
  const cmd = /^\/\w+/.exec(text);
  return {
    update_id: o.updateId ?? ++nextUpdate,
    message: {
      message_id: nextMessage++,
      from: { id: chatId, is_bot: false, first_name: 'Test', ...(o.lang ? { language_code: o.lang } : {}) },
      chat: { id: chatId, type: 'private', first_name: 'Test' },
      date: o.date ?? Math.floor(Date.now() / 1000),
      text,
      ...(cmd ? { entities: [{ type: 'bot_command', offset: 0, length: cmd[0].length }] } : {}),
    },
  };
};

/** A press of an inline button under the bot's message `messageId`. */
export const callbackUpdate = (chatId: number, messageId: number, data: string, lang?: string) => ({
  update_id: ++nextUpdate,
  callback_query: {
    id: `cb${nextUpdate}`,
    from: { id: chatId, is_bot: false, first_name: 'Test', ...(lang ? { language_code: lang } : {}) },
    chat_instance: 'ci',
    data,
    message: { message_id: messageId, date: Math.floor(Date.now() / 1000), chat: { id: chatId, type: 'private' }, text: 'x' },
  },
});

/** The bot's next reply to the chat after the first `seen` ones. */
export const replyTo = (tg: FakeTelegram, chatId: number, seen: number) =>
  until(() => tg.messages.filter((m) => m.chatId === chatId)[seen], { what: `reply #${seen + 1} to chat ${chatId}` });

/**
 * The read models the commands read, as their projections would leave them: two companies,
 * drivers d1, d2 (c1) and d3 (c2) with a vehicle each, orders and payments of today.
 */
export const seedFleet = async (sql: Sql, now = new Date()) => {
  const t = now.toISOString();
  const hourAgo = new Date(now.getTime() - 3_600_000).toISOString();
  const rec = (table: string, id: string, f: Record<string, unknown>) => ({
    id,
    version: 1,
    deleted: false,
    status: null,
    company_id: null,
    driver_id: null,
    vehicle_id: null,
    name: null,
    source: 'crm',
    occurred_at: t,
    changed_at: t,
    last_seq: 0,
    ...f,
    _table: table,
  });
  const rows = [
    rec('drivers', 'd1', { company_id: 'c1', name: 'Anna' }),
    rec('drivers', 'd2', { company_id: 'c1', name: 'Boris' }),
    rec('drivers', 'd3', { company_id: 'c2', name: 'Chen' }),
    ...Array.from({ length: 8 }, (_, i) => rec('drivers', `dx${i}`, { company_id: 'c2', name: `Zed ${i}` })),
    rec('applications', 'a1', { company_id: 'c1', driver_id: 'd1', status: 'completed' }),
    rec('applications', 'a2', { company_id: 'c1', driver_id: 'd2', status: 'new' }),
    rec('applications', 'a3', { company_id: 'c2', driver_id: 'd3', status: 'cancelled' }),
    rec('applications', 'a4', { company_id: 'c1', driver_id: 'd1', status: 'in_progress' }),
  ];
  for (const { _table, ...r } of rows) await sql`INSERT INTO ${sql(_table)} ${sql(r)}`;
  for (const [id, driver, company, dev] of [
    ['v1', 'd1', 'c1', 'dev1'],
    ['v2', 'd2', 'c1', 'dev2'],
    ['v3', 'd3', 'c2', 'dev3'],
  ] as const) {
    const { _table, ...r } = rec('vehicles', id, { driver_id: driver, company_id: company });
    await sql`INSERT INTO vehicles ${sql({ ...r, gps_device_ids: [dev] })}`;
  }
  for (const [dev, ts] of [
    ['dev1', t],
    ['dev2', hourAgo],
    ['dev3', t],
  ] as const) {
    await sql`INSERT INTO vehicle_positions (device_id, ts, lat, lon, source, received_at, last_seq)
      VALUES (${dev}, ${ts}, 55.75, 37.61, 'test', ${ts}, 0)`;
  }
  let n = 0;
  for (const [order, amount, refunded] of [
    ['a1', 100_000, 10_000],
    ['a2', 50_000, 0],
    ['a3', 700_000, 0],
  ] as const) {
    n++;
    await sql`INSERT INTO payment_transactions (id, order_id, provider, amount_minor, captured_minor, refunded_minor, currency, status, created_at, paid_at, updated_at, last_seq)
      VALUES (${`00000000-0000-4000-8000-00000000000${n}`}, ${order}, 'yookassa', ${amount}, ${amount}, ${refunded}, 'RUB', 'succeeded', ${t}, ${t}, ${t}, 0)`;
  }
  for (const [i, channel, status] of [
    [1, 'sms', 'queued'],
    [2, 'sms', 'queued'],
    [3, 'email', 'retrying'],
    [4, 'email', 'sent'],
  ] as const) {
    await sql`INSERT INTO notification_queue (id, channel, status, created_at, updated_at, last_seq)
      VALUES (${`00000000-0000-4000-9000-00000000000${i}`}, ${channel}, ${status}, ${t}, ${t}, 0)`;
  }
};
