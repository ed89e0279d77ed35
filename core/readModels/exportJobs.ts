import type { Sql } from '../stores/postgres.js';

/**
 * A row of `export_jobs` (migrations 003, 015) as the `postgres` client reads it. Written only by
 * `projections/exportJobs.ts`; read by the API and the export handler's lifecycle sweep.
 */
export interface ExportJobRow {
  id: string;
  entity: string;
  format: string;
  filters: Record<string, unknown> | null;
  columns: string[] | null;
  /** queued, running, completed, failed, expired */
  status: string;
  rows_total: number | null;
  rows_done: number;
  file_path: string | null;
  file_bytes: string | null;
  error_code: string | null;
  error_message: string | null;
  requested_by: string | null;
  attempt: number;
  truncated: boolean;
  locale: string | null;
  time_zone: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  expires_at: Date | null;
  updated_at: Date;
}

export const findExportJob = async (sql: Sql, id: string): Promise<ExportJobRow | undefined> => {
  const [row] = await sql<ExportJobRow[]>`SELECT * FROM export_jobs WHERE id = ${id}`;
  return row;
};

/** A key's jobs, newest first; `null` lists every key's (admin). */
export const listExportJobs = (sql: Sql, requestedBy: string | null, limit: number): Promise<ExportJobRow[]> =>
  requestedBy === null
    ? sql<ExportJobRow[]>`SELECT * FROM export_jobs ORDER BY created_at DESC LIMIT ${limit}`
    : sql<ExportJobRow[]>`SELECT * FROM export_jobs WHERE requested_by = ${requestedBy} ORDER BY created_at DESC LIMIT ${limit}`;

/** Completed jobs whose file outlived EXPORT_TTL: the sweep deletes the file and appends `export.expired`. */
export const expiredExportJobs = (sql: Sql, now: Date): Promise<Pick<ExportJobRow, 'id' | 'file_path'>[]> =>
  sql<Pick<ExportJobRow, 'id' | 'file_path'>[]>`SELECT id, file_path FROM export_jobs
    WHERE status = 'completed' AND expires_at <= ${now} ORDER BY expires_at LIMIT 100`;

/** Progress in percent, from the rows the current attempt wrote. */
export const progressPercent = (row: Pick<ExportJobRow, 'status' | 'rows_total' | 'rows_done'>): number => {
  if (row.status === 'completed' || row.status === 'expired') return 100;
  if (!row.rows_total) return 0;
  return Math.min(100, Math.floor((row.rows_done * 100) / row.rows_total));
};
