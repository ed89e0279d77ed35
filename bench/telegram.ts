/**
 * `npm run bench -- telegram`: `--chats` linked chats (200) sending commands (/status, /today,
 * /earnings, /drivers, /help in turn) at `--rate` updates/s (100) for `--seconds` (30) through
 * `POST /webhooks/telegram` of the real gateway process (`fleetgate start --roles
 * api,projections,handlers`, embedded log on Postgres, live bot pointed at the Bot API fake in
 * this process). p50/p99 update posted → reply received by the fake (target p99 300 ms, issue 16);
 * every update must get exactly one reply, in order per chat. The chats and commands are a fixed
 * rotation, not random: the seed is recorded only for the run's shape.
 */
import { join } from 'node:path';
import postgres from 'postgres';
import { startFakeTelegram } from '../test/fakes/telegram.js';
import { BOT_TOKEN, messageUpdate, seedFleet } from '../test/handlers/telegramBotHarness.js';
import { startGateway, stop } from './api.js';
import { benchSeed, figure, percentileSeries, rateSeries, type Sample, series } from './report/figures.js';
import type { BenchResult } from './results.js';
import { createScratchDatabase, fmtInt, fmtMs, table, tempDir } from './support.js';

const SECRET = 'bench-telegram-secret';
const COMMANDS = ['/status', '/today', '/earnings', '/drivers', '/help'];
const arg = (args: string[], name: string, def: number) =>
  Number(args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? def);
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number) : Number.NaN;
};

export const runTelegramBench = async (args: string[]): Promise<BenchResult> => {
  const startedAt = new Date();
  const chats = arg(args, 'chats', 200);
  const rate = arg(args, 'rate', 100);
  const seconds = arg(args, 'seconds', 30);
  const count = rate * seconds;
  const tg = await startFakeTelegram({ token: BOT_TOKEN });
  const db = await createScratchDatabase('fg_bench_telegram');
  const dir = await tempDir('fg-bench-telegram-');
  const g = await startGateway(
    {
      DATABASE_URL: db.url,
      DATA_DIR: join(dir.dir, 'data'),
      TELEGRAM_TEST_MODE: 'false',
      TELEGRAM_BOT_TOKEN: BOT_TOKEN,
      TELEGRAM_API_URL: tg.url,
      TELEGRAM_WEBHOOK_ENABLED: 'true',
      TELEGRAM_WEBHOOK_SECRET: SECRET,
      WEBHOOK_RATE_LIMIT_PER_IP: '0',
      HANDLER_CONCURRENCY: process.env.HANDLER_CONCURRENCY ?? '64',
    },
    'api,projections,handlers',
  );
  const sql = postgres(db.url, { max: 2, onnotice: () => {} });
  const sentAt = new Map<number, number[]>();
  let errors = 0;
  try {
    // The fleet and the links as their projections would leave them: half dispatchers, half drivers.
    await seedFleet(sql);
    const now = new Date().toISOString();
    for (let c = 0; c < chats; c++) {
      const driver = c % 2 === 1;
      await sql`INSERT INTO telegram_users (chat_id, user_id, role, driver_id, company_id, language, linked_at, created_at, updated_at, last_seq)
        VALUES (${100_000 + c}, ${`bench-${c}`}, ${driver ? 'driver' : 'dispatcher'}, ${driver ? 'd1' : null}, ${driver ? 'c1' : null},
                ${c % 3 === 0 ? 'ru' : 'en'}, ${now}, ${now}, ${now}, 0)`;
      tg.chats.add(100_000 + c);
    }
    const start = performance.now();
    const wallStart = Date.now();
    const posts: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const chat = 100_000 + (i % chats);
      const update = messageUpdate(chat, COMMANDS[Math.floor(i / chats) % COMMANDS.length] as string, {
        lang: chat % 3 === 0 ? 'ru' : 'en',
      });
      const list = sentAt.get(chat) ?? [];
      list.push(Date.now());
      sentAt.set(chat, list);
      posts.push(
        fetch(`${g.url}/webhooks/telegram`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
          body: JSON.stringify(update),
        }).then(
          async (r) => {
            await r.arrayBuffer();
            if (r.status !== 200) errors++;
          },
          () => void errors++,
        ),
      );
    }
    await Promise.all(posts);
    const deadline = Date.now() + 30_000;
    while (tg.messages.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // The k-th reply of a chat answers its k-th update (the bot keeps a chat's order).
    const latencies: number[] = [];
    /** When each reply arrived (ms since the first post) and its latency: p99 over time. */
    const timeline: Sample[] = [];
    let missing = 0;
    let extra = 0;
    for (const [chat, times] of sentAt) {
      const replies = tg.messages.filter((m) => m.chatId === chat);
      times.forEach((t, k) => {
        const r = replies[k];
        if (r) {
          latencies.push(r.at - t);
          timeline.push([r.at - wallStart, r.at - t]);
        } else missing++;
      });
      extra += Math.max(0, replies.length - times.length);
    }
    console.log(
      `\ntelegram bench: ${fmtInt(count)} updates from ${chats} chats at ${rate}/s through the webhook, embedded log on Postgres\n`,
    );
    console.log(
      table(
        ['phase', 'replies', 'errors', 'missing', 'extra', 'p50', 'p99', 'max', 'target p99'],
        [
          [
            'update posted → reply at the Bot API',
            fmtInt(latencies.length),
            errors,
            missing,
            extra,
            fmtMs(pct(latencies, 50)),
            fmtMs(pct(latencies, 99)),
            fmtMs(pct(latencies, 100)),
            '300 ms',
          ],
        ],
      ),
    );
    const p99 = pct(latencies, 99);
    return {
      bench: 'telegram',
      seed: benchSeed(),
      startedAt: startedAt.toISOString(),
      durationS: (Date.now() - startedAt.getTime()) / 1000,
      options: { chats, rate, seconds },
      figures: [
        figure({
          key: 'telegram.reply.p99_ms',
          label: `p99 update → reply at ${rate}/s`,
          value: p99,
          unit: 'ms',
          target: { kind: 'bound', atMost: 300, text: 'p99 < 300 ms (issue 16)' },
          note: `p50 ${fmtMs(pct(latencies, 50))} ms, max ${fmtMs(pct(latencies, 100))} ms`,
        }),
        {
          key: 'telegram.replies_per_s',
          label: 'replies/s',
          value: latencies.length / (timeline.reduce((a, [at]) => Math.max(a, at), 1) / 1000),
          unit: 'replies/s',
        },
        { key: 'telegram.missing', label: 'missing replies', value: missing, unit: 'replies' },
        { key: 'telegram.extra', label: 'extra replies', value: extra, unit: 'replies' },
      ],
      series: [
        series({
          key: 'telegram.reply.p99',
          label: 'p99 update → reply, per second',
          unit: 'ms',
          points: percentileSeries(timeline, 0, 99),
        }),
        series({ key: 'telegram.replies', label: 'replies per second', unit: 'replies/s', points: rateSeries(timeline, 0) }),
      ],
      notes: [
        `${fmtInt(count)} updates from ${chats} chats at ${rate}/s through POST /webhooks/telegram; gateway process (api, projections, handlers), embedded log on Postgres, Bot API fake in the bench process.`,
        ...(errors ? [`${errors} webhook posts not answered 200`] : []),
      ],
      correct: errors === 0 && missing === 0 && extra === 0,
    };
  } finally {
    await sql.end({ timeout: 5 });
    await stop(g.child);
    await tg.close();
    await db.drop();
    await dir.remove();
  }
};
