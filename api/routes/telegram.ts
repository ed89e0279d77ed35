import { TELEGRAM_LINK_CODE_REQUESTED, TELEGRAM_REQUESTED, type TelegramRequested } from '../../schemas/events/telegram.js';
import { CreateTelegramLinkCodeRequest, SendTelegramMessageRequest } from '../../schemas/http/telegram.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute } from '../route.js';
import { ACCEPTED, exactlyOne } from './rules.js';

export const requestTelegramMessage = (deps: ApiDeps, caller: CommandCaller, req: SendTelegramMessageRequest, via: string) => {
  exactlyOne(req, 'userId', 'chatId');
  const priority = req.priority ?? 'normal';
  const data: Omit<TelegramRequested, 'requestedBy' | 'via'> = { ...req, priority };
  return issueCommand(deps.log, caller, { domain: 'telegram', type: TELEGRAM_REQUESTED, priority, data }, via);
};

export const requestTelegramLinkCode = (deps: ApiDeps, caller: CommandCaller, req: CreateTelegramLinkCodeRequest, via: string) =>
  issueCommand(deps.log, caller, { domain: 'telegram', type: TELEGRAM_LINK_CODE_REQUESTED, data: req }, via);

export const telegramRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/telegram/messages',
    operationId: 'sendTelegramMessage',
    summary: 'Send a Telegram bot message',
    description: "Appends `telegram.requested`; a handler sends it to the chat, or to the user's linked chat.",
    tags: ['telegram'],
    auth: { scope: 'telegram' },
    body: SendTelegramMessageRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestTelegramMessage(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/telegram/link-codes',
    operationId: 'createTelegramLinkCode',
    summary: 'Create a code that links a Telegram chat to a CRM user',
    description: 'Appends `telegram.link_code_requested`; the user sends the code to the bot to link the chat.',
    tags: ['telegram'],
    auth: { scope: 'telegram' },
    body: CreateTelegramLinkCodeRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestTelegramLinkCode(deps, ctx, ctx.body, 'v1') }),
  }),
];
