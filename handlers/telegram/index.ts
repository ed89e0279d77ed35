import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../index.js';
import { grammyTelegramSender } from './grammy.js';
import { telegramHandler } from './handler.js';
import { TELEGRAM_RATE_LIMITS, telegramRateLimits } from './rateLimit.js';
import { testModeTelegramSender } from './testMode.js';

/** `config.telegram`: test mode (the default) simulates; live, it sends with the bot token. */
export const buildTelegramHandler = ({ config, logger, sql }: HandlerDeps): AnyHandler => {
  const telegram = config.telegram;
  if (telegram.testMode) return telegramHandler({ sender: testModeTelegramSender(), sql, logger });
  return telegramHandler({
    sender: grammyTelegramSender({ token: telegram.botToken, apiRoot: telegram.apiUrl }),
    sql,
    logger,
    limits: telegramRateLimits({ ...TELEGRAM_RATE_LIMITS, overallPerSecond: telegram.ratePerSecond }),
  });
};
