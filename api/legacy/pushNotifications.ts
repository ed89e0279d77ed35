import { RegisterPushTokenRequest, RevokePushTokenRequest, SendPushRequest } from '../../schemas/http/push.js';
import type { ApiDeps } from '../deps.js';
import type { RouteSpec } from '../route.js';
import { registerPushToken, requestPush, revokePushToken } from '../routes/push.js';
import { validate } from '../validation.js';
import { asLegacy, compact, type LegacyAction, legacyRoute, lower, ok, present, text } from './common.js';

const NAMES = { userId: 'user_id', platform: 'device_type' };

/**
 * `/api/push-notifications.php` (POST): `action=send|register_token|unregister_token` (and the
 * short `register`, `unregister`). The PHP script took the user of a token from its session; an
 * API key has none, so registering needs `user_id` in the body.
 */
export const pushNotificationsPhp = (deps: ApiDeps): RouteSpec[] => {
  const send: LegacyAction = async ({ ctx, body, via }) => {
    const req = compact({
      userId: text(body.user_id),
      token: text(body.token),
      title: text(body.title),
      body: text(body.body),
      data: present(body.data),
      priority: text(body.priority),
    });
    const { id, status } = await asLegacy(NAMES, () =>
      requestPush(deps, ctx, validate<SendPushRequest>(SendPushRequest, req, 'body'), via),
    );
    return ok({ id, status });
  };
  const register: LegacyAction = async ({ ctx, body, via }) => {
    const req = compact({
      userId: text(body.user_id),
      token: text(body.token),
      platform: lower(text(body.device_type ?? body.platform)),
    });
    const { id } = await asLegacy(NAMES, () =>
      registerPushToken(deps, ctx, validate<RegisterPushTokenRequest>(RegisterPushTokenRequest, req, 'body'), via),
    );
    return ok({ id });
  };
  const unregister: LegacyAction = async ({ ctx, body, via }) => {
    const req = compact({
      token: text(body.token),
      userId: text(body.user_id),
      platform: lower(text(body.device_type ?? body.platform)),
    });
    const { id } = await asLegacy(NAMES, () =>
      revokePushToken(deps, ctx, validate<RevokePushTokenRequest>(RevokePushTokenRequest, req, 'body'), via),
    );
    return ok({ id });
  };
  return [
    legacyRoute({
      method: 'POST',
      path: '/api/push-notifications.php',
      scope: 'push',
      summary: 'Legacy push endpoint of the PHP CRM',
      actions: { send, register_token: register, register, unregister_token: unregister, unregister },
    }),
  ];
};
