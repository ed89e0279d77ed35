-- Downlink commands per device: queued until the ingest process holding the device's
-- connection publishes them (or they expire). Folded from device.command_* events.
CREATE TABLE IF NOT EXISTS device_commands (
  id            uuid PRIMARY KEY,
  device_id     text        NOT NULL,
  command       text        NOT NULL,
  payload       jsonb,
  status        text        NOT NULL DEFAULT 'queued',
  requested_at  timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  delivered_at  timestamptz,
  acked_at      timestamptz,
  last_seq      bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS device_commands_pending ON device_commands (device_id, requested_at) WHERE status = 'queued';
