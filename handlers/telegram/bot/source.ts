import type { Bot } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import type { TelegramConfig } from '../../../core/config.js';
import type { IntegrationSettings } from '../../../core/integrations/settings.js';
import type { BotContext } from './bot.js';
import { newBot } from './bot.js';

/** Which bot answers: the live one (token, API root) or the test-mode stand-in. */
export interface BotTarget {
  testMode: boolean;
  token: string | undefined;
  apiRoot: string;
  webhookEnabled: boolean;
}

/** The `telegram` integration's live settings, or the environment where the process has none. */
export const botTarget = (config: TelegramConfig, settings: IntegrationSettings | undefined): BotTarget => {
  if (!settings) {
    return {
      testMode: config.testMode,
      token: config.testMode ? undefined : config.botToken,
      apiRoot: config.apiUrl,
      webhookEnabled: config.webhookEnabled,
    };
  }
  const t = settings.get('telegram');
  const token = t.fields.botToken?.value;
  return {
    testMode: Boolean(t.testMode.value) || typeof token !== 'string' || token === '',
    token: typeof token === 'string' && token !== '' ? token : undefined,
    apiRoot: String(t.fields.apiUrl?.value ?? config.apiUrl),
    webhookEnabled: Boolean(t.fields.webhookEnabled?.value ?? config.webhookEnabled),
  };
};

const TEST_BOT: UserFromGetMe = {
  id: 1,
  is_bot: true,
  first_name: 'Fleetgate (test mode)',
  username: 'fleetgate_test_mode_bot',
  can_join_groups: false,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
} as UserFromGetMe;

/**
 * TELEGRAM_TEST_MODE: the bot acts on updates (links chats, reads the read models) but its Bot
 * API calls go nowhere; a sent message is answered as Telegram would.
 */
const silence = (bot: Bot<BotContext>) => {
  let next = 0;
  bot.api.config.use(async (_prev, method, payload) => {
    const p = payload as { chat_id?: number; text?: string };
    const result =
      method === 'sendMessage' || method === 'editMessageText'
        ? { message_id: ++next, date: Math.floor(Date.now() / 1000), chat: { id: p.chat_id, type: 'private' }, text: p.text }
        : true;
    return { ok: true, result } as never;
  });
};

/**
 * The bot for the current target, built once per (token, API root, mode) and initialised
 * (`getMe`) before its first update; rebuilt when the integration settings change.
 */
export const botSource = (target: () => BotTarget, install: (bot: Bot<BotContext>) => void) => {
  let cached: { key: string; bot: Promise<Bot<BotContext>> } | undefined;
  return {
    target,
    async current(): Promise<Bot<BotContext>> {
      const t = target();
      const key = `${t.testMode}\0${t.token ?? ''}\0${t.apiRoot}`;
      if (cached?.key !== key) {
        const bot =
          t.testMode || !t.token
            ? newBot({ token: 'test-mode', botInfo: TEST_BOT })
            : newBot({ token: t.token, apiRoot: t.apiRoot });
        if (t.testMode || !t.token) silence(bot);
        install(bot);
        const ready = bot.init().then(() => bot);
        // A failed getMe (network, bad token) is tried again with the next update.
        ready.catch(() => {
          if (cached?.bot === ready) cached = undefined;
        });
        cached = { key, bot: ready };
      }
      return cached.bot;
    },
  };
};
export type BotSource = ReturnType<typeof botSource>;
