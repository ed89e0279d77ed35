import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

export interface TelegramRateLimitOptions {
  /** Telegram: about one message per second to the same chat. */
  perChatPerSecond: number;
  /** Telegram: about 30 messages per second overall for a bot (paid broadcasts: up to 1000); 0 = no limit. */
  overallPerSecond: number;
}

export const TELEGRAM_RATE_LIMITS: TelegramRateLimitOptions = { perChatPerSecond: 1, overallPerSecond: 30 };

/** Waits for a point instead of failing: a message over the limit is sent late, never dropped. */
const take = async (limiter: RateLimiterMemory, key: string) => {
  for (;;) {
    try {
      await limiter.consume(key);
      return;
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) throw e;
      await sleep(Math.max(1, e.msBeforeNext));
    }
  }
};

/**
 * The bot's send rate in this process (memory store: with several handler processes each keeps
 * its own count). The chat is taken first so a wait for a busy chat holds no overall point.
 */
export const telegramRateLimits = (opts: TelegramRateLimitOptions = TELEGRAM_RATE_LIMITS) => {
  const perChat = new RateLimiterMemory({ points: opts.perChatPerSecond, duration: 1, keyPrefix: 'tg-chat' });
  const overall =
    opts.overallPerSecond > 0
      ? new RateLimiterMemory({ points: opts.overallPerSecond, duration: 1, keyPrefix: 'tg-bot' })
      : undefined;
  return {
    async take(chatId: number) {
      await take(perChat, String(chatId));
      if (overall) await take(overall, 'bot');
    },
    /** After a 429 the chat waits out Telegram's retry_after, whichever command is next for it. */
    async block(chatId: number, seconds: number) {
      await perChat.block(String(chatId), seconds);
    },
  };
};
export type TelegramRateLimits = ReturnType<typeof telegramRateLimits>;
