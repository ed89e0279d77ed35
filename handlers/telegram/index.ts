import { following } from '../../core/integrations/follow.js';
import type { IntegrationSettings } from '../../core/integrations/settings.js';
import type { AnyHandler } from '../../core/runners/handlerRunner.js';
import type { HandlerDeps } from '../index.js';
import { grammyTelegramSender } from './grammy.js';
import { telegramHandler } from './handler.js';
import type { TelegramSender } from './port.js';
import { TELEGRAM_RATE_LIMITS, telegramRateLimits } from './rateLimit.js';
import { testModeTelegramSender } from './testMode.js';

/** The sender `telegram`'s run-time settings ask for: test mode, or the bot token against the API root. */
const liveSender = (deps: HandlerDeps, settings: IntegrationSettings): TelegramSender => {
  const build = (): TelegramSender => {
    const t = settings.get('telegram');
    const token = t.fields.botToken?.value;
    if (t.testMode.value) return testModeTelegramSender();
    if (typeof token !== 'string' || token === '') {
      deps.logger.warn('telegram is live without a bot token: simulating (test mode) until one is set');
      return testModeTelegramSender();
    }
    return grammyTelegramSender({ token, apiRoot: String(t.fields.apiUrl?.value ?? deps.config.telegram.apiUrl) });
  };
  const f = following(settings, 'telegram', build, { logger: deps.logger });
  return {
    get testMode() {
      return f.current.testMode;
    },
    sendMessage: (chatId, text) => f.use((s) => s.sendMessage(chatId, text)),
  };
};

/** `config.telegram`: test mode (the default) simulates; live, it sends with the bot token. */
export const buildTelegramHandler = (deps: HandlerDeps): AnyHandler => {
  const { config, logger, sql } = deps;
  const telegram = config.telegram;
  if (deps.integrations) {
    return telegramHandler({
      sender: liveSender(deps, deps.integrations.settings),
      sql,
      logger,
      limits: telegramRateLimits({ ...TELEGRAM_RATE_LIMITS, overallPerSecond: telegram.ratePerSecond }),
    });
  }
  if (telegram.testMode) return telegramHandler({ sender: testModeTelegramSender(), sql, logger });
  return telegramHandler({
    sender: grammyTelegramSender({ token: telegram.botToken, apiRoot: telegram.apiUrl }),
    sql,
    logger,
    limits: telegramRateLimits({ ...TELEGRAM_RATE_LIMITS, overallPerSecond: telegram.ratePerSecond }),
  });
};
