import { type DeadLetter, deadLetterOps } from '../../core/deadLetters/deadLetters.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Sql } from '../../core/stores/postgres.js';
import { DeadLetterList, DeadLetterRetry, DeadLettersQuery, type DeadLetterView } from '../../schemas/http/deadLetters.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RouteSpec } from '../route.js';
import { invalidFields } from '../validation.js';

export interface DeadLetterRouteDeps {
  log: EventLog;
  sql: Sql;
}

const EPOCH_MS = /^\d{1,15}$/;
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i;

const parseFrom = (value: string): number => {
  const ms = EPOCH_MS.test(value) ? Number(value) : ISO.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isFinite(ms)) return ms;
  throw invalidFields(
    [{ pointer: '/from', field: 'from', detail: 'must be epoch milliseconds or an ISO-8601 instant' }],
    'query',
  );
};

const view = (d: DeadLetter): DeadLetterView => ({
  id: String(d.seq),
  consumer: d.consumer,
  stream: d.stream,
  originalSeq: d.originalSeq,
  subject: d.subject,
  reason: d.reason,
  deliveries: d.deliveries,
  deadLetteredAt: new Date(d.deadLetteredAt).toISOString(),
  events: d.events,
});

/** Dead letters an operator can act on (the same operations as `fleetgate dlq`); admin only. */
export const deadLetterRoutes = (deps: DeadLetterRouteDeps): RouteSpec[] => {
  const ops = deadLetterOps(deps);
  return [
    defineRoute({
      method: 'GET',
      path: '/api/v1/dead-letters',
      operationId: 'listDeadLetters',
      summary: 'Dead letters: commands their handler gave up on',
      description:
        'Oldest first. A dead letter holds the message a handler consumer (`email-normal`, `sms-high`, …) gave up on, with the reason and the delivery count. Retry it once the cause is fixed (new credentials, the provider back), or drop it with `fleetgate dlq drop`.',
      tags: ['operations'],
      auth: { scope: 'admin' },
      query: DeadLettersQuery,
      responses: { 200: { description: 'a page of dead letters', schema: DeadLetterList } },
      handle: async (ctx) => {
        const limit = ctx.query.limit === undefined ? 100 : Number(ctx.query.limit);
        if (limit < 1 || limit > 1_000) {
          throw invalidFields([{ pointer: '/limit', field: 'limit', detail: 'must be 1 to 1000' }], 'query');
        }
        const list = await ops.list({
          consumer: ctx.query.consumer,
          from: ctx.query.from === undefined ? undefined : parseFrom(ctx.query.from),
          after: ctx.query.after === undefined ? undefined : Number(ctx.query.after),
          limit,
        });
        const last = list[list.length - 1];
        const body = { deadLetters: list.map(view), ...(list.length === limit && last ? { next: String(last.seq) } : {}) };
        return { status: 200, body };
      },
    }),
    defineRoute({
      method: 'POST',
      path: '/api/v1/dead-letters/{id}/retry',
      operationId: 'retryDeadLetter',
      summary: 'Hand a dead-lettered command back to its handler, once',
      description:
        'Appends `command.retried` under the command’s subject: its handler handles the original command again with the same id (so the provider’s idempotency key and the e-mail Message-ID repeat and nothing is sent twice), the retry shows in the command’s history, and the dead letter is removed. A command whose provider already accepted it (its read model says sent) is left alone: `outcome` is `already_accepted` and nothing changes.',
      tags: ['operations'],
      auth: { scope: 'admin' },
      responses: { 200: { description: 'what was retried', schema: DeadLetterRetry } },
      handle: async (ctx) => {
        const id = ctx.params.id as string;
        if (!/^\d{1,15}$/.test(id) || Number(id) < 1) throw new HttpProblem('GW_ERR_NOT_FOUND', `no dead letter ${id}`);
        const r = await ops.retry(Number(id), `api:${ctx.principal?.prefix ?? 'unknown'}`);
        if (!r) throw new HttpProblem('GW_ERR_NOT_FOUND', `no dead letter ${id}`);
        return {
          status: 200,
          body: { id, outcome: r.outcome, retried: r.retried, alreadyAccepted: r.alreadyAccepted },
        };
      },
    }),
  ];
};
