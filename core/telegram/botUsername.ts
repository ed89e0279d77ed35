import { Api } from 'grammy';
import { withoutTrailingSlashes } from '../text/trailingSlashes.js';

/**
 * The bot's @username for deep links: TELEGRAM_BOT_USERNAME, else asked once of the Bot API
 * (`getMe`) with the current token; undefined when neither is possible (the code still works typed).
 */
export const botUsernameSource = (opts: {
  configured: string | undefined;
  token: () => string | undefined;
  apiRoot: () => string;
}) => {
  const cache = new Map<string, Promise<string | undefined>>();
  return async (): Promise<string | undefined> => {
    if (opts.configured) return opts.configured;
    const token = opts.token();
    if (!token) return undefined;
    const key = `${opts.apiRoot()}\0${token}`;
    let p = cache.get(key);
    if (!p) {
      p = new Api(token, { apiRoot: withoutTrailingSlashes(opts.apiRoot()), timeoutSeconds: 5 })
        .getMe()
        .then((me) => me.username)
        .catch(() => {
          cache.delete(key);
          return undefined;
        });
      cache.set(key, p);
    }
    return p;
  };
};
