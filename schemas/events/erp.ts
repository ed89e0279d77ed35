import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit, CrmId } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

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

/** Every ERP event, declared once (the ERP issue adds the rest of the outcomes). */
export const erpEvents = eventDomain({
  requested: defineEvent('erp.requested', ErpRequested),
  syncFailed: defineEvent('erp.sync_failed', ErpSyncFailed),
});
export type ErpEvent = EventUnion<typeof erpEvents.defs>;

export const ERP_REQUESTED = erpEvents.defs.requested.type;
export const ERP_SYNC_FAILED = erpEvents.defs.syncFailed.type;
/** Sync runs' outcomes (one subject: runs are few, and the bot's alerts follow them in order). */
export const ERP_RUNS_SUBJECT = 'evt.erp.runs';
