import type { ResultEvent } from '../../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../../index.js';
import { telegramAlertHandler } from './alerts.js';
import { installBotLogic } from './bot.js';
import { type BotHandlerOptions, telegramBotHandler } from './handler.js';
import { botSource, botTarget } from './source.js';

/** The bot (`telegram-bot`): updates from `evt.webhook.telegram`, replies through grammy, long polling unless in webhook mode. */
export const buildTelegramBotHandlers = (deps: HandlerDeps, over: Pick<BotHandlerOptions, 'polling' | 'now'> = {}) => {
  const results = new Map<number, ResultEvent[]>();
  const logger = deps.logger.child({ handler: 'telegram-bot' });
  const settings = deps.integrations?.settings;
  const bot = botSource(
    () => botTarget(deps.config.telegram, settings),
    (b) =>
      installBotLogic(b, {
        sql: deps.sql,
        logger,
        timeZone: deps.config.notifications.timeZone,
        resultsFor: (id) => results.get(id),
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
    ...over,
  });
  const alerts = telegramAlertHandler({
    sql: deps.sql,
    logger,
    api: async () => {
      const t = bot.target();
      return t.testMode || !t.token ? undefined : (await bot.current()).api;
    },
  });
  return { bot: bots, alerts };
};

/** The bot's handler alone (tests of the bot). */
export const buildTelegramBotHandler = (deps: HandlerDeps, over: Pick<BotHandlerOptions, 'polling' | 'now'> = {}) =>
  buildTelegramBotHandlers(deps, over).bot;
