import { type Static, Type } from '@sinclair/typebox';
import { CrmId } from '../events/command.js';
import { Priority } from '../events/envelope.js';
import { TelegramBotRole, telegramMessageFields, telegramScopeFields } from '../events/telegram.js';

export const SendTelegramMessageRequest = Type.Object(
  { ...telegramMessageFields, priority: Type.Optional(Priority) },
  { additionalProperties: false, $id: 'SendTelegramMessageRequest', description: 'Exactly one of `userId` or `chatId`.' },
);
export type SendTelegramMessageRequest = Static<typeof SendTelegramMessageRequest>;

export const CreateTelegramLinkCodeRequest = Type.Object(
  { userId: CrmId, role: TelegramBotRole, ...telegramScopeFields },
  {
    additionalProperties: false,
    $id: 'CreateTelegramLinkCodeRequest',
    description: 'Role `company` needs `companyId`; role `driver` needs `driverId`.',
  },
);
export type CreateTelegramLinkCodeRequest = Static<typeof CreateTelegramLinkCodeRequest>;

export const TelegramLinkCode = Type.Object(
  {
    code: Type.String({ description: 'the one-time code the user sends to the bot (`/start CODE`); shown once' }),
    link: Type.Union([Type.String({ format: 'uri' }), Type.Null()], {
      description: '`https://t.me/<bot>?start=<code>`; null when the bot username is not known (TELEGRAM_BOT_USERNAME)',
    }),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false, $id: 'TelegramLinkCode' },
);
export type TelegramLinkCode = Static<typeof TelegramLinkCode>;
