import type { Handler } from '../../core/runners/handlerRunner.js';
import { GatewayError } from '../../schemas/errors.js';
import type { HandlerDeps } from '../index.js';
import { grammyTelegramSender } from './grammy.js';
import { telegramHandler } from './handler.js';
import { TELEGRAM_RATE_LIMITS, telegramRateLimits } from './rateLimit.js';
import { testModeTelegramSender } from './testMode.js';

/** TELEGRAM_TEST_MODE (default on) simulates; off, TELEGRAM_BOT_TOKEN is needed. */
export const buildTelegramHandler = ({ config, logger, sql }: HandlerDeps): Handler => {
  const { TELEGRAM_TEST_MODE, TELEGRAM_BOT_TOKEN, TELEGRAM_API_URL, TELEGRAM_RATE_LIMIT_PER_SECOND } = config.env;
  if (TELEGRAM_TEST_MODE) return telegramHandler({ sender: testModeTelegramSender(), sql, logger });
  if (!TELEGRAM_BOT_TOKEN) throw new GatewayError('GW_ERR_CONFIG', 'TELEGRAM_TEST_MODE=false needs TELEGRAM_BOT_TOKEN');
  return telegramHandler({
    sender: grammyTelegramSender({ token: TELEGRAM_BOT_TOKEN, apiRoot: TELEGRAM_API_URL }),
    sql,
    logger,
    limits: telegramRateLimits({ ...TELEGRAM_RATE_LIMITS, overallPerSecond: TELEGRAM_RATE_LIMIT_PER_SECOND }),
  });
};
