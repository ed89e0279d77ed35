import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, CrmId, commandSubject } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { AttemptFailed, Priority } from './envelope.js';

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

/** The roles the bot knows: what each may see is decided by `handlers/telegram/bot/scope.ts`. */
export const TELEGRAM_BOT_ROLES = ['admin', 'dispatcher', 'company', 'driver'] as const;
export const TelegramBotRole = Type.Union(TELEGRAM_BOT_ROLES.map((r) => Type.Literal(r)));
export type TelegramBotRole = Static<typeof TelegramBotRole>;

/** What a linked chat may see besides its role: the company's or the driver's own records. */
export const telegramScopeFields = {
  companyId: Type.Optional({ ...CrmId, description: 'role company (and optionally driver): the company whose records it sees' }),
  driverId: Type.Optional({ ...CrmId, description: 'role driver: the driver whose own figures it sees' }),
};

/**
 * `telegram.link_code_requested`: a one-time code the user sends to the bot (`/start CODE`) to
 * link a chat. Only the code's SHA-256 is recorded; the code itself is answered once, to the caller.
 */
export const TelegramLinkCodeRequested = Type.Object(
  {
    userId: CrmId,
    role: TelegramRole,
    ...telegramScopeFields,
    /** Hex SHA-256 of the code (absent on commands from before issue 16, which made no code). */
    codeSha256: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
    ...CommandAudit,
  },
  { additionalProperties: false },
);
export type TelegramLinkCodeRequested = Static<typeof TelegramLinkCodeRequested>;

/** `telegram.sent`: the Bot API accepted the message. */
export const TelegramSent = Type.Object(
  {
    chatId: TelegramChatId,
    messageId: Type.Integer(),
    attempt: Type.Integer({ minimum: 1 }),
    /** TELEGRAM_TEST_MODE: nothing left the gateway, the message id is simulated. */
    testMode: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type TelegramSent = Static<typeof TelegramSent>;

/** `telegram.failed`: permanently refused (chat not found, bot blocked) or out of attempts. */
export const TelegramFailed = Type.Object(
  {
    reason: Type.String(),
    /** `not_linked`, `invalid_request`, or `tg_<error_code>` (`tg_403`) from the Bot API. */
    code: Type.Optional(Type.String()),
    chatId: Type.Optional(TelegramChatId),
    testMode: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type TelegramFailed = Static<typeof TelegramFailed>;

/**
 * `telegram.chat_blocked`: the Bot API answered 403 for the chat (bot blocked, user deactivated,
 * bot kicked); whatever folds `telegram_users` marks it `blocked_at`.
 */
export const TelegramChatBlocked = Type.Object(
  { chatId: TelegramChatId, userId: Type.Optional(CrmId), description: Type.String() },
  { additionalProperties: false },
);
export type TelegramChatBlocked = Static<typeof TelegramChatBlocked>;

/** `telegram.linked`: `/start CODE` with a valid code linked the chat to the CRM user. */
export const TelegramLinked = Type.Object(
  {
    chatId: TelegramChatId,
    userId: CrmId,
    role: TelegramRole,
    ...telegramScopeFields,
    codeSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    username: Type.Optional(Type.String({ maxLength: 64 })),
    firstName: Type.Optional(Type.String({ maxLength: 256 })),
    /** Telegram's `language_code` of the user at linking (the bot answers in ru or en). */
    language: Type.Optional(Type.String({ maxLength: 16 })),
  },
  { additionalProperties: false },
);
export type TelegramLinked = Static<typeof TelegramLinked>;

/** `telegram.unlinked`: `/stop` in the chat. */
export const TelegramUnlinked = Type.Object(
  { chatId: TelegramChatId, userId: Type.Optional(CrmId) },
  { additionalProperties: false },
);
export type TelegramUnlinked = Static<typeof TelegramUnlinked>;

/** The alerts a linked chat can subscribe to with `/alerts` (`device_offline` covers coming back too). */
export const TELEGRAM_ALERT_KINDS = [
  'payment_failed',
  'payment_refunded',
  'notification_failed',
  'notification_dead_lettered',
  'erp_sync_failed',
  'device_offline',
  'speeding',
] as const;
export const TelegramAlertKind = Type.Union(TELEGRAM_ALERT_KINDS.map((k) => Type.Literal(k)));
export type TelegramAlertKind = Static<typeof TelegramAlertKind>;

/** `telegram.alert_subscription_changed`: the chat turned one kind of alert on or off (`/alerts`). */
export const TelegramAlertSubscriptionChanged = Type.Object(
  { chatId: TelegramChatId, kind: TelegramAlertKind, subscribed: Type.Boolean() },
  { additionalProperties: false },
);
export type TelegramAlertSubscriptionChanged = Static<typeof TelegramAlertSubscriptionChanged>;

/** Where the bot appends link facts (folded by the `telegram_users` projection with the rest of `evt.telegram.>`). */
export const TELEGRAM_LINKS_SUBJECT = 'evt.telegram.links';

/** Outcomes go here rather than to the command subjects, so the handler's queues hold only work. */
export const TELEGRAM_RESULTS_SUBJECT = 'evt.telegram.results';

/** Every Telegram event, declared once: type literal and data schema. */
export const telegramEvents = eventDomain({
  requested: defineEvent('telegram.requested', TelegramRequested),
  linkCodeRequested: defineEvent('telegram.link_code_requested', TelegramLinkCodeRequested),
  sent: defineEvent('telegram.sent', TelegramSent),
  failed: defineEvent('telegram.failed', TelegramFailed),
  chatBlocked: defineEvent('telegram.chat_blocked', TelegramChatBlocked),
  linked: defineEvent('telegram.linked', TelegramLinked),
  unlinked: defineEvent('telegram.unlinked', TelegramUnlinked),
  alertSubscriptionChanged: defineEvent('telegram.alert_subscription_changed', TelegramAlertSubscriptionChanged),
  /** The handler runner's record of one failed attempt that will be retried. */
  attemptFailed: defineEvent('telegram.attempt_failed', AttemptFailed),
});
export type TelegramEvent = EventUnion<typeof telegramEvents.defs>;

export const TELEGRAM_REQUESTED = telegramEvents.defs.requested.type;
export const TELEGRAM_LINK_CODE_REQUESTED = telegramEvents.defs.linkCodeRequested.type;
export const TELEGRAM_SENT = telegramEvents.defs.sent.type;
export const TELEGRAM_FAILED = telegramEvents.defs.failed.type;
export const TELEGRAM_CHAT_BLOCKED = telegramEvents.defs.chatBlocked.type;
export const TELEGRAM_LINKED = telegramEvents.defs.linked.type;
export const TELEGRAM_UNLINKED = telegramEvents.defs.unlinked.type;
export const TELEGRAM_ATTEMPT_FAILED = telegramEvents.defs.attemptFailed.type;

/** Where the API appends `telegram.requested`, one subject per priority (the handler's queues). */
export const telegramCommandSubject = (priority: Priority) => commandSubject('telegram', priority);
