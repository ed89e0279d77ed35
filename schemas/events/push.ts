import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, CrmId, commandSubject } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { AttemptFailed, Priority } from './envelope.js';

export const PushPlatform = Type.Union([Type.Literal('ios'), Type.Literal('android'), Type.Literal('web')]);
export type PushPlatform = Static<typeof PushPlatform>;

export const DeviceToken = Type.String({ minLength: 1, maxLength: 4096, description: 'an FCM registration token' });

/** FCM carries data as string pairs; scalars are accepted here and stringified by the handler. */
export const PushData = Type.Record(Type.String({ maxLength: 256 }), Type.Union([Type.String(), Type.Number(), Type.Boolean()]), {
  maxProperties: 50,
  description: 'key/value pairs for the app (FCM limits the whole payload to 4 KB)',
});

/** The fields of a push command, shared by the HTTP body and the event; exactly one of userId, token. */
export const pushFields = {
  userId: Type.Optional({ ...CrmId, description: 'every active device of this CRM user' }),
  token: Type.Optional({ ...DeviceToken, description: 'one device' }),
  title: Type.String({ minLength: 1, maxLength: 256 }),
  body: Type.String({ minLength: 1, maxLength: 4000 }),
  data: Type.Optional(PushData),
};

/** `push.requested`: a notification to one device or to every device of a user. */
export const PushRequested = Type.Object({ ...pushFields, priority: Priority, ...CommandAudit }, { additionalProperties: false });
export type PushRequested = Static<typeof PushRequested>;

/** `push.token_registered`: a device of a user can receive pushes (folded into `device_tokens`). */
export const PushTokenRegistered = Type.Object(
  { userId: CrmId, token: DeviceToken, platform: PushPlatform, ...CommandAudit },
  { additionalProperties: false },
);
export type PushTokenRegistered = Static<typeof PushTokenRegistered>;

/**
 * `push.token_revoked`: the device must no longer receive pushes. Asked for by the CRM
 * (`DELETE /api/v1/push/tokens`), or appended by the push handler when FCM reports the token
 * unregistered or invalid (then `reason` says so and `requestedBy` is `handler/push`).
 */
export const PushTokenRevoked = Type.Object(
  {
    token: DeviceToken,
    userId: Type.Optional(CrmId),
    platform: Type.Optional(PushPlatform),
    reason: Type.Optional(Type.String({ maxLength: 1_000 })),
    ...CommandAudit,
  },
  { additionalProperties: false },
);
export type PushTokenRevoked = Static<typeof PushTokenRevoked>;

/**
 * Token registrations are facts for the `device_tokens` projection, not work for the push
 * handler, so they keep out of its `evt.push.cmd.*` queues; one subject keeps them in order.
 */
export const PUSH_TOKENS_SUBJECT = 'evt.push.tokens';

/** What FCM answered for one device token of a push. */
export const PushTokenResult = Type.Object(
  {
    token: DeviceToken,
    /** FCM's message name (`projects/<p>/messages/<id>`) when it accepted the message. */
    messageId: Type.Optional(Type.String()),
    /** Why it did not, with firebase-admin's code (`messaging/registration-token-not-registered`). */
    error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: false })),
    /** `sent`, `retryable` (another attempt may succeed), `invalid_token` (revoked), `rejected` (permanent). */
    outcome: Type.Union([
      Type.Literal('sent'),
      Type.Literal('retryable'),
      Type.Literal('invalid_token'),
      Type.Literal('rejected'),
    ]),
  },
  { additionalProperties: false },
);
export type PushTokenResult = Static<typeof PushTokenResult>;

const pushOutcomeFields = {
  /** Every token's latest result, in the order the tokens were resolved. */
  results: Type.Array(PushTokenResult),
  successCount: Type.Integer({ minimum: 0 }),
  failureCount: Type.Integer({ minimum: 0 }),
  /** The attempt (1-based) that ended it. */
  attempt: Type.Integer({ minimum: 1 }),
  /** FCM_TEST_MODE: nothing left the gateway, the message ids are simulated. */
  testMode: Type.Boolean(),
};

/**
 * `push.sent`: FCM accepted the message for at least one device. `failureCount` > 0 lists the
 * devices it did not reach: invalid tokens (revoked) or, once the attempts ran out, devices that
 * kept failing with retryable errors.
 */
export const PushSent = Type.Object(pushOutcomeFields, { additionalProperties: false });
export type PushSent = Static<typeof PushSent>;

/**
 * `push.partially_sent`: an attempt reached some devices and will be retried for the rest
 * (`pending`); the next attempt sends only to those.
 */
export const PushPartiallySent = Type.Object(
  { ...pushOutcomeFields, pending: Type.Array(DeviceToken) },
  { additionalProperties: false },
);
export type PushPartiallySent = Static<typeof PushPartiallySent>;

/** `push.failed`: no device got it, permanently or after the last attempt. */
export const PushFailed = Type.Object(
  {
    reason: Type.String(),
    /** `no_tokens`, `invalid_request`, or firebase-admin's code of the last error. */
    code: Type.Optional(Type.String()),
    results: Type.Optional(Type.Array(PushTokenResult)),
    successCount: Type.Optional(Type.Integer({ minimum: 0 })),
    failureCount: Type.Optional(Type.Integer({ minimum: 0 })),
    attempt: Type.Optional(Type.Integer({ minimum: 1 })),
    testMode: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type PushFailed = Static<typeof PushFailed>;

/** Outcomes go here rather than to the command subjects, so the handler's queues hold only work. */
export const PUSH_RESULTS_SUBJECT = 'evt.push.results';

/** Every push event, declared once: type literal and data schema. */
export const pushEvents = eventDomain({
  requested: defineEvent('push.requested', PushRequested),
  tokenRegistered: defineEvent('push.token_registered', PushTokenRegistered),
  tokenRevoked: defineEvent('push.token_revoked', PushTokenRevoked),
  sent: defineEvent('push.sent', PushSent),
  partiallySent: defineEvent('push.partially_sent', PushPartiallySent),
  failed: defineEvent('push.failed', PushFailed),
  /** The handler runner's record of one failed attempt that will be retried. */
  attemptFailed: defineEvent('push.attempt_failed', AttemptFailed),
});
export type PushEvent = EventUnion<typeof pushEvents.defs>;

export const PUSH_REQUESTED = pushEvents.defs.requested.type;
export const PUSH_TOKEN_REGISTERED = pushEvents.defs.tokenRegistered.type;
export const PUSH_TOKEN_REVOKED = pushEvents.defs.tokenRevoked.type;
export const PUSH_SENT = pushEvents.defs.sent.type;
export const PUSH_PARTIALLY_SENT = pushEvents.defs.partiallySent.type;
export const PUSH_FAILED = pushEvents.defs.failed.type;
export const PUSH_ATTEMPT_FAILED = pushEvents.defs.attemptFailed.type;

/** Where the API appends `push.requested`, one subject per priority (the handler's queues). */
export const pushCommandSubject = (priority: Priority) => commandSubject('push', priority);
