import { type FoldProjection, readsDomains } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { type ErpEvent, erpEvents } from '../schemas/events/erp.js';

type Json = Parameters<TransactionSql['json']>[0];

/**
 * `erp_sync_log` (one row per run) and `erp_sync_items` (one per object a run touched), from the
 * erp.* events. A requested run's row appears `queued` with the command; a scheduled run's with
 * its start. `running` → `completed`, or `failed` (an ERP outage: the run resumes later, same id,
 * back to `running`, `attempts` counting the starts). Item rows are keyed by (run, n): a page the
 * run redid after a crash writes nothing twice.
 */
/** `erp_sync_log.id` is a uuid: an outcome under another run id (appended by hand, or by a tool) cannot be kept there. */
const RUN_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const erpSyncLogProjection: FoldProjection<ErpEvent> = {
  kind: 'fold',
  name: 'erp_sync_log',
  stream: 'EVENTS',
  filterSubject: 'evt.erp.>',
  reads: readsDomains(erpEvents),
  async apply(tx, events) {
    for (const e of events) {
      // Skipped, not failed: one such event would otherwise stop this read model for good.
      if (e.type !== 'erp.requested' && !RUN_ID.test(e.data.runId)) continue;
      switch (e.type) {
        case 'erp.requested': {
          const d = e.data;
          await tx`INSERT INTO erp_sync_log (id, entity, direction, status, trigger, requested_ids, created_at, updated_at, last_seq)
            VALUES (${e.id}, ${d.entity}, ${d.direction}, 'queued', 'request', ${d.ids ?? null}, ${e.time}, ${e.time}, ${e.seq})
            ON CONFLICT (id) DO NOTHING`;
          break;
        }
        case 'erp.sync_started': {
          const d = e.data;
          await tx`INSERT INTO erp_sync_log (id, entity, direction, status, trigger, requested_ids, attempts, created_at, started_at, updated_at, last_seq)
            VALUES (${d.runId}, ${d.entity}, ${d.direction}, 'running', ${d.trigger}, ${d.ids ?? null}, 1, ${e.time}, ${e.time}, ${e.time}, ${e.seq})
            ON CONFLICT (id) DO UPDATE SET status = 'running', attempts = erp_sync_log.attempts + 1,
              started_at = COALESCE(erp_sync_log.started_at, EXCLUDED.started_at), error_message = NULL,
              updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq
            WHERE erp_sync_log.status <> 'completed'`;
          break;
        }
        case 'erp.items_synced': {
          const d = e.data;
          if (d.items.length === 0) break;
          const rows = d.items.map((i) => ({
            run_id: d.runId,
            n: i.n,
            crm_id: i.crmId ?? null,
            erp_key: i.erpKey ?? null,
            action: i.action,
            status: i.status,
            error: i.error ?? null,
            conflict: i.conflict ? tx.json(i.conflict as Json) : null,
            created_at: e.time,
          }));
          await tx`INSERT INTO erp_sync_items ${tx(rows)} ON CONFLICT (run_id, n) DO NOTHING`;
          const top = Math.max(...d.items.map((i) => i.n)) + 1;
          await tx`UPDATE erp_sync_log SET records_total = GREATEST(records_total, ${top}), updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${d.runId} AND status <> 'completed'`;
          break;
        }
        case 'erp.sync_completed': {
          const d = e.data;
          await tx`UPDATE erp_sync_log SET status = 'completed', records_total = ${d.total}, records_ok = ${d.ok},
              records_failed = ${d.failed}, conflicts = ${d.conflicts}, skipped = ${d.skipped}, duration_ms = ${d.durationMs},
              error_message = NULL, finished_at = ${e.time}, updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${d.runId}`;
          break;
        }
        case 'erp.sync_failed': {
          const d = e.data;
          await tx`UPDATE erp_sync_log SET status = 'failed', error_message = ${d.error}, finished_at = ${e.time},
              updated_at = ${e.time}, last_seq = ${e.seq}
            WHERE id = ${d.runId} AND status <> 'completed'`;
          break;
        }
      }
    }
  },
  async reset(tx) {
    await tx`TRUNCATE erp_sync_items`;
    await tx`TRUNCATE erp_sync_log`;
  },
};
