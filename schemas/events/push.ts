import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, CrmId } from './command.js';
import { Priority } from './envelope.js';

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

/** `push.token_revoked`: the device must no longer receive pushes. */
export const PushTokenRevoked = Type.Object(
  { token: DeviceToken, userId: Type.Optional(CrmId), platform: Type.Optional(PushPlatform), ...CommandAudit },
  { additionalProperties: false },
);
export type PushTokenRevoked = Static<typeof PushTokenRevoked>;

export const PUSH_REQUESTED = 'push.requested';
export const PUSH_TOKEN_REGISTERED = 'push.token_registered';
export const PUSH_TOKEN_REVOKED = 'push.token_revoked';
/**
 * Token registrations are facts for the `device_tokens` projection, not work for the push
 * handler, so they keep out of its `evt.push.cmd.*` queues; one subject keeps them in order.
 */
export const PUSH_TOKENS_SUBJECT = 'evt.push.tokens';
