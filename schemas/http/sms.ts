import { type Static, Type } from '@sinclair/typebox';
import { Priority } from '../events/envelope.js';
import { E164, SmsProviderName } from '../events/sms.js';

export const SendSmsRequest = Type.Object(
  {
    to: E164,
    text: Type.String({ minLength: 1, maxLength: 1600, description: 'the message (up to 1600 characters)' }),
    priority: Type.Optional(Priority),
    provider: Type.Optional(SmsProviderName),
  },
  { additionalProperties: false, $id: 'SendSmsRequest' },
);
export type SendSmsRequest = Static<typeof SendSmsRequest>;

export const HistoryEntry = Type.Object({
  type: Type.String({ description: 'the event type, e.g. sms.requested, sms.sent' }),
  time: Type.String({ format: 'date-time' }),
  seq: Type.Integer({ description: 'position in the event log' }),
  data: Type.Optional(Type.Unknown()),
});

export const SmsStatus = Type.Object(
  {
    id: Type.String(),
    status: Type.String({ description: 'queued, sending, sent, delivered, failed, refused' }),
    to: Type.String(),
    text: Type.String(),
    priority: Priority,
    provider: Type.Union([Type.String(), Type.Null()]),
    providerMessageId: Type.Union([Type.String(), Type.Null()]),
    segments: Type.Union([Type.Integer(), Type.Null()]),
    cost: Type.Union([Type.Object({ amountMinor: Type.Integer(), currency: Type.String() }), Type.Null()]),
    error: Type.Union([
      Type.Object({ code: Type.Union([Type.String(), Type.Null()]), message: Type.Union([Type.String(), Type.Null()]) }),
      Type.Null(),
    ]),
    attempts: Type.Integer(),
    testMode: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    sentAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    deliveredAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    history: Type.Array(HistoryEntry),
  },
  { $id: 'SmsStatus' },
);
export type SmsStatus = Static<typeof SmsStatus>;
