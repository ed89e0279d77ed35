import { type Static, Type } from '@sinclair/typebox';
import { CrmId } from '../events/command.js';
import { Priority } from '../events/envelope.js';
import { DeviceToken, PushPlatform, pushFields } from '../events/push.js';

export const SendPushRequest = Type.Object(
  { ...pushFields, priority: Type.Optional(Priority) },
  { additionalProperties: false, $id: 'SendPushRequest', description: 'Exactly one of `userId` (all their devices) or `token`.' },
);
export type SendPushRequest = Static<typeof SendPushRequest>;

export const RegisterPushTokenRequest = Type.Object(
  { userId: CrmId, token: DeviceToken, platform: PushPlatform },
  { additionalProperties: false, $id: 'RegisterPushTokenRequest' },
);
export type RegisterPushTokenRequest = Static<typeof RegisterPushTokenRequest>;

/** The registration body is accepted as is; only the token is needed to revoke. */
export const RevokePushTokenRequest = Type.Object(
  { token: DeviceToken, userId: Type.Optional(CrmId), platform: Type.Optional(PushPlatform) },
  { additionalProperties: false, $id: 'RevokePushTokenRequest' },
);
export type RevokePushTokenRequest = Static<typeof RevokePushTokenRequest>;
