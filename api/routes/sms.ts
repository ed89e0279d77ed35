import { Type } from '@sinclair/typebox';
import { findSmsLog, type SmsLogRow } from '../../core/readModels/smsLog.js';
import { isGatewayError } from '../../schemas/errors.js';
import {
  SMS_OPT_OUT_SUBJECT,
  SMS_OPTED_IN,
  SMS_OPTED_OUT,
  SMS_REQUESTED,
  type SmsOptOut,
  type SmsRequested,
} from '../../schemas/events/sms.js';
import { CommandAccepted } from '../../schemas/http/problem.js';
import {
  SendSmsRequest,
  SmsBalance,
  SmsOptInRequest,
  SmsOptOutAccepted,
  SmsOptOutRequest,
  SmsStatus,
} from '../../schemas/http/sms.js';
import { appendCommand, type CommandCaller, commandId } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RequestContext } from '../route.js';

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const toStatus = (r: SmsLogRow): SmsStatus => ({
  id: r.id,
  status: r.status,
  to: r.recipient,
  text: r.message,
  priority: r.priority,
  provider: r.provider,
  providerMessageId: r.provider_message_id,
  segments: r.segments,
  cost: r.cost_minor === null || r.currency === null ? null : { amountMinor: Number(r.cost_minor), currency: r.currency },
  error: r.error_code === null && r.error_message === null ? null : { code: r.error_code, message: r.error_message },
  attempts: r.attempts,
  testMode: r.test_mode,
  createdAt: r.created_at.toISOString(),
  sentAt: iso(r.sent_at),
  deliveredAt: iso(r.delivered_at),
  history: r.history,
});

const UUID = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' });

/** The v1 SMS command, shared with the legacy route so both produce the same event. */
export const requestSms = async (
  deps: ApiDeps,
  ctx: Pick<RequestContext, 'principal' | 'headers'>,
  req: SendSmsRequest,
  via: string,
) => {
  const principal = ctx.principal as NonNullable<RequestContext['principal']>;
  const idempotencyKey = ctx.headers['idempotency-key'];
  const id = commandId(principal.keyId, idempotencyKey);
  const data: SmsRequested = {
    to: req.to,
    text: req.text,
    priority: req.priority ?? 'normal',
    requestedBy: principal.prefix,
    via,
    ...(req.provider ? { provider: req.provider } : {}),
  };
  await appendCommand(deps.log, {
    id,
    domain: 'sms',
    type: SMS_REQUESTED,
    priority: data.priority,
    data,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  return { id, status: 'queued' as const };
};

/**
 * An opt-out (or its withdrawal) as an event on `evt.sms.optout`: auditable, folded into
 * `sms_opt_outs`, which the SMS handler checks before every send.
 */
export const setSmsOptOut = async (deps: ApiDeps, caller: CommandCaller, phone: string, optedOut: boolean, reason?: string) => {
  const principal = caller.principal as NonNullable<RequestContext['principal']>;
  const idempotencyKey = caller.headers['idempotency-key'];
  const id = commandId(principal.keyId, idempotencyKey);
  const data: SmsOptOut = { phone, source: `api:${principal.prefix}`, ...(reason ? { reason } : {}) };
  await appendCommand(deps.log, {
    id,
    domain: 'sms',
    type: optedOut ? SMS_OPTED_OUT : SMS_OPTED_IN,
    priority: 'normal',
    subject: SMS_OPT_OUT_SUBJECT,
    data,
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  return { id, phone, optedOut };
};

/** The provider's balance as the API answers it; any provider failure is a 503 the client may retry. */
export const smsBalance = async (deps: ApiDeps): Promise<SmsBalance> => {
  if (!deps.smsBalance) throw new HttpProblem('GW_ERR_PROVIDER_NOT_CONFIGURED', 'no SMS provider is available to this process');
  try {
    return await deps.smsBalance();
  } catch (e) {
    if (isGatewayError(e, 'GW_ERR_PROVIDER_NOT_CONFIGURED')) throw new HttpProblem(e.code, e.message);
    deps.logger.warn({ err: (e as Error).message }, 'SMS balance request failed');
    throw new HttpProblem(
      'GW_ERR_PROVIDER_UNAVAILABLE',
      `the SMS provider did not answer: ${String((e as Error).message).slice(0, 300)}`,
      {
        headers: { 'retry-after': '30' },
      },
    );
  }
};

export const smsRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/sms',
    operationId: 'sendSms',
    summary: 'Send an SMS',
    description: 'Appends `sms.requested` and answers once the event log holds it; a handler sends it.',
    tags: ['sms'],
    auth: { scope: 'sms' },
    body: SendSmsRequest,
    idempotent: true,
    responses: { 202: { description: 'queued', schema: CommandAccepted } },
    handle: async (ctx) => ({ status: 202, body: await requestSms(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/sms/balance',
    operationId: 'getSmsBalance',
    summary: "The SMS provider's account balance",
    description: 'Asks SMS_PROVIDER (simulated in SMS_TEST_MODE). 503 problem when it is not configured or does not answer.',
    tags: ['sms'],
    auth: { scope: 'sms' },
    responses: {
      200: { description: 'the balance', schema: SmsBalance },
      503: { description: 'the provider is not configured, or did not answer' },
    },
    handle: async () => ({ status: 200, body: await smsBalance(deps) }),
  }),
  defineRoute({
    method: 'POST',
    path: '/api/v1/sms/opt-outs',
    operationId: 'optOutSms',
    summary: 'Stop sending SMS to a number',
    description:
      'Appends `sms.opted_out`; once folded into `sms_opt_outs`, every SMS to the number is refused (`sms.refused`, reason `opted_out`).',
    tags: ['sms'],
    auth: { scope: 'sms' },
    body: SmsOptOutRequest,
    idempotent: true,
    responses: { 202: { description: 'recorded', schema: SmsOptOutAccepted } },
    handle: async (ctx) => ({ status: 202, body: await setSmsOptOut(deps, ctx, ctx.body.phone, true, ctx.body.reason) }),
  }),
  defineRoute({
    method: 'DELETE',
    path: '/api/v1/sms/opt-outs',
    operationId: 'optInSms',
    summary: 'Allow SMS to a number again',
    description: 'Appends `sms.opted_in`; the number receives SMS again once folded.',
    tags: ['sms'],
    auth: { scope: 'sms' },
    body: SmsOptInRequest,
    idempotent: true,
    responses: { 202: { description: 'recorded', schema: SmsOptOutAccepted } },
    handle: async (ctx) => ({ status: 202, body: await setSmsOptOut(deps, ctx, ctx.body.phone, false) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/sms/{id}',
    operationId: 'getSms',
    summary: 'An SMS with its status and history',
    tags: ['sms'],
    auth: { scope: 'sms' },
    responses: { 200: { description: 'the message', schema: SmsStatus } },
    handle: async (ctx) => {
      const id = ctx.params.id as string;
      if (!new RegExp(UUID.pattern as string).test(id)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no SMS ${id}`);
      const row = await findSmsLog(deps.sql, id);
      if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no SMS ${id}`);
      return { status: 200, body: toStatus(row) };
    },
  }),
];
