-- email_log as the e-mail handler fills it: who asked, the queue state (next attempt, last error
-- code), the server's answer, and what was attached (names, types and sizes, never the content).
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS priority         text        NOT NULL DEFAULT 'normal';
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS source           text;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS requested_by     text;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS attachment_files jsonb       NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS error_code       text;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS next_attempt_at  timestamptz;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS smtp_response    text;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS accepted         jsonb       NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS rejected         jsonb       NOT NULL DEFAULT '[]'::jsonb;
