import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type ExportEvent, type ExportRequested, exportEvents } from '../schemas/events/export.js';

type Json = Parameters<TransactionSql['json']>[0];
const str = (v: unknown) => (typeof v === 'string' ? v : null);

/** Read defensively: a malformed command from another producer must not stop the read model. */
const requestedRow = (tx: TransactionSql, e: Stored<ExportEvent> & { type: 'export.requested' }) => {
  const d: Partial<ExportRequested> = e.data ?? {};
  return {
    id: e.id,
    entity: str(d.entity) ?? '',
    format: str(d.format) ?? 'csv',
    filters: d.filters ? tx.json(d.filters as Json) : null,
    columns: Array.isArray(d.columns) ? d.columns : null,
    status: 'queued',
    requested_by: str(d.requestedBy),
    locale: str(d.locale),
    time_zone: str(d.timeZone),
    created_at: e.time,
    updated_at: e.time,
    last_seq: e.seq,
  };
};

/**
 * `export_jobs`: one row per export command. `queued` → `running` (each attempt restarts the
 * count: a crash redoes the file from the beginning) → `completed` → `expired`, or `failed`.
 * Outcomes find their row by `causationId` (the command's id). A progress event of an older
 * attempt, or one arriving after the outcome, changes nothing.
 */
export const exportJobsProjection: FoldProjection<ExportEvent> = {
  kind: 'fold',
  name: 'export_jobs',
  stream: 'EVENTS',
  filterSubject: 'evt.export.>',
  reads: readsDomains(exportEvents),
  async apply(tx, events) {
    const updates: Promise<unknown>[] = [];
    for (const e of events) {
      if (e.type === 'export.requested') {
        updates.push(tx`INSERT INTO export_jobs ${tx(requestedRow(tx, e))} ON CONFLICT (id) DO NOTHING`);
        continue;
      }
      const id = e.causationId;
      if (id === undefined) continue;
      switch (e.type) {
        case 'export.started': {
          const d = e.data;
          updates.push(tx`UPDATE export_jobs SET status = 'running', attempt = ${d.attempt}, rows_total = ${d.rowsTotal},
              rows_done = 0, truncated = ${d.truncated}, file_path = NULL, file_bytes = NULL, error_code = NULL,
              error_message = NULL, started_at = ${e.time}, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${id} AND status IN ('queued', 'running') AND attempt <= ${d.attempt}`);
          break;
        }
        case 'export.progress':
          updates.push(tx`UPDATE export_jobs SET rows_done = GREATEST(rows_done, ${e.data.rowsDone}), updated_at = ${e.time},
              last_seq = ${e.seq} WHERE id = ${id} AND status = 'running' AND attempt = ${e.data.attempt}`);
          break;
        case 'export.completed': {
          const d = e.data;
          updates.push(tx`UPDATE export_jobs SET status = 'completed', attempt = ${d.attempt}, rows_done = ${d.rows},
              rows_total = ${d.rows}, file_path = ${d.file}, file_bytes = ${d.bytes}, truncated = ${d.truncated},
              finished_at = ${e.time}, expires_at = ${d.expiresAt}, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${id} AND status IN ('queued', 'running')`);
          break;
        }
        case 'export.failed':
          updates.push(tx`UPDATE export_jobs SET status = 'failed', error_code = ${e.data.code}, error_message = ${e.data.reason},
              finished_at = ${e.time}, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${id} AND status IN ('queued', 'running')`);
          break;
        case 'export.attempt_failed':
          updates.push(tx`UPDATE export_jobs SET error_message = ${e.data.error}, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${id} AND status IN ('queued', 'running')`);
          break;
        case 'export.expired':
          updates.push(tx`UPDATE export_jobs SET status = 'expired', file_path = NULL, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${id} AND status = 'completed'`);
          break;
        default:
          unhandledEvent(e);
      }
    }
    await Promise.all(updates);
  },
  async reset(tx) {
    await tx`TRUNCATE export_jobs`;
  },
};
