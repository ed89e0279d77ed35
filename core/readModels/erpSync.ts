import type { ErpEntity } from '../../schemas/events/erp.js';
import { isRecordType } from '../../schemas/records/common.js';
import type { Sql } from '../stores/postgres.js';

/** A row of `erp_sync_log` (003 + 018), written only by projections/erpSyncLog.ts. */
export interface ErpSyncRunRow {
  id: string;
  entity: string;
  direction: 'push' | 'pull';
  status: string;
  trigger: string;
  requested_ids: string[] | null;
  records_total: number;
  records_ok: number;
  records_failed: number;
  conflicts: number;
  skipped: number;
  error_message: string | null;
  attempts: number;
  duration_ms: number | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
}

export interface ErpSyncItemRow {
  n: number;
  crm_id: string | null;
  erp_key: string | null;
  action: string;
  status: string;
  error: string | null;
  conflict: { winner: string; loser: Record<string, unknown> } | null;
  created_at: Date;
}

export const findErpSyncRun = async (sql: Sql, id: string) => {
  const [row] = await sql<ErpSyncRunRow[]>`SELECT * FROM erp_sync_log WHERE id = ${id}`;
  return row;
};

/** A run's items with a problem first (failed, conflict), then the rest, at most `limit`. */
export const erpSyncItems = (sql: Sql, runId: string, limit: number) =>
  sql<ErpSyncItemRow[]>`SELECT n, crm_id, erp_key, action, status, error, conflict, created_at FROM erp_sync_items
    WHERE run_id = ${runId} ORDER BY (status = 'ok'), n LIMIT ${limit}`;

export const listErpSyncRuns = (
  sql: Sql,
  f: { entity?: string; status?: string; direction?: string; before?: Date; limit: number },
) => sql<ErpSyncRunRow[]>`SELECT * FROM erp_sync_log WHERE true
    ${f.entity === undefined ? sql`` : sql`AND entity = ${f.entity}`}
    ${f.status === undefined ? sql`` : sql`AND status = ${f.status}`}
    ${f.direction === undefined ? sql`` : sql`AND direction = ${f.direction}`}
    ${f.before === undefined ? sql`` : sql`AND created_at < ${f.before}`}
    ORDER BY created_at DESC LIMIT ${f.limit}`;

/** The last completed run per entity and direction. */
export const lastSuccessfulRuns = (sql: Sql) =>
  sql<{ entity: string; direction: string; id: string; finished_at: Date; records_ok: number }[]>`
    SELECT DISTINCT ON (entity, direction) entity, direction, id, finished_at, records_ok FROM erp_sync_log
    WHERE status = 'completed' ORDER BY entity, direction, finished_at DESC`;

/**
 * Records changed in the CRM and not yet in the ERP: no link, a create whose outcome is unknown,
 * or a version newer than the one last synced. Payments: captured ones without a link.
 */
export const erpPushBacklog = async (sql: Sql, entity: ErpEntity): Promise<number> => {
  if (isRecordType(entity)) {
    const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM ${sql(entity)} r
      LEFT JOIN erp_links l ON l.entity = ${entity} AND l.crm_id = r.id
      WHERE NOT r.deleted AND (l.crm_id IS NULL OR l.erp_key IS NULL OR l.crm_version < r.version)`;
    return Number(row?.n ?? 0);
  }
  const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM payment_transactions p
    LEFT JOIN erp_links l ON l.entity = 'payments' AND l.crm_id = p.id::text
    WHERE p.status = 'succeeded' AND NOT p.test_mode AND (l.crm_id IS NULL OR l.erp_key IS NULL)`;
  return Number(row?.n ?? 0);
};

/** ERP_AUTO_SYNC's shared state: when the next run is due, the holder, the last failure. */
export const erpSchedule = async (sql: Sql) => {
  const [row] = await sql<
    { holder: string | null; next_run_at: Date; failures: number; last_error: string | null; last_ok_at: Date | null }[]
  >`SELECT holder, next_run_at, failures, last_error, last_ok_at FROM erp_sync_schedule WHERE name = 'auto'`;
  return row;
};

/**
 * `/readyz`'s `erp` detail for ERP_AUTO_SYNC: `ok`, or the back-off the scheduler is in. Never
 * makes the gateway unready: an ERP outage stops only the sync, not the gateway.
 */
export const erpReadiness = async (sql: Sql): Promise<string> => {
  const s = await erpSchedule(sql);
  if (!s) return 'waiting for the first run';
  if (s.failures === 0) return 'ok';
  return `retrying after ${s.failures} failed run(s), next at ${s.next_run_at.toISOString()}: ${s.last_error ?? ''}`.slice(
    0,
    300,
  );
};
