import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, CrmId } from './command.js';
import { Priority } from './envelope.js';

/** Telegram chat ids are integers up to 52 bits, negative for groups and channels. */
export const TelegramChatId = Type.Integer({ minimum: -(2 ** 53) + 1, maximum: 2 ** 53 - 1, description: 'a Telegram chat id' });

/** The fields of a Telegram message command; exactly one of userId, chatId. */
export const telegramMessageFields = {
  userId: Type.Optional({ ...CrmId, description: 'the CRM user whose linked chat receives it' }),
  chatId: Type.Optional(TelegramChatId),
  text: Type.String({ minLength: 1, maxLength: 4096, description: 'the message (Telegram allows 1-4096 characters)' }),
};

/** `telegram.requested`: a bot message to a chat or to a linked CRM user. */
export const TelegramRequested = Type.Object(
  { ...telegramMessageFields, priority: Priority, ...CommandAudit },
  { additionalProperties: false },
);
export type TelegramRequested = Static<typeof TelegramRequested>;

export const TelegramRole = Type.String({ pattern: '^[a-z][a-z_]{0,31}$', description: 'the CRM role, e.g. manager' });

/** `telegram.link_code_requested`: a one-time code the user sends to the bot (`/start CODE`) to link a chat. */
export const TelegramLinkCodeRequested = Type.Object(
  { userId: CrmId, role: TelegramRole, ...CommandAudit },
  { additionalProperties: false },
);
export type TelegramLinkCodeRequested = Static<typeof TelegramLinkCodeRequested>;

export const TELEGRAM_REQUESTED = 'telegram.requested';
export const TELEGRAM_LINK_CODE_REQUESTED = 'telegram.link_code_requested';
