import { type Static, Type } from '@sinclair/typebox';
import { Priority } from './envelope.js';

export const E164 = Type.String({
  pattern: '^\\+[1-9][0-9]{6,14}$',
  description: 'a phone number in E.164 form, e.g. +79991234567',
});
export const SmsProviderName = Type.Union([Type.Literal('smsru'), Type.Literal('twilio')]);

/** `sms.requested`: a client asked for an SMS; the handler (notifications issue) sends it. */
export const SmsRequested = Type.Object(
  {
    to: E164,
    text: Type.String({ minLength: 1, maxLength: 1600 }),
    priority: Priority,
    provider: Type.Optional(SmsProviderName),
    /** The API key prefix that asked, for the audit trail. */
    requestedBy: Type.String(),
    /** `v1` or the legacy route that carried it. */
    via: Type.String(),
  },
  { additionalProperties: false },
);
export type SmsRequested = Static<typeof SmsRequested>;

export const SMS_REQUESTED = 'sms.requested';
