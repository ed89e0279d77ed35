import type { Sql } from '../stores/postgres.js';

/** A chat as `telegram_users` has it (written only by projections/telegramUsers.ts). */
export interface TelegramUserRow {
  chat_id: string;
  user_id: string | null;
  role: string | null;
  company_id: string | null;
  driver_id: string | null;
  language: string | null;
  preferences: Record<string, unknown>;
  linked_at: Date | null;
  unlinked_at: Date | null;
  blocked_at: Date | null;
}

/** The chat's link, when it is linked now (a `/stop` or a block ends it). */
export const linkedTelegramChat = async (sql: Sql, chatId: number): Promise<TelegramUserRow | undefined> => {
  const [row] = await sql<TelegramUserRow[]>`
    SELECT chat_id, user_id, role, company_id, driver_id, language, preferences, linked_at, unlinked_at, blocked_at
    FROM telegram_users WHERE chat_id = ${chatId} AND user_id IS NOT NULL AND linked_at IS NOT NULL`;
  return row;
};

export interface LinkCodeRow {
  code_sha256: string;
  user_id: string;
  role: string;
  company_id: string | null;
  driver_id: string | null;
  expires_at: Date;
  used_at: Date | null;
  used_by_chat: string | null;
}

/** A code by its digest, used or not (the bot says which of wrong / used / expired it is). */
export const findLinkCode = async (sql: Sql, digest: string): Promise<LinkCodeRow | undefined> => {
  const [row] = await sql<LinkCodeRow[]>`
    SELECT code_sha256, user_id, role, company_id, driver_id, expires_at, used_at, used_by_chat
    FROM telegram_link_codes WHERE code_sha256 = ${digest}`;
  return row;
};

/**
 * Takes the code for one chat: of two chats racing with the same code one wins. The bot's claim
 * is written here ahead of its `telegram.linked`, which the projection folds into the same row.
 */
export const claimLinkCode = async (sql: Sql, digest: string, chatId: number, now: Date): Promise<boolean> => {
  const rows = await sql`
    UPDATE telegram_link_codes SET used_at = ${now}, used_by_chat = ${chatId}
    WHERE code_sha256 = ${digest} AND used_at IS NULL AND expires_at > ${now} RETURNING code_sha256`;
  return rows.length === 1;
};
