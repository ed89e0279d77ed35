-- Push: the whole history of a notification (GET-able like sms_log), every device's latest FCM
-- result, and when the next attempt is due; device tokens remember when they were revoked.
ALTER TABLE push_notification_log ADD COLUMN IF NOT EXISTS priority text NOT NULL DEFAULT 'normal';
ALTER TABLE push_notification_log ADD COLUMN IF NOT EXISTS results jsonb;
ALTER TABLE push_notification_log ADD COLUMN IF NOT EXISTS error_code text;
ALTER TABLE push_notification_log ADD COLUMN IF NOT EXISTS next_attempt_at timestamptz;
ALTER TABLE push_notification_log ADD COLUMN IF NOT EXISTS history jsonb NOT NULL DEFAULT '[]'::jsonb;
CREATE INDEX IF NOT EXISTS push_notification_log_status ON push_notification_log (status, created_at DESC);

ALTER TABLE device_tokens ADD COLUMN IF NOT EXISTS revoked_at timestamptz;
