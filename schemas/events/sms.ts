import { type Static, Type } from '@sinclair/typebox';
import { commandSubject } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { AttemptFailed, Priority } from './envelope.js';

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

/*
 * Outcomes of an SMS command. Every channel names its results `<domain>.sent` and
 * `<domain>.failed`; SMS adds `sms.refused` (a cost guard said no, nothing was sent) and the
 * delivery reports. `smsId` is the id of the `sms.requested` event.
 */

/** Where the handler appends what happened to a command (not a work queue: nothing handles it). */
export const SMS_RESULT_SUBJECT = 'evt.sms.result';
/** Delivery reports, from provider callbacks and status polls. */
export const SMS_STATUS_SUBJECT = 'evt.sms.status';
/** Opt-outs and opt-ins of recipients (projected into `sms_opt_outs`). */
export const SMS_OPT_OUT_SUBJECT = 'evt.sms.optout';

export const Money = Type.Object(
  {
    amountMinor: Type.Integer({ description: 'in the currency’s minor unit (kopecks, cents), rounded up' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  },
  { additionalProperties: false },
);
export type Money = Static<typeof Money>;

/** `sms.sent`: a provider accepted the message; `provider` is the one that took it (after any failover). */
export const SmsSent = Type.Object(
  {
    smsId: Type.String(),
    provider: SmsProviderName,
    providerMessageId: Type.String(),
    segments: Type.Integer({ minimum: 1 }),
    cost: Type.Union([Money, Type.Null()]),
    testMode: Type.Boolean(),
    /** The handler attempt (delivery count) that sent it. */
    attempt: Type.Integer({ minimum: 1 }),
    /** Providers tried before this one in the same attempt, with why they were skipped. */
    failedOver: Type.Optional(Type.Array(Type.Object({ provider: SmsProviderName, error: Type.String() }))),
    /**
     * Earlier provider calls for this command whose outcome is unknown (the process died or the
     * connection broke mid-call): each may have sent a copy.
     */
    unconfirmedCalls: Type.Optional(Type.Integer({ minimum: 1 })),
    /** This result was rebuilt from the handler's call record after a crash; the provider was not called again. */
    recovered: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type SmsSent = Static<typeof SmsSent>;

/** `sms.failed`: given up, on a permanent error or after the last attempt. */
export const SmsFailed = Type.Object(
  {
    smsId: Type.String(),
    reason: Type.String(),
    /** The provider's error code (`21211`, `207`) or ours (`not_configured`). */
    code: Type.Optional(Type.String()),
    provider: Type.Optional(SmsProviderName),
    permanent: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type SmsFailed = Static<typeof SmsFailed>;

export const SmsRefusalReason = Type.Union([
  Type.Literal('opted_out'),
  Type.Literal('duplicate'),
  Type.Literal('recipient_limit'),
  Type.Literal('source_limit'),
]);
export type SmsRefusalReason = Static<typeof SmsRefusalReason>;

/** `sms.refused`: a cost guard refused the command; nothing was sent or charged. */
export const SmsRefused = Type.Object(
  {
    smsId: Type.String(),
    reason: SmsRefusalReason,
    detail: Type.String(),
  },
  { additionalProperties: false },
);
export type SmsRefused = Static<typeof SmsRefused>;

/** Common to every delivery report. `via`: a provider callback or our status poll. */
const report = {
  smsId: Type.String(),
  provider: SmsProviderName,
  providerMessageId: Type.String(),
  /** The provider's own word for the state (`delivered`, `103`). */
  providerStatus: Type.String(),
  via: Type.Union([Type.Literal('callback'), Type.Literal('poll')]),
  /** When the provider says it happened, else when we learned it. */
  at: Type.String({ format: 'date-time' }),
  cost: Type.Optional(Type.Union([Money, Type.Null()])),
};

/** `sms.delivered`: the handset got it (final). */
export const SmsDelivered = Type.Object(report, { additionalProperties: false });
export type SmsDelivered = Static<typeof SmsDelivered>;

/** `sms.undelivered`: the provider gave up on it (final): expired, rejected, unreachable. */
export const SmsUndelivered = Type.Object(
  { ...report, errorCode: Type.Optional(Type.String()), errorMessage: Type.Optional(Type.String()) },
  { additionalProperties: false },
);
export type SmsUndelivered = Static<typeof SmsUndelivered>;

/** `sms.status_reported`: an intermediate state (queued at the operator, in transit); history only. */
export const SmsStatusReported = Type.Object(report, { additionalProperties: false });
export type SmsStatusReported = Static<typeof SmsStatusReported>;

/** `sms.opted_out` / `sms.opted_in`: the recipient does (not) want SMS from us any more. */
export const SmsOptOut = Type.Object(
  {
    phone: E164,
    reason: Type.Optional(Type.String({ maxLength: 500 })),
    /** Who said so: `api:<key prefix>` or `provider:<name>` (a STOP reply, a stop-list error). */
    source: Type.String(),
  },
  { additionalProperties: false },
);
export type SmsOptOut = Static<typeof SmsOptOut>;

/** Every SMS event, declared once: type literal and data schema. */
export const smsEvents = eventDomain({
  requested: defineEvent('sms.requested', SmsRequested),
  sent: defineEvent('sms.sent', SmsSent),
  failed: defineEvent('sms.failed', SmsFailed),
  refused: defineEvent('sms.refused', SmsRefused),
  delivered: defineEvent('sms.delivered', SmsDelivered),
  undelivered: defineEvent('sms.undelivered', SmsUndelivered),
  statusReported: defineEvent('sms.status_reported', SmsStatusReported),
  optedOut: defineEvent('sms.opted_out', SmsOptOut),
  optedIn: defineEvent('sms.opted_in', SmsOptOut),
  /** The handler runner's record of one failed attempt that will be retried. */
  attemptFailed: defineEvent('sms.attempt_failed', AttemptFailed),
});
export type SmsEvent = EventUnion<typeof smsEvents.defs>;

export const SMS_REQUESTED = smsEvents.defs.requested.type;
export const SMS_SENT = smsEvents.defs.sent.type;
export const SMS_FAILED = smsEvents.defs.failed.type;
export const SMS_REFUSED = smsEvents.defs.refused.type;
export const SMS_DELIVERED = smsEvents.defs.delivered.type;
export const SMS_UNDELIVERED = smsEvents.defs.undelivered.type;
export const SMS_STATUS_REPORTED = smsEvents.defs.statusReported.type;
export const SMS_OPTED_OUT = smsEvents.defs.optedOut.type;
export const SMS_OPTED_IN = smsEvents.defs.optedIn.type;
export const SMS_ATTEMPT_FAILED = smsEvents.defs.attemptFailed.type;

/** Where the API appends `sms.requested`, one subject per priority (the handler's queues). */
export const smsCommandSubject = (priority: Priority) => commandSubject('sms', priority);
