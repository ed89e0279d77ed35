import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

export const ExportEntity = Type.Union([
  Type.Literal('applications'),
  Type.Literal('drivers'),
  Type.Literal('vehicles'),
  Type.Literal('payments'),
]);
export type ExportEntity = Static<typeof ExportEntity>;
export const ExportFormat = Type.Union([Type.Literal('csv'), Type.Literal('xlsx'), Type.Literal('pdf'), Type.Literal('json')]);
export type ExportFormat = Static<typeof ExportFormat>;

/** The fields of an export command, shared by the HTTP body and the event. */
export const exportFields = {
  entity: ExportEntity,
  format: ExportFormat,
  filters: Type.Optional(
    Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
      maxProperties: 50,
      description: 'e.g. { "status": "completed", "date_from": "2024-01-01" }',
    }),
  ),
  columns: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), { minItems: 1, maxItems: 100 })),
};

/** `export.requested`: build a file of CRM records; the handler writes it and `export_jobs` tracks it. */
export const ExportRequested = Type.Object({ ...exportFields, ...CommandAudit }, { additionalProperties: false });
export type ExportRequested = Static<typeof ExportRequested>;

/** Every export event, declared once (the exports issue adds the job's progress and outcome). */
export const exportEvents = eventDomain({
  requested: defineEvent('export.requested', ExportRequested),
});
export type ExportEvent = EventUnion<typeof exportEvents.defs>;

export const EXPORT_REQUESTED = exportEvents.defs.requested.type;
