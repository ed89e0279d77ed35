import { type Static, Type } from '@sinclair/typebox';
import { CommandAudit } from './command.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { AttemptFailed } from './envelope.js';

/** What can be exported; the columns and filters of each are in `core/exports/entities.ts`. */
export const EXPORT_ENTITIES = [
  'applications',
  'companies',
  'drivers',
  'vehicles',
  'payments',
  'refunds',
  'sms',
  'emails',
  'push',
  'webhooks',
  'gps_tracks',
  'gps_daily_mileage',
  'gps_stops',
  'gps_speeding',
] as const;
export const ExportEntity = Type.Union(EXPORT_ENTITIES.map((e) => Type.Literal(e)));
export type ExportEntity = (typeof EXPORT_ENTITIES)[number];
export const EXPORT_FORMATS = ['csv', 'xlsx', 'pdf', 'json', 'ndjson'] as const;
export const ExportFormat = Type.Union(EXPORT_FORMATS.map((f) => Type.Literal(f)));
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** The fields of an export command, shared by the HTTP body and the event. */
export const exportFields = {
  entity: ExportEntity,
  format: ExportFormat,
  filters: Type.Optional(
    Type.Record(Type.String({ maxLength: 64 }), Type.Unknown(), {
      maxProperties: 50,
      description: 'per entity, e.g. { "status": "completed", "date_from": "2024-01-01" }',
    }),
  ),
  columns: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' }), { minItems: 1, maxItems: 100 })),
  locale: Type.Optional(Type.Union([Type.Literal('ru'), Type.Literal('en')], { description: 'header language (default ru)' })),
  timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone for dates (default UTC)' })),
  separator: Type.Optional(Type.Union([Type.Literal(','), Type.Literal(';')], { description: 'CSV only (default ,)' })),
  truncate: Type.Optional(Type.Boolean({ description: 'over EXPORT_MAX_ROWS: write the first rows instead of failing' })),
};

/** `export.requested`: build a file of CRM records; the handler writes it and `export_jobs` tracks it. */
export const ExportRequested = Type.Object({ ...exportFields, ...CommandAudit }, { additionalProperties: false });
export type ExportRequested = Static<typeof ExportRequested>;

/** Where the export handler appends a job's progress and outcome: apart from its command queue. */
export const EXPORT_RESULT_SUBJECT = 'evt.export.result';

/** `export.started`: an attempt began writing (a crash restarts with a new attempt and a new file). */
export const ExportStarted = Type.Object(
  { attempt: Type.Integer({ minimum: 1 }), rowsTotal: Type.Integer({ minimum: 0 }), truncated: Type.Boolean() },
  { additionalProperties: false },
);
/** `export.progress`: rows written so far by the current attempt. */
export const ExportProgress = Type.Object(
  { attempt: Type.Integer({ minimum: 1 }), rowsDone: Type.Integer({ minimum: 0 }) },
  { additionalProperties: false },
);
/** `export.completed`: the file is complete under its final name and downloadable until `expiresAt`. */
export const ExportCompleted = Type.Object(
  {
    attempt: Type.Integer({ minimum: 1 }),
    rows: Type.Integer({ minimum: 0 }),
    bytes: Type.Integer({ minimum: 0 }),
    file: Type.String({ description: 'the file name under EXPORT_PATH' }),
    truncated: Type.Boolean(),
    expiresAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
/** `export.failed`: given up (bad filters, over the row limit, a store failure retried to the end). */
export const ExportFailed = Type.Object({ code: Type.String(), reason: Type.String() }, { additionalProperties: false });
/** `export.expired`: the file was deleted after EXPORT_TTL. */
export const ExportExpired = Type.Object({ file: Type.Union([Type.String(), Type.Null()]) }, { additionalProperties: false });

/** Every export event, declared once. */
export const exportEvents = eventDomain({
  requested: defineEvent('export.requested', ExportRequested),
  started: defineEvent('export.started', ExportStarted),
  progress: defineEvent('export.progress', ExportProgress),
  completed: defineEvent('export.completed', ExportCompleted),
  failed: defineEvent('export.failed', ExportFailed),
  expired: defineEvent('export.expired', ExportExpired),
  attemptFailed: defineEvent('export.attempt_failed', AttemptFailed),
});
export type ExportEvent = EventUnion<typeof exportEvents.defs>;

export const EXPORT_REQUESTED = exportEvents.defs.requested.type;
