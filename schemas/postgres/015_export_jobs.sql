-- Issue 18: exports as jobs. NDJSON joins the formats; the job keeps what the handler needs to
-- redo it and what the status route shows (attempt, truncation, header language, time zone).
ALTER TABLE export_jobs DROP CONSTRAINT IF EXISTS export_jobs_format_check;
ALTER TABLE export_jobs ADD CONSTRAINT export_jobs_format_check CHECK (format IN ('csv', 'xlsx', 'pdf', 'json', 'ndjson'));
ALTER TABLE export_jobs ADD COLUMN IF NOT EXISTS attempt integer NOT NULL DEFAULT 0;
ALTER TABLE export_jobs ADD COLUMN IF NOT EXISTS truncated boolean NOT NULL DEFAULT false;
ALTER TABLE export_jobs ADD COLUMN IF NOT EXISTS error_code text;
ALTER TABLE export_jobs ADD COLUMN IF NOT EXISTS locale text;
ALTER TABLE export_jobs ADD COLUMN IF NOT EXISTS time_zone text;
ALTER TABLE export_jobs ADD COLUMN IF NOT EXISTS started_at timestamptz;
CREATE INDEX IF NOT EXISTS export_jobs_requested_by ON export_jobs (requested_by, created_at DESC);
