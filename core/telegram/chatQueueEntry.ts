import type { Update } from 'grammy/types';
import type { Sql } from '../stores/postgres.js';

/**
 * The chat an update belongs to (the one its replies go to). Read defensively: the webhook
 * ingress calls it on a body only known to carry a numeric `update_id`.
 */
export const telegramUpdateChatId = (u: Update): number | undefined => {
  const id = (u.message ?? u.edited_message)?.chat?.id ?? u.callback_query?.message?.chat?.id ?? u.my_chat_member?.chat?.id;
  return typeof id === 'number' && Number.isSafeInteger(id) ? id : undefined;
};

/**
 * Puts an update in its chat's queue (`telegram_bot_updates`, handlers/telegram/bot/chatQueue.ts)
 * before it is appended to the log, by whichever way it came in (the poller, the webhook ingress):
 * a later update of the chat delivered to another process first then waits for this one instead
 * of overtaking it. Idempotent (a repeat of the update changes nothing); an update without a chat
 * has no order to keep and is not recorded here.
 */
export const recordTelegramUpdate = async (sql: Sql, u: Update): Promise<void> => {
  const chatId = telegramUpdateChatId(u);
  if (chatId === undefined) return;
  await sql`INSERT INTO telegram_bot_updates (update_id, chat_id) VALUES (${u.update_id}, ${chatId})
    ON CONFLICT (update_id) DO NOTHING`;
};
