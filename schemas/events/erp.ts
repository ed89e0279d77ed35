import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, CrmId, commandSubject } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import type { Priority } from './envelope.js';

export const ERP_ENTITIES = ['applications', 'companies', 'drivers', 'payments', 'vehicles'] as const;
export const ErpEntity = Type.Union(ERP_ENTITIES.map((e) => Type.Literal(e)));
export type ErpEntity = Static<typeof ErpEntity>;
/** `push`: CRM → ERP; `pull`: ERP → CRM. */
export const ErpDirection = Type.Union([Type.Literal('push'), Type.Literal('pull')]);

/** `erp.requested`: sync some (ids) or all records of an entity with the ERP (1C). */
export const ErpRequested = Type.Object(
  {
    entity: ErpEntity,
    direction: ErpDirection,
    ids: Type.Optional(Type.Array(CrmId, { minItems: 1, maxItems: 1000 })),
    ...CommandAudit,
  },
  { additionalProperties: false },
);
export type ErpRequested = Static<typeof ErpRequested>;

/**
 * `erp.sync_failed`: a sync run (push or pull of one entity) ended in failure (ERP down, auth
 * refused, a mapping error on every item). The Telegram bot's alerts follow it; the run's row in
 * `erp_sync_log` holds the details.
 */
export const ErpSyncFailed = Type.Object(
  {
    runId: Type.String({ minLength: 1 }),
    entity: ErpEntity,
    direction: ErpDirection,
    /** A short, secret-free reason fit for a chat message ("1C answered 401", "timeout after 30 s"). */
    error: Type.String({ maxLength: 500 }),
  },
  { additionalProperties: false },
);
export type ErpSyncFailed = Static<typeof ErpSyncFailed>;

/** What started a run: an API / legacy command, ERP_AUTO_SYNC's timer, or record / payment changes (push on change). */
export const ErpTrigger = Type.Union([Type.Literal('request'), Type.Literal('schedule'), Type.Literal('change')]);

/** `erp.sync_started`: a run began (or resumed after a crash or outage: same runId, `resumed`). */
export const ErpSyncStarted = Type.Object(
  {
    runId: Type.String({ minLength: 1 }),
    entity: ErpEntity,
    direction: ErpDirection,
    trigger: ErpTrigger,
    resumed: Type.Boolean(),
    /** Requested ids, when the run covers only those. */
    ids: Type.Optional(Type.Array(Type.String(), { maxItems: 1000 })),
  },
  { additionalProperties: false },
);
export type ErpSyncStarted = Static<typeof ErpSyncStarted>;

/** What a run did to one object. */
export const ErpItemAction = Type.Union(
  ['created', 'updated', 'unchanged', 'deleted', 'linked', 'skipped'].map((a) => Type.Literal(a)),
);
export const ErpItemStatus = Type.Union([Type.Literal('ok'), Type.Literal('failed'), Type.Literal('conflict')]);

export const ErpSyncItem = Type.Object(
  {
    /** The item's place in the run (0-based), its row key in `erp_sync_items`. */
    n: Type.Integer({ minimum: 0 }),
    crmId: Type.Optional(Type.String()),
    erpKey: Type.Optional(Type.String()),
    action: ErpItemAction,
    status: ErpItemStatus,
    error: Type.Optional(Type.String({ maxLength: 500 })),
    /** Both sides changed since the last sync: who won by the entity's rule, and the losing side's data. */
    conflict: Type.Optional(
      Type.Object(
        { winner: Type.Union([Type.Literal('erp'), Type.Literal('crm')]), loser: Type.Record(Type.String(), Type.Unknown()) },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ErpSyncItem = Static<typeof ErpSyncItem>;

/** `erp.items_synced`: one committed page of a run (at most ERP_PAGE_SIZE items). */
export const ErpItemsSynced = Type.Object(
  {
    runId: Type.String({ minLength: 1 }),
    entity: ErpEntity,
    direction: ErpDirection,
    page: Type.Integer({ minimum: 0 }),
    items: Type.Array(ErpSyncItem),
  },
  { additionalProperties: false },
);
export type ErpItemsSynced = Static<typeof ErpItemsSynced>;

/** `erp.sync_completed`: a run went through every page (some items may have failed). */
export const ErpSyncCompleted = Type.Object(
  {
    runId: Type.String({ minLength: 1 }),
    entity: ErpEntity,
    direction: ErpDirection,
    total: Type.Integer({ minimum: 0 }),
    ok: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 }),
    conflicts: Type.Integer({ minimum: 0 }),
    skipped: Type.Integer({ minimum: 0 }),
    durationMs: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type ErpSyncCompleted = Static<typeof ErpSyncCompleted>;

/** Every ERP event, declared once. */
export const erpEvents = eventDomain({
  requested: defineEvent('erp.requested', ErpRequested),
  syncStarted: defineEvent('erp.sync_started', ErpSyncStarted),
  itemsSynced: defineEvent('erp.items_synced', ErpItemsSynced),
  syncCompleted: defineEvent('erp.sync_completed', ErpSyncCompleted),
  syncFailed: defineEvent('erp.sync_failed', ErpSyncFailed),
});
export type ErpEvent = EventUnion<typeof erpEvents.defs>;

export const ERP_REQUESTED = erpEvents.defs.requested.type;
export const ERP_SYNC_FAILED = erpEvents.defs.syncFailed.type;
export const ERP_SYNC_STARTED = erpEvents.defs.syncStarted.type;
export const ERP_ITEMS_SYNCED = erpEvents.defs.itemsSynced.type;
export const ERP_SYNC_COMPLETED = erpEvents.defs.syncCompleted.type;
/** erp.requested's subject (the handler's filter), per priority. */
export const erpCommandSubject = (priority: Priority) => commandSubject('erp', priority);
/** Sync runs' outcomes (one subject: runs are few, and the bot's alerts follow them in order). */
export const ERP_RUNS_SUBJECT = 'evt.erp.runs';
