-- ERP / 1C sync (issue 17). `erp_sync_log` (003) gets the run's outcome columns; its per-item rows
-- live in `erp_sync_items`. Both are written only by projections/erpSyncLog.ts from the erp.*
-- events. `erp_links`, `erp_sync_cursors` and `erp_sync_schedule` are the sync's own working state
-- (handlers/erp/sync.ts), committed page by page so a run resumes where it stopped
-- (docs/decisions/0011-erp-sync-state.md).
ALTER TABLE erp_sync_log
  ADD COLUMN IF NOT EXISTS trigger      text    NOT NULL DEFAULT 'request',
  ADD COLUMN IF NOT EXISTS conflicts    integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS skipped      integer NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS duration_ms  integer;
CREATE INDEX IF NOT EXISTS erp_sync_log_status ON erp_sync_log (status, created_at DESC);
CREATE INDEX IF NOT EXISTS erp_sync_log_last_ok ON erp_sync_log (entity, direction, finished_at DESC) WHERE status = 'completed';

-- One row per object a run touched: what happened to it, and a conflict's losing side.
CREATE TABLE IF NOT EXISTS erp_sync_items (
  run_id     uuid        NOT NULL,
  n          integer     NOT NULL,
  crm_id     text,
  erp_key    text,
  action     text        NOT NULL,
  status     text        NOT NULL,
  error      text,
  conflict   jsonb,
  created_at timestamptz NOT NULL,
  PRIMARY KEY (run_id, n)
);
CREATE INDEX IF NOT EXISTS erp_sync_items_conflicts ON erp_sync_items (created_at DESC) WHERE status = 'conflict';

-- A CRM record (or payment) and its ERP object. `erp_key` NULL: a create was sent and its
-- outcome is unknown (timeout, crash) — the next attempt searches the ERP by `gateway_key`
-- before creating again. Versions on both sides as of the last sync, to detect changes.
CREATE TABLE IF NOT EXISTS erp_links (
  entity      text        NOT NULL,
  crm_id      text        NOT NULL,
  gateway_key text        NOT NULL,
  erp_key     text,
  erp_version text,
  crm_version bigint      NOT NULL DEFAULT 0,
  synced_at   timestamptz NOT NULL,
  PRIMARY KEY (entity, crm_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS erp_links_erp_key ON erp_links (entity, erp_key) WHERE erp_key IS NOT NULL;

-- The page a run has committed: a run that stopped (crash, ERP outage) resumes after it.
CREATE TABLE IF NOT EXISTS erp_sync_cursors (
  entity     text        NOT NULL,
  direction  text        NOT NULL,
  run_id     uuid        NOT NULL,
  page       integer     NOT NULL DEFAULT 0,
  position   text,
  items      integer     NOT NULL DEFAULT 0,
  done       boolean     NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (entity, direction)
);

-- ERP_AUTO_SYNC: one lease among the gateway's processes, and when the next run is due.
CREATE TABLE IF NOT EXISTS erp_sync_schedule (
  name        text        PRIMARY KEY,
  holder      text,
  expires_at  timestamptz NOT NULL DEFAULT now(),
  next_run_at timestamptz NOT NULL DEFAULT now(),
  failures    integer     NOT NULL DEFAULT 0,
  last_error  text,
  last_ok_at  timestamptz
);
