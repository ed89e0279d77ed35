import { createHash, randomBytes } from 'node:crypto';

/** How long a link code can be used (issue 16). */
export const LINK_CODE_TTL_MS = 15 * 60_000;

/**
 * 96 random bits in Telegram's deep-link alphabet ([A-Za-z0-9_-], at most 64): guessing one is
 * hopeless even before the bot's per-chat attempt limit.
 */
export const newLinkCode = () => randomBytes(12).toString('base64url');

/** What is stored of a code: only its digest, so a leaked table links nobody. */
export const linkCodeDigest = (code: string) => createHash('sha256').update(code.trim()).digest('hex');

/** `https://t.me/<bot>?start=<code>`: Telegram opens the bot and sends `/start <code>` on "Start". */
export const linkCodeDeepLink = (botUsername: string | undefined, code: string) =>
  botUsername ? `https://t.me/${encodeURIComponent(botUsername)}?start=${code}` : null;
