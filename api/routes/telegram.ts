import { botUsernameSource } from '../../core/telegram/botUsername.js';
import { LINK_CODE_TTL_MS, linkCodeDeepLink, linkCodeDigest, newLinkCode } from '../../core/telegram/linkCodes.js';
import { TELEGRAM_LINK_CODE_REQUESTED, TELEGRAM_REQUESTED, type TelegramRequested } from '../../schemas/events/telegram.js';
import { CreateTelegramLinkCodeRequest, SendTelegramMessageRequest, TelegramLinkCode } from '../../schemas/http/telegram.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute } from '../route.js';
import { ACCEPTED, exactlyOne } from './rules.js';

export const requestTelegramMessage = (deps: ApiDeps, caller: CommandCaller, req: SendTelegramMessageRequest, via: string) => {
  exactlyOne(req, 'userId', 'chatId');
  const priority = req.priority ?? 'normal';
  const data: Omit<TelegramRequested, 'requestedBy' | 'via'> = { ...req, priority };
  return issueCommand(deps.log, caller, { domain: 'telegram', type: TELEGRAM_REQUESTED, priority, data }, via);
};

const usernames = new WeakMap<ApiDeps, () => Promise<string | undefined>>();
const botUsername = (deps: ApiDeps) => {
  let f = usernames.get(deps);
  if (!f) {
    const t = deps.config.telegram;
    const settings = deps.integrations?.settings;
    f = botUsernameSource({
      configured: t.botUsername,
      token: () => {
        const v = settings?.value('telegram', 'botToken');
        return typeof v === 'string' && v !== '' ? v : t.testMode ? undefined : t.botToken;
      },
      apiRoot: () => String(settings?.value('telegram', 'apiUrl') ?? t.apiUrl),
    });
    usernames.set(deps, f);
  }
  return f();
};

/**
 * A one-time code for `/start CODE`: the event keeps only its SHA-256, the caller gets the code
 * once (and again only as the idempotent replay of the same request).
 */
export const requestTelegramLinkCode = async (
  deps: ApiDeps,
  caller: CommandCaller,
  req: CreateTelegramLinkCodeRequest,
  via: string,
): Promise<TelegramLinkCode> => {
  if (req.role === 'company' && !req.companyId) throw new HttpProblem('GW_ERR_VALIDATION', 'role company needs companyId');
  if (req.role === 'driver' && !req.driverId) throw new HttpProblem('GW_ERR_VALIDATION', 'role driver needs driverId');
  const code = newLinkCode();
  const expiresAt = new Date((deps.now?.() ?? new Date()).getTime() + LINK_CODE_TTL_MS).toISOString();
  const data = { ...req, codeSha256: linkCodeDigest(code), expiresAt };
  // Every request is a new code: an Idempotency-Key would make the second code's event a
  // duplicate of the first (same command id) and leave that code unknown to the bot.
  const { 'idempotency-key': _ignored, ...headers } = caller.headers;
  await issueCommand(
    deps.log,
    { principal: caller.principal, headers },
    { domain: 'telegram', type: TELEGRAM_LINK_CODE_REQUESTED, data },
    via,
  );
  return { code, link: linkCodeDeepLink(await botUsername(deps), code), expiresAt };
};

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
    description:
      "Appends `telegram.link_code_requested` with the code's SHA-256 and answers the code once: valid 15 minutes, for one `/start CODE` in the bot.",
    tags: ['telegram'],
    auth: { scope: 'telegram' },
    body: CreateTelegramLinkCodeRequest,
    // Not replayed from the idempotency store: that would keep the plain code there for a day.
    idempotent: false,
    responses: { 201: { description: 'the code and its deep link', schema: TelegramLinkCode } },
    handle: async (ctx) => ({ status: 201, body: await requestTelegramLinkCode(deps, ctx, ctx.body, 'v1') }),
  }),
];
