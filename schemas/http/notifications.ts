import { type Static, Type } from '@sinclair/typebox';
import { CrmId } from '../events/command.js';
import { EmailAddress } from '../events/email.js';
import { Priority } from '../events/envelope.js';
import { E164 } from '../events/sms.js';
import { TelegramChatId } from '../events/telegram.js';

/** The channels a CRM notification fans out to. */
export const NOTIFICATION_CHANNELS = ['sms', 'email', 'push', 'telegram'] as const;
export const NotificationChannel = Type.Union(NOTIFICATION_CHANNELS.map((c) => Type.Literal(c)));
export type NotificationChannel = Static<typeof NotificationChannel>;

export const NotificationLocale = Type.Union([Type.Literal('ru'), Type.Literal('en')], {
  description: 'the language of every message (default ru)',
});
export type NotificationLocale = Static<typeof NotificationLocale>;

/** Where the person can be reached; each channel needs its address. */
export const NotificationRecipient = Type.Object(
  {
    phone: Type.Optional(E164),
    email: Type.Optional(EmailAddress),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'how to address the person' })),
    userId: Type.Optional({ ...CrmId, description: 'the CRM user: push to their devices, Telegram to their linked chat' }),
    telegramChatId: Type.Optional(TelegramChatId),
  },
  { additionalProperties: false },
);
export type NotificationRecipient = Static<typeof NotificationRecipient>;

const common = {
  to: NotificationRecipient,
  channels: Type.Optional(
    Type.Array(NotificationChannel, {
      minItems: 1,
      uniqueItems: true,
      description: "the user's chosen channels; default: every channel `to` has an address for",
    }),
  ),
  locale: Type.Optional(NotificationLocale),
  priority: Type.Optional(Priority),
};

/** Patterns, not `format`: request bodies are checked by compiled schemas that know no formats. */
const HttpUrl = Type.String({ pattern: '^https?://[^\\s]+$', maxLength: 2000, description: 'an http(s) URL' });
const Instant = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'an ISO-8601 instant with its offset, e.g. 2026-11-28T09:30:00Z',
});

export const ApplicationAssignedData = Type.Object(
  {
    applicationId: CrmId,
    pickupAddress: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
    pickupTime: Type.Optional(Instant),
    customerName: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    url: Type.Optional({ ...HttpUrl, description: 'where the driver opens the application' }),
  },
  { additionalProperties: false },
);
export type ApplicationAssignedData = Static<typeof ApplicationAssignedData>;

export const PaymentReceivedData = Type.Object(
  {
    orderId: CrmId,
    amount: Type.Integer({ minimum: 0, description: 'minor units (kopecks, cents)' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217, e.g. RUB' }),
    paidAt: Type.Optional(Instant),
    receiptUrl: Type.Optional(HttpUrl),
  },
  { additionalProperties: false },
);
export type PaymentReceivedData = Static<typeof PaymentReceivedData>;

export const PasswordResetData = Type.Object(
  {
    resetUrl: HttpUrl,
    expiresInMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_080 })),
  },
  { additionalProperties: false },
);
export type PasswordResetData = Static<typeof PasswordResetData>;

export const ApplicationAssignedRequest = Type.Object(
  { ...common, data: ApplicationAssignedData },
  { additionalProperties: false, $id: 'ApplicationAssignedNotification' },
);
export type ApplicationAssignedRequest = Static<typeof ApplicationAssignedRequest>;

export const PaymentReceivedRequest = Type.Object(
  { ...common, data: PaymentReceivedData },
  { additionalProperties: false, $id: 'PaymentReceivedNotification' },
);
export type PaymentReceivedRequest = Static<typeof PaymentReceivedRequest>;

export const PasswordResetRequest = Type.Object(
  { ...common, data: PasswordResetData },
  { additionalProperties: false, $id: 'PasswordResetNotification' },
);
export type PasswordResetRequest = Static<typeof PasswordResetRequest>;

export const NotificationAccepted = Type.Object(
  {
    status: Type.Literal('queued'),
    commands: Type.Array(
      Type.Object({ channel: NotificationChannel, id: Type.String({ description: 'the command id (GET it on its channel)' }) }),
    ),
  },
  { $id: 'NotificationAccepted' },
);
export type NotificationAccepted = Static<typeof NotificationAccepted>;

export const QueueState = Type.Union(
  ['queued', 'retrying', 'sent', 'failed', 'refused'].map((s) => Type.Literal(s)),
  { description: 'queued (not tried yet), retrying (failed, will be retried), sent, failed (gave up), refused (a guard)' },
);

export const QueueQuery = Type.Object(
  {
    channel: Type.Optional(NotificationChannel),
    status: Type.Optional(QueueState),
    limit: Type.Optional(Type.String({ pattern: '^[0-9]{1,4}$', description: 'items to list (default 50, at most 1000)' })),
  },
  { additionalProperties: false },
);
export type QueueQuery = Static<typeof QueueQuery>;

export const QueueItem = Type.Object({
  id: Type.String(),
  channel: Type.String(),
  priority: Priority,
  status: Type.String(),
  attempts: Type.Integer(),
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

export const QueueView = Type.Object(
  {
    depth: Type.Array(
      Type.Object({
        channel: Type.String(),
        priority: Priority,
        status: Type.String(),
        count: Type.Integer(),
        oldestCreatedAt: Type.String({ format: 'date-time' }),
      }),
      { description: 'commands not finished (queued or retrying), per channel, priority and status' },
    ),
    items: Type.Array(QueueItem, { description: 'the newest commands matching the filter' }),
  },
  { $id: 'NotificationQueue' },
);
export type QueueView = Static<typeof QueueView>;
