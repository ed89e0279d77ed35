import { Type } from '@sinclair/typebox';
import {
  type ErpSyncRunRow,
  erpPushBacklog,
  erpSchedule,
  erpSyncItems,
  findErpSyncRun,
  lastSuccessfulRuns,
  listErpSyncRuns,
} from '../../core/readModels/erpSync.js';
import { ERP_ENTITIES, ERP_REQUESTED, type ErpRequested } from '../../schemas/events/erp.js';
import { ErpSyncList, ErpSyncListQuery, ErpSyncRequest, ErpSyncRunView, ErpSyncStatus } from '../../schemas/http/erp.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute } from '../route.js';
import { invalidFields } from '../validation.js';
import { ACCEPTED, isUuid } from './rules.js';

const NOT_FOUND = { 404: { description: 'no such sync run', schema: Type.Unknown() } };
const iso = (d: Date | null) => d?.toISOString() ?? null;

const runView = (r: ErpSyncRunRow) => ({
  id: r.id,
  entity: r.entity,
  direction: r.direction,
  status: r.status,
  trigger: r.trigger,
  requestedIds: r.requested_ids,
  total: r.records_total,
  ok: r.records_ok,
  failed: r.records_failed,
  conflicts: r.conflicts,
  unchanged: r.skipped,
  error: r.error_message,
  attempts: r.attempts,
  durationMs: r.duration_ms,
  createdAt: r.created_at.toISOString(),
  startedAt: iso(r.started_at),
  finishedAt: iso(r.finished_at),
});

/** The v1 ERP sync command, shared with the legacy route; ids are carried as text whichever form came. */
export const requestErpSync = (deps: ApiDeps, caller: CommandCaller, req: ErpSyncRequest, via: string) => {
  const data: Omit<ErpRequested, 'requestedBy' | 'via'> = {
    entity: req.entity,
    direction: req.direction,
    ...(req.ids === undefined ? {} : { ids: req.ids.map(String) }),
  };
  return issueCommand(deps.log, caller, { domain: 'erp', type: ERP_REQUESTED, data }, via);
};

export const erpRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/erp/sync',
    operationId: 'requestErpSync',
    summary: 'Sync records with the ERP (1C)',
    description: 'Appends `erp.requested`; a handler pushes the records to the ERP or pulls them from it.',
    tags: ['erp'],
    auth: { scope: 'erp' },
    body: ErpSyncRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestErpSync(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/erp/sync/{id}',
    operationId: 'getErpSync',
    summary: 'A sync run with its failed and conflicting items',
    description: 'From `erp_sync_log` and `erp_sync_items`; a conflict item holds the losing side’s data.',
    tags: ['erp'],
    auth: { scope: 'erp' },
    responses: { 200: { description: 'the run', schema: ErpSyncRunView }, ...NOT_FOUND },
    handle: async (ctx) => {
      const id = ctx.params.id ?? '';
      if (!isUuid(id)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no sync run ${id}`);
      const row = await findErpSyncRun(deps.sql, id);
      if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no sync run ${id}`);
      const items = (await erpSyncItems(deps.sql, id, 1_000)).map((i) => ({
        n: i.n,
        crmId: i.crm_id,
        erpKey: i.erp_key,
        action: i.action,
        status: i.status,
        error: i.error,
        conflict: i.conflict,
      }));
      return { status: 200, body: { ...runView(row), items } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/erp/sync',
    operationId: 'listErpSyncs',
    summary: 'Sync runs, newest first',
    description: 'Filters by `entity`, `status`, `direction`; `before` (a run’s createdAt) pages on.',
    tags: ['erp'],
    auth: { scope: 'erp' },
    query: ErpSyncListQuery,
    responses: { 200: { description: 'one page', schema: ErpSyncList } },
    handle: async (ctx) => {
      const q = ctx.query;
      const before = q.before === undefined ? undefined : new Date(q.before);
      if (before && Number.isNaN(before.getTime()))
        throw invalidFields([{ pointer: '/before', field: 'before', detail: 'expected an RFC 3339 date-time' }]);
      const rows = await listErpSyncRuns(deps.sql, {
        limit: q.limit ?? 50,
        ...(q.entity === undefined ? {} : { entity: q.entity }),
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(q.direction === undefined ? {} : { direction: q.direction }),
        ...(before ? { before } : {}),
      });
      return { status: 200, body: { items: rows.map(runView) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/erp/status',
    operationId: 'getErpStatus',
    summary: 'Last successful run per entity and direction, push backlog, auto-sync state',
    tags: ['erp'],
    auth: { scope: 'erp' },
    responses: { 200: { description: 'the summary', schema: ErpSyncStatus } },
    handle: async () => {
      const [last, schedule, ...backlogs] = await Promise.all([
        lastSuccessfulRuns(deps.sql),
        erpSchedule(deps.sql),
        ...ERP_ENTITIES.map((e) => erpPushBacklog(deps.sql, e)),
      ]);
      return {
        status: 200,
        body: {
          lastSuccessful: last.map((r) => ({
            entity: r.entity,
            direction: r.direction,
            runId: r.id,
            finishedAt: r.finished_at.toISOString(),
            ok: r.records_ok,
          })),
          backlog: Object.fromEntries(ERP_ENTITIES.map((e, i) => [e, backlogs[i] as number])),
          autoSync: schedule
            ? {
                nextRunAt: schedule.next_run_at.toISOString(),
                failures: schedule.failures,
                lastError: schedule.last_error,
                lastOkAt: iso(schedule.last_ok_at),
              }
            : null,
        },
      };
    },
  }),
];
