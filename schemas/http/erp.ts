import { type Static, Type } from '@sinclair/typebox';
import { ErpDirection, ErpEntity } from '../events/erp.js';

/** CRM ids are integers in the CRM; both forms are accepted and carried as text. */
export const ErpSyncRequest = Type.Object(
  {
    entity: ErpEntity,
    direction: ErpDirection,
    ids: Type.Optional(
      Type.Array(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer({ minimum: 0 })]), {
        minItems: 1,
        maxItems: 1000,
        description: 'only these records (default: all)',
      }),
    ),
  },
  { additionalProperties: false, $id: 'ErpSyncRequest' },
);
export type ErpSyncRequest = Static<typeof ErpSyncRequest>;

export const ErpRunStatus = Type.Union(['queued', 'running', 'completed', 'failed'].map((s) => Type.Literal(s)));

export const ErpSyncListQuery = Type.Object(
  {
    entity: Type.Optional(ErpEntity),
    status: Type.Optional(ErpRunStatus),
    direction: Type.Optional(ErpDirection),
    before: Type.Optional(
      Type.String({ format: 'date-time', description: 'runs created before (the previous page’s last createdAt)' }),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
  },
  { additionalProperties: false },
);
export type ErpSyncListQuery = Static<typeof ErpSyncListQuery>;

const Nullable = <T extends ReturnType<typeof Type.String>>(s: T) => Type.Union([s, Type.Null()]);

/** One sync run as `erp_sync_log` holds it. */
export const ErpSyncRunView = Type.Object(
  {
    id: Type.String(),
    entity: Type.String(),
    direction: ErpDirection,
    status: Type.String(),
    trigger: Type.String(),
    requestedIds: Type.Union([Type.Array(Type.String()), Type.Null()]),
    total: Type.Integer(),
    ok: Type.Integer(),
    failed: Type.Integer(),
    conflicts: Type.Integer(),
    unchanged: Type.Integer({ description: 'objects a pull found unchanged' }),
    error: Nullable(Type.String()),
    attempts: Type.Integer(),
    durationMs: Type.Union([Type.Integer(), Type.Null()]),
    createdAt: Type.String(),
    startedAt: Nullable(Type.String()),
    finishedAt: Nullable(Type.String()),
    items: Type.Optional(
      Type.Array(
        Type.Object({
          n: Type.Integer(),
          crmId: Nullable(Type.String()),
          erpKey: Nullable(Type.String()),
          action: Type.String(),
          status: Type.String(),
          error: Nullable(Type.String()),
          conflict: Type.Union([Type.Object({ winner: Type.String(), loser: Type.Unknown() }), Type.Null()]),
        }),
        { description: 'failed and conflicting items first, at most 1,000' },
      ),
    ),
  },
  { $id: 'ErpSyncRun' },
);

export const ErpSyncList = Type.Object({ items: Type.Array(ErpSyncRunView) }, { $id: 'ErpSyncList' });

export const ErpSyncStatus = Type.Object(
  {
    lastSuccessful: Type.Array(
      Type.Object({
        entity: Type.String(),
        direction: Type.String(),
        runId: Type.String(),
        finishedAt: Type.String(),
        ok: Type.Integer(),
      }),
    ),
    backlog: Type.Record(Type.String(), Type.Integer(), {
      description: 'records per entity changed in the CRM and not yet pushed',
    }),
    autoSync: Type.Union([
      Type.Object({
        nextRunAt: Type.String(),
        failures: Type.Integer(),
        lastError: Nullable(Type.String()),
        lastOkAt: Nullable(Type.String()),
      }),
      Type.Null(),
    ]),
  },
  { $id: 'ErpSyncStatus' },
);
