import type { TelegramSender } from './port.js';

/**
 * TELEGRAM_TEST_MODE: nothing leaves the gateway. Message ids count up per chat as Telegram's do,
 * so events look as they would live.
 */
export const testModeTelegramSender = (): TelegramSender => {
  const next = new Map<number, number>();
  return {
    testMode: true,
    async sendMessage(chatId) {
      const messageId = (next.get(chatId) ?? 0) + 1;
      next.set(chatId, messageId);
      if (next.size > 100_000) next.delete(next.keys().next().value as number);
      return { messageId };
    },
  };
};
