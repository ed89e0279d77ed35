import { Type } from '@sinclair/typebox';
import { SMS_REQUESTED, type SmsRequested } from '../../schemas/events/sms.js';
import { CommandAccepted } from '../../schemas/http/problem.js';
import { SendSmsRequest, SmsStatus } from '../../schemas/http/sms.js';
import { appendCommand, commandId } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RequestContext } from '../route.js';

interface SmsRow {
  id: string;
  status: string;
  recipient: string;
  message: string;
  priority: SmsStatus['priority'];
  provider: string | null;
  provider_message_id: string | null;
  segments: number | null;
  cost_minor: string | null;
  currency: string | null;
  error_code: string | null;
  error_message: string | null;
  attempts: number;
  test_mode: boolean;
  created_at: Date;
  sent_at: Date | null;
  delivered_at: Date | null;
  history: SmsStatus['history'];
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

const toStatus = (r: SmsRow): SmsStatus => ({
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
    path: '/api/v1/sms/{id}',
    operationId: 'getSms',
    summary: 'An SMS with its status and history',
    tags: ['sms'],
    auth: { scope: 'sms' },
    responses: { 200: { description: 'the message', schema: SmsStatus } },
    handle: async (ctx) => {
      const id = ctx.params.id as string;
      if (!new RegExp(UUID.pattern as string).test(id)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no SMS ${id}`);
      const [row] = await deps.sql<SmsRow[]>`SELECT * FROM sms_log WHERE id = ${id}`;
      if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no SMS ${id}`);
      return { status: 200, body: toStatus(row) };
    },
  }),
];
