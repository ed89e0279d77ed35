import { type Static, Type } from '@sinclair/typebox';
import { CrmId } from '../events/command.js';
import { Priority } from '../events/envelope.js';
import { TelegramRole, telegramMessageFields } from '../events/telegram.js';

export const SendTelegramMessageRequest = Type.Object(
  { ...telegramMessageFields, priority: Type.Optional(Priority) },
  { additionalProperties: false, $id: 'SendTelegramMessageRequest', description: 'Exactly one of `userId` or `chatId`.' },
);
export type SendTelegramMessageRequest = Static<typeof SendTelegramMessageRequest>;

export const CreateTelegramLinkCodeRequest = Type.Object(
  { userId: CrmId, role: TelegramRole },
  { additionalProperties: false, $id: 'CreateTelegramLinkCodeRequest' },
);
export type CreateTelegramLinkCodeRequest = Static<typeof CreateTelegramLinkCodeRequest>;
