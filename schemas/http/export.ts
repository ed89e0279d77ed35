import { type Static, Type } from '@sinclair/typebox';
import { EXPORT_ENTITIES, EXPORT_FORMATS, exportFields } from '../events/export.js';

export const CreateExportRequest = Type.Object(exportFields, { additionalProperties: false, $id: 'CreateExportRequest' });
export type CreateExportRequest = Static<typeof CreateExportRequest>;

const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** `GET /api/v1/exports/{id}`: a job as `export_jobs` holds it. */
export const ExportJob = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    entity: Type.Union(EXPORT_ENTITIES.map((e) => Type.Literal(e))),
    format: Type.Union(EXPORT_FORMATS.map((f) => Type.Literal(f))),
    status: Type.Union(['queued', 'running', 'completed', 'failed', 'expired'].map((s) => Type.Literal(s))),
    filters: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
    columns: Type.Union([Type.Array(Type.String()), Type.Null()]),
    rows_total: Type.Union([Type.Integer(), Type.Null()], { description: 'rows the file will hold, once counted' }),
    rows_written: Type.Integer({ minimum: 0 }),
    progress_percent: Type.Integer({ minimum: 0, maximum: 100 }),
    size_bytes: Type.Union([Type.Integer(), Type.Null()]),
    truncated: Type.Boolean({ description: 'cut at EXPORT_MAX_ROWS (asked for with truncate: true)' }),
    attempt: Type.Integer({ minimum: 0, description: 'a crash restarts the job from the first row' }),
    error_code: Nullable(Type.String()),
    error_message: Nullable(Type.String()),
    created_at: Type.String({ format: 'date-time' }),
    finished_at: Nullable(Type.String({ format: 'date-time' })),
    expires_at: Nullable(Type.String({ format: 'date-time' })),
    download_url: Nullable(Type.String()),
  },
  { $id: 'ExportJob' },
);
export type ExportJob = Static<typeof ExportJob>;

export const ExportJobList = Type.Object({ items: Type.Array(ExportJob) }, { $id: 'ExportJobList' });

export const ExportListQuery = Type.Object(
  { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })) },
  { additionalProperties: false },
);
export type ExportListQuery = Static<typeof ExportListQuery>;
