-- Every event of a command in order, so GET /api/v1/<channel>/{id} shows the whole history.
ALTER TABLE sms_log ADD COLUMN IF NOT EXISTS history jsonb NOT NULL DEFAULT '[]'::jsonb;
ALTER TABLE email_log ADD COLUMN IF NOT EXISTS history jsonb NOT NULL DEFAULT '[]'::jsonb;
