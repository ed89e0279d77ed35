/** The updates the bot acts on: `setWebhook` and `getUpdates` ask Telegram for these only. */
export const ALLOWED_TELEGRAM_UPDATES = ['message', 'callback_query', 'my_chat_member'] as const;

/** A configured URL without its trailing slashes (a loop: the obvious regex is quadratic on "////…"). */
export const withoutTrailingSlashes = (url: string) => {
  let end = url.length;
  while (end > 0 && url[end - 1] === '/') end--;
  return url.slice(0, end);
};
