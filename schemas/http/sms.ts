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
    status: Type.String({ description: 'queued, sent, delivered, undelivered, failed, refused' }),
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

/** `POST /api/v1/sms/opt-outs`: this number gets no more SMS from us. */
export const SmsOptOutRequest = Type.Object(
  {
    phone: E164,
    reason: Type.Optional(Type.String({ maxLength: 500, description: 'why, for the audit trail' })),
  },
  { additionalProperties: false, $id: 'SmsOptOutRequest' },
);
export type SmsOptOutRequest = Static<typeof SmsOptOutRequest>;

/** `DELETE /api/v1/sms/opt-outs`: the number may receive SMS again. */
export const SmsOptInRequest = Type.Object({ phone: E164 }, { additionalProperties: false, $id: 'SmsOptInRequest' });
export type SmsOptInRequest = Static<typeof SmsOptInRequest>;

export const SmsOptOutAccepted = Type.Object(
  { id: Type.String({ description: 'the event id' }), phone: Type.String(), optedOut: Type.Boolean() },
  { $id: 'SmsOptOutAccepted' },
);
export type SmsOptOutAccepted = Static<typeof SmsOptOutAccepted>;

/** `GET /api/v1/sms/balance`: the account balance of the SMS provider. */
export const SmsBalance = Type.Object(
  {
    provider: SmsProviderName,
    amountMinor: Type.Integer({ description: 'in the minor unit of the currency (kopecks, cents)' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
    testMode: Type.Boolean(),
  },
  { $id: 'SmsBalance' },
);
export type SmsBalance = Static<typeof SmsBalance>;
