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

/** Every ERP event, declared once (the ERP issue adds the outcomes). */
export const erpEvents = eventDomain({
  requested: defineEvent('erp.requested', ErpRequested),
});
export type ErpEvent = EventUnion<typeof erpEvents.defs>;

export const ERP_REQUESTED = erpEvents.defs.requested.type;
