/** The updates the bot acts on: `setWebhook` and `getUpdates` ask Telegram for these only. */
export const ALLOWED_TELEGRAM_UPDATES = ['message', 'callback_query', 'my_chat_member'] as const;
