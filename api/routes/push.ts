import {
  PUSH_REQUESTED,
  PUSH_TOKEN_REGISTERED,
  PUSH_TOKEN_REVOKED,
  PUSH_TOKENS_SUBJECT,
  type PushRequested,
} from '../../schemas/events/push.js';
import { RegisterPushTokenRequest, RevokePushTokenRequest, SendPushRequest } from '../../schemas/http/push.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { defineRoute } from '../route.js';
import { ACCEPTED, exactlyOne } from './rules.js';

/** The v1 push command, shared with the legacy route so both append the same event. */
export const requestPush = (deps: ApiDeps, caller: CommandCaller, req: SendPushRequest, via: string) => {
  exactlyOne(req, 'userId', 'token');
  const priority = req.priority ?? 'normal';
  const data: Omit<PushRequested, 'requestedBy' | 'via'> = { ...req, priority };
  return issueCommand(deps.log, caller, { domain: 'push', type: PUSH_REQUESTED, priority, data }, via);
};

export const registerPushToken = (deps: ApiDeps, caller: CommandCaller, req: RegisterPushTokenRequest, via: string) =>
  issueCommand(deps.log, caller, { domain: 'push', type: PUSH_TOKEN_REGISTERED, subject: PUSH_TOKENS_SUBJECT, data: req }, via);

export const revokePushToken = (deps: ApiDeps, caller: CommandCaller, req: RevokePushTokenRequest, via: string) =>
  issueCommand(deps.log, caller, { domain: 'push', type: PUSH_TOKEN_REVOKED, subject: PUSH_TOKENS_SUBJECT, data: req }, via);

export const pushRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/push',
    operationId: 'sendPush',
    summary: 'Send a push notification',
    description: 'Appends `push.requested`; a handler sends it through FCM to the token, or to every active device of the user.',
    tags: ['push'],
    auth: { scope: 'push' },
    body: SendPushRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestPush(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/push/tokens',
    operationId: 'registerPushToken',
    summary: "Register a user's device token",
    description: 'Appends `push.token_registered`; `device_tokens` lists it once folded.',
    tags: ['push'],
    auth: { scope: 'push' },
    body: RegisterPushTokenRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await registerPushToken(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/api/v1/push/tokens',
    operationId: 'revokePushToken',
    summary: 'Revoke a device token',
    description: 'Appends `push.token_revoked`; the device gets no more pushes once folded.',
    tags: ['push'],
    auth: { scope: 'push' },
    body: RevokePushTokenRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await revokePushToken(deps, ctx, ctx.body, 'v1') }),
  }),
];
