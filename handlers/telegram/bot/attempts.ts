import type { Sql } from '../../../core/stores/postgres.js';

/** Wrong, used or expired codes a chat may send per window before it must wait. */
export const LINK_ATTEMPTS = { max: 5, windowMs: 15 * 60_000 };

/** Counted in Postgres, so a chat cannot reset its count by reaching another gateway process. */
export const attemptsExhausted = async (sql: Sql, chatId: number, now: Date) => {
  const since = new Date(now.getTime() - LINK_ATTEMPTS.windowMs);
  const [r] = await sql<
    { n: string }[]
  >`SELECT count(*) AS n FROM telegram_link_attempts WHERE chat_id = ${chatId} AND at > ${since}`;
  return Number(r?.n ?? 0) >= LINK_ATTEMPTS.max;
};

export const recordFailedAttempt = async (sql: Sql, chatId: number, now: Date) => {
  await sql`INSERT INTO telegram_link_attempts (chat_id, at) VALUES (${chatId}, ${now})`;
  // Old rows say nothing any more.
  await sql`DELETE FROM telegram_link_attempts WHERE chat_id = ${chatId} AND at < ${new Date(now.getTime() - LINK_ATTEMPTS.windowMs)}`;
};
