import type { ResultEvent } from '../../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../../index.js';
import { telegramAlertHandler, telegramFleetAlertHandler } from './alerts.js';
import { installBotLogic } from './bot.js';
import { deadLetterAlerts } from './deadLetterAlerts.js';
import { deviceAlerts } from './deviceAlerts.js';
import { distanceKm } from './gpsDistance.js';
import { asSendError, type BotHandlerOptions, telegramBotHandler } from './handler.js';
import { scopeDevices } from './queries.js';
import { botSource, botTarget } from './source.js';

/** A check that answers within two seconds or counts as failed. */
const within = (p: Promise<unknown>) =>
  Promise.race([p.then((ok) => ok !== false), new Promise<boolean>((r) => setTimeout(() => r(false), 2_000).unref())]).catch(
    () => false,
  );

/** What of the gateway is not ready as this process sees it: the log, Postgres, ClickHouse (when it has one). */
const gatewayProblems = async (deps: HandlerDeps): Promise<string[]> => {
  const checks: [string, Promise<unknown>][] = [
    ['event log', deps.log.ping()],
    ['Postgres', deps.sql`SELECT 1`],
    ...(deps.clickhouse ? ([['ClickHouse', deps.clickhouse.ping().then((r) => r.success)]] as [string, Promise<unknown>][]) : []),
  ];
  const ok = await Promise.all(checks.map(([, p]) => within(p)));
  return checks.filter((_, i) => !ok[i]).map(([name]) => name);
};

/** Test timings: the polling and chat leases, the alert window, how often the detectors look. */
export type BotOverrides = Pick<BotHandlerOptions, 'polling' | 'now' | 'chatLease'> & {
  alertWindowMs?: number;
  detectorEveryMs?: number;
};

/** The bot (`telegram-bot`): updates from `evt.webhook.telegram`, replies through grammy, long polling unless in webhook mode. */
export const buildTelegramBotHandlers = (deps: HandlerDeps, over: BotOverrides = {}) => {
  const results = new Map<number, ResultEvent[]>();
  const { clickhouse } = deps;
  const { alertWindowMs, detectorEveryMs, ...botOver } = over;
  const logger = deps.logger.child({ handler: 'telegram-bot' });
  const settings = deps.integrations?.settings;
  const bot = botSource(
    () => botTarget(deps.config.telegram, settings),
    (b) =>
      installBotLogic(b, {
        sql: deps.sql,
        logger,
        timeZone: deps.config.notifications.timeZone,
        offlineAfterMs: deps.config.gps.offlineAfterMs,
        resultsFor: (id) => results.get(id),
        health: () => gatewayProblems(deps),
        ...(clickhouse
          ? { distanceKm: async (s, from, to) => distanceKm(clickhouse, await scopeDevices(deps.sql, s), from, to) }
          : {}),
        ...(over.now ? { now: over.now } : {}),
      }),
  );
  const bots = telegramBotHandler({
    sql: deps.sql,
    log: deps.log,
    logger,
    bot,
    results,
    maxAgeSeconds: deps.config.telegram.updateMaxAgeSeconds,
    ...botOver,
  });
  const alerts = telegramAlertHandler({
    sql: deps.sql,
    logger,
    globalPerSecond: deps.config.telegram.ratePerSecond,
    ...(alertWindowMs === undefined ? {} : { windowMs: alertWindowMs }),
    send: async () => {
      const t = bot.target();
      if (t.testMode || !t.token) return undefined;
      const api = (await bot.current()).api;
      return async (chatId, text) => {
        await api.sendMessage(chatId, text).catch((e: unknown) => {
          throw asSendError(e);
        });
      };
    },
  });
  const fleet = telegramFleetAlertHandler({ sql: deps.sql, logger }, () => {
    const devices = deviceAlerts({
      sql: deps.sql,
      log: deps.log,
      logger,
      offlineAfterMs: deps.config.gps.offlineAfterMs,
      speedLimitKmh: deps.config.gps.speedLimitKmh,
      speedingMinMs: deps.config.gps.speedingMinMs,
      ...(detectorEveryMs === undefined ? {} : { everyMs: detectorEveryMs }),
    });
    const dlq = deadLetterAlerts({
      sql: deps.sql,
      log: deps.log,
      logger,
      ...(detectorEveryMs === undefined ? {} : { everyMs: detectorEveryMs }),
    });
    return { stop: async () => void (await Promise.all([devices.stop(), dlq.stop()])) };
  });
  return { bot: bots, alerts, fleet };
};

/** The bot's handler alone (tests of the bot). */
export const buildTelegramBotHandler = (deps: HandlerDeps, over: BotOverrides = {}) => buildTelegramBotHandlers(deps, over).bot;
