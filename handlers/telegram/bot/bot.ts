import { Bot, type Context, InlineKeyboard } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { Logger } from '../../../core/logger.js';
import { metrics } from '../../../core/metrics.js';
import { claimLinkCode, findLinkCode, linkedTelegramChat, type TelegramUserRow } from '../../../core/readModels/telegramUsers.js';
import type { ResultEvent } from '../../../core/runners/handlerRunner.js';
import type { Sql } from '../../../core/stores/postgres.js';
import { linkCodeDigest } from '../../../core/telegram/linkCodes.js';
import { withoutTrailingSlashes } from '../../../core/text/trailingSlashes.js';
import {
  TELEGRAM_ALERT_KINDS,
  type TELEGRAM_LINK_CODE_REQUESTED,
  TELEGRAM_LINKS_SUBJECT,
  TELEGRAM_RESULTS_SUBJECT,
  type TelegramAlertKind,
  telegramEvents,
} from '../../../schemas/events/telegram.js';
import { latestAlerts, roleMayGet } from './alertOutbox.js';
import { attemptsExhausted, recordFailedAttempt } from './attempts.js';
import {
  DRIVERS_PAGE_SIZE,
  driversPage,
  earnings,
  lastErpSyncs,
  type Money,
  type Period,
  statusFigures,
  todayFigures,
} from './queries.js';
import { type Scope, scopeOf } from './scope.js';
import { formatDate, formatDateTime, formatMoney, formatNumber, type Lang, langOf, startOfDay, texts } from './texts.js';

/** What one update's handling adds to the context: who the chat is, and the events it causes. */
export interface BotFlavor {
  fg: { results: ResultEvent[]; user: TelegramUserRow | undefined; lang: Lang };
}
export type BotContext = Context & BotFlavor;

export interface BotLogicDeps {
  sql: Sql;
  logger: Logger;
  timeZone: string;
  /** A vehicle (and its driver) is offline after this long without a fix: `GPS_OFFLINE_AFTER`, as the device alerts use it. */
  offlineAfterMs: number;
  now?: () => Date;
  /** The list an update's events go to (the handler's, by update id); a fresh one otherwise. */
  resultsFor?: (updateId: number) => ResultEvent[] | undefined;
  /** What of the gateway is not ready as this process sees it (log, Postgres, ClickHouse); empty: all is. */
  health?: () => Promise<string[]>;
  /** Kilometres driven by the scope's vehicles in [from, to] (ClickHouse); undefined where there is no GPS history. */
  distanceKm?: (s: Scope, from: Date, to: Date) => Promise<number>;
}

const { defs } = telegramEvents;

/**
 * Links made or ended in this process, until the projection has folded them: the next command
 * from the same chat may arrive before `telegram_users` shows the link.
 */
const recentLinks = () => {
  const m = new Map<number, { row: TelegramUserRow | undefined; until: number }>();
  return {
    get(chatId: number, now: number) {
      const e = m.get(chatId);
      if (e && e.until > now) return e;
      m.delete(chatId);
      return undefined;
    },
    set(chatId: number, row: TelegramUserRow | undefined, now: number) {
      if (m.size > 10_000) m.clear();
      m.set(chatId, { row, until: now + 60_000 });
    },
  };
};

const money = (lang: Lang, list: Money[]) =>
  list.length === 0 ? formatMoney(lang, 0, 'RUB') : list.map((m) => formatMoney(lang, m.minor, m.currency)).join(', ');

const earningsKeyboard = (lang: Lang) =>
  new InlineKeyboard()
    .text(texts(lang).periods.today, 'earn:today')
    .text(texts(lang).periods.week, 'earn:week')
    .text(texts(lang).periods.month, 'earn:month');

/** The bot's behaviour, whatever carries the updates (webhook or polling) and the replies (Bot API or test mode). */
/**
 * The command `/start CODE` carries out: the API appends it, the bot redeems it. Checked against
 * its declaration so a renamed type fails to compile here.
 */
export const LINK_CODE_COMMAND = 'telegram.link_code_requested' satisfies typeof TELEGRAM_LINK_CODE_REQUESTED;

export const installBotLogic = (bot: Bot<BotContext>, deps: BotLogicDeps) => {
  const now = deps.now ?? (() => new Date());
  const links = recentLinks();
  // Toggles made here, until the projection shows them (bounded: one small record per chat).
  const alertOverrides = new Map<number, Partial<Record<TelegramAlertKind, boolean>>>();
  const { sql, timeZone } = deps;

  bot.use(async (ctx, next) => {
    const chatId = ctx.chat?.id;
    const cached = chatId === undefined ? undefined : links.get(chatId, now().getTime());
    const user = chatId === undefined ? undefined : cached ? cached.row : await linkedTelegramChat(sql, chatId);
    ctx.fg = {
      results: deps.resultsFor?.(ctx.update.update_id) ?? [],
      user,
      lang: langOf(ctx.from?.language_code ?? user?.language),
    };
    await next();
  });

  bot.command('start', async (ctx) => {
    const t = texts(ctx.fg.lang);
    const chatId = ctx.chat.id;
    const code = ctx.match.trim();
    if (!code) return void (await ctx.reply(ctx.fg.user ? t.help : t.unlinked));
    const at = now();
    if (await attemptsExhausted(sql, chatId, at)) {
      metrics.telegramLinkRefusals.inc({ reason: 'locked' });
      return void (await ctx.reply(t.tooManyAttempts));
    }
    // The code's `LINK_CODE_COMMAND` (appended by the API, folded into `telegram_link_codes` by
    // the telegram_users projection) is redeemed here.
    const digest = linkCodeDigest(code);
    const row = await findLinkCode(sql, digest);
    const refuse = async (text: string) => {
      metrics.telegramLinkRefusals.inc({ reason: text === t.codeWrong ? 'wrong' : text === t.codeExpired ? 'expired' : 'used' });
      await recordFailedAttempt(sql, chatId, at);
      await ctx.reply(text);
    };
    if (!row) return refuse(t.codeWrong);
    // Taken by this very chat: the same update again after a crash before its reply was sent
    // (or the user repeating it), which links the chat to the same user again.
    const mine = row.used_at !== null && row.used_by_chat === String(chatId);
    if (row.used_at && !mine) return refuse(t.codeUsed);
    if (!mine && row.expires_at.getTime() <= at.getTime()) return refuse(t.codeExpired);
    if (!mine && !(await claimLinkCode(sql, digest, chatId, at))) return refuse(t.codeUsed);
    const from = ctx.from;
    ctx.fg.results.push({
      subject: TELEGRAM_LINKS_SUBJECT,
      type: defs.linked.type,
      data: {
        chatId,
        userId: row.user_id,
        role: row.role,
        codeSha256: digest,
        ...(row.company_id ? { companyId: row.company_id } : {}),
        ...(row.driver_id ? { driverId: row.driver_id } : {}),
        ...(from?.username ? { username: from.username.slice(0, 64) } : {}),
        ...(from?.first_name ? { firstName: from.first_name.slice(0, 256) } : {}),
        ...(from?.language_code ? { language: from.language_code.slice(0, 16) } : {}),
      },
    });
    links.set(
      chatId,
      {
        chat_id: String(chatId),
        user_id: row.user_id,
        role: row.role,
        company_id: row.company_id,
        driver_id: row.driver_id,
        language: from?.language_code ?? null,
        preferences: {},
        linked_at: at,
        unlinked_at: null,
        blocked_at: null,
      },
      at.getTime(),
    );
    deps.logger.info({ chatId, userId: row.user_id, role: row.role }, 'telegram chat linked');
    await ctx.reply(t.linked(row.role));
  });

  bot.command('stop', async (ctx) => {
    const t = texts(ctx.fg.lang);
    const user = ctx.fg.user;
    if (!user) return void (await ctx.reply(t.unlinked));
    ctx.fg.results.push({
      subject: TELEGRAM_LINKS_SUBJECT,
      type: defs.unlinked.type,
      data: { chatId: ctx.chat.id, ...(user.user_id ? { userId: user.user_id } : {}) },
    });
    links.set(ctx.chat.id, undefined, now().getTime());
    await ctx.reply(t.stopped);
  });

  // The user blocked the bot (or removed it from a group): the same fact a 403 on sending records.
  bot.on('my_chat_member', (ctx) => {
    const status = ctx.myChatMember.new_chat_member.status;
    if (status !== 'kicked' && status !== 'left') return;
    ctx.fg.results.push({
      subject: TELEGRAM_RESULTS_SUBJECT,
      type: defs.chatBlocked.type,
      data: {
        chatId: ctx.myChatMember.chat.id,
        description: `my_chat_member: ${status}`,
        ...(ctx.fg.user?.user_id ? { userId: ctx.fg.user.user_id } : {}),
      },
    });
  });

  // Everything below needs a linked chat with a role that has a scope: others get instructions, no data.
  bot
    .filter((ctx) => ctx.fg.user === undefined)
    .on(['message', 'callback_query'], async (ctx) => {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery();
      await ctx.reply(texts(ctx.fg.lang).unlinked);
    });
  const scoped = bot.filter((ctx) => ctx.fg.user !== undefined);
  const withScope = (ctx: BotContext): Scope | undefined => (ctx.fg.user ? scopeOf(ctx.fg.user) : undefined);

  scoped.command('help', (ctx) => ctx.reply(texts(ctx.fg.lang).help));

  scoped.command('status', async (ctx) => {
    const t = texts(ctx.fg.lang);
    const s = withScope(ctx);
    if (!s) return void (await ctx.reply(t.notAllowed));
    const [f, problems, erp] = await Promise.all([
      statusFigures(sql, s, now(), deps.offlineAfterMs),
      deps.health ? deps.health() : Promise.resolve([]),
      s.kind === 'all' ? lastErpSyncs(sql) : Promise.resolve(undefined),
    ]);
    const lines = [t.statusTitle, problems.length === 0 ? t.gatewayOk : t.gatewayDegraded(problems.join(', '))];
    if (f.queue) {
      lines.push(f.queue.length === 0 ? t.queueEmpty : `${t.queue}: ${f.queue.map((q) => `${q.channel} ${q.depth}`).join(', ')}`);
    }
    lines.push(t.vehicles(f.vehiclesOnline, f.vehiclesOffline));
    if (s.kind === 'all') {
      const syncs = erp ?? [];
      lines.push(
        `${t.erpSync}: ${
          syncs.length === 0 ? t.never : syncs.map((e) => `${e.entity} ${formatDateTime(ctx.fg.lang, e.at, timeZone)}`).join(', ')
        }`,
      );
    }
    await ctx.reply(lines.join('\n'));
  });

  scoped.command('today', async (ctx) => {
    const t = texts(ctx.fg.lang);
    const s = withScope(ctx);
    if (!s) return void (await ctx.reply(t.notAllowed));
    const at = now();
    const [f, km] = await Promise.all([
      todayFigures(sql, s, at, timeZone),
      deps.distanceKm
        ? deps.distanceKm(s, startOfDay(at, timeZone), at).catch((err: unknown) => {
            deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'distance from ClickHouse failed');
            return undefined;
          })
        : Promise.resolve(undefined),
    ]);
    await ctx.reply(
      [
        t.todayTitle(formatDate(ctx.fg.lang, at, timeZone)),
        t.apps(f.created, f.completed, f.cancelled),
        `${t.revenue}: ${money(ctx.fg.lang, f.revenue)}`,
        km === undefined ? t.distanceUnknown : t.distance(formatNumber(ctx.fg.lang, km)),
        ...(f.notifications ? [t.notifications(f.notifications.sent, f.notifications.failed)] : []),
      ].join('\n'),
    );
  });

  const driversMessage = async (ctx: BotContext, s: Scope, page: number) => {
    const lang = ctx.fg.lang;
    const t = texts(lang);
    const at = now();
    const { lines, total } = await driversPage(sql, s, page);
    const pages = Math.max(1, Math.ceil(total / DRIVERS_PAGE_SIZE));
    if (total === 0) return { text: t.noDrivers, keyboard: undefined };
    const text = [
      t.driversTitle(page + 1, pages),
      ...lines.map((d) => {
        const online = d.lastSeen !== null && at.getTime() - d.lastSeen.getTime() <= deps.offlineAfterMs;
        const seen = d.lastSeen ? formatDateTime(lang, d.lastSeen, timeZone) : t.never;
        return `${online ? '🟢' : '⚪️'} ${d.name ?? d.id}: ${online ? t.online : `${t.lastSeen} ${seen}`}${d.onOrder ? `, ${t.onOrder}` : ''}`;
      }),
    ].join('\n');
    const keyboard = new InlineKeyboard();
    if (page > 0) keyboard.text(t.prev, `drv:${page - 1}`);
    if (page + 1 < pages) keyboard.text(t.next, `drv:${page + 1}`);
    return { text, keyboard: pages > 1 ? keyboard : undefined };
  };

  scoped.command('drivers', async (ctx) => {
    const s = withScope(ctx);
    if (!s) return void (await ctx.reply(texts(ctx.fg.lang).notAllowed));
    const m = await driversMessage(ctx, s, 0);
    await ctx.reply(m.text, m.keyboard ? { reply_markup: m.keyboard } : {});
  });
  scoped.callbackQuery(/^drv:(\d{1,4})$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const s = withScope(ctx);
    if (!s) return;
    const m = await driversMessage(ctx, s, Number(ctx.match[1]));
    await ctx.editMessageText(m.text, m.keyboard ? { reply_markup: m.keyboard } : {});
  });

  const earningsText = async (ctx: BotContext, s: Scope, period: Period) => {
    const t = texts(ctx.fg.lang);
    const list = await earnings(sql, s, period, now(), timeZone);
    return `${t.earningsTitle(t.periods[period])}: ${money(ctx.fg.lang, list)}`;
  };
  scoped.command('earnings', async (ctx) => {
    const s = withScope(ctx);
    if (!s) return void (await ctx.reply(texts(ctx.fg.lang).notAllowed));
    await ctx.reply(await earningsText(ctx, s, 'today'), { reply_markup: earningsKeyboard(ctx.fg.lang) });
  });
  scoped.callbackQuery(/^earn:(today|week|month)$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const s = withScope(ctx);
    if (!s) return;
    const text = await earningsText(ctx, s, ctx.match[1] as Period);
    await ctx.editMessageText(text, { reply_markup: earningsKeyboard(ctx.fg.lang) });
  });

  const alertsMessage = (lang: Lang, role: string | null, subscribed: ReadonlySet<TelegramAlertKind>, latest: string[]) => {
    const t = texts(lang);
    const keyboard = new InlineKeyboard();
    const kinds = TELEGRAM_ALERT_KINDS.filter((k) => roleMayGet(role, k));
    for (const kind of kinds) {
      const on = subscribed.has(kind);
      keyboard.text(`${on ? '🔔' : '🔕'} ${t.alertKinds[kind]}`, `alert:${kind}:${on ? 'off' : 'on'}`).row();
    }
    const lines = kinds.map((k) => `${subscribed.has(k) ? '🔔' : '🔕'} ${t.alertKinds[k]}`);
    const recent = latest.length === 0 ? [t.noAlerts] : [t.latestAlerts, ...latest];
    return { text: [...recent, '', t.alertsTitle, ...lines].join('\n').slice(0, 4096), keyboard };
  };
  const subscriptions = (ctx: BotContext) => {
    const alerts = (ctx.fg.user?.preferences?.alerts ?? {}) as Record<string, unknown>;
    const own = alertOverrides.get(ctx.chat?.id ?? 0) ?? {};
    return new Set(TELEGRAM_ALERT_KINDS.filter((k) => (own[k] ?? alerts[k]) === true));
  };
  // Every role with a scope: staff get every kind, company and driver chats those about their own vehicles and payments.
  const latestOf = async (ctx: BotContext) =>
    (await latestAlerts(sql, ctx.chat?.id as number)).map(
      (a) => `${formatDateTime(ctx.fg.lang, a.accepted_at, timeZone)} ${a.text.split('\n')[0]}`,
    );
  scoped.command('alerts', async (ctx) => {
    if (!withScope(ctx)) return void (await ctx.reply(texts(ctx.fg.lang).notAllowed));
    const m = alertsMessage(ctx.fg.lang, ctx.fg.user?.role ?? null, subscriptions(ctx), await latestOf(ctx));
    await ctx.reply(m.text, { reply_markup: m.keyboard });
  });
  scoped.callbackQuery(/^alert:([a-z_]+):(on|off)$/, async (ctx) => {
    await ctx.answerCallbackQuery();
    const kind = ctx.match[1] as TelegramAlertKind;
    if (!withScope(ctx) || !TELEGRAM_ALERT_KINDS.includes(kind) || !roleMayGet(ctx.fg.user?.role ?? null, kind)) return;
    const subscribed = ctx.match[2] === 'on';
    ctx.fg.results.push({
      subject: TELEGRAM_LINKS_SUBJECT,
      type: defs.alertSubscriptionChanged.type,
      data: { chatId: ctx.chat?.id as number, kind, subscribed },
    });
    alertOverrides.set(ctx.chat?.id as number, { ...alertOverrides.get(ctx.chat?.id as number), [kind]: subscribed });
    const m = alertsMessage(ctx.fg.lang, ctx.fg.user?.role ?? null, subscriptions(ctx), await latestOf(ctx));
    await ctx.editMessageText(m.text, { reply_markup: m.keyboard });
  });

  scoped.on('callback_query', (ctx) => ctx.answerCallbackQuery());
  scoped.on('message', (ctx) => ctx.reply(texts(ctx.fg.lang).unknown));
};

/** A bot for handling updates one by one (`handleUpdate`): no polling of its own here. */
export const newBot = (opts: { token: string; apiRoot?: string; botInfo?: UserFromGetMe }) =>
  new Bot<BotContext>(opts.token, {
    ...(opts.botInfo ? { botInfo: opts.botInfo } : {}),
    client: { ...(opts.apiRoot ? { apiRoot: withoutTrailingSlashes(opts.apiRoot) } : {}), timeoutSeconds: 30 },
  });
