-- Position of each projection in the log, committed with its read model in one transaction.
CREATE TABLE IF NOT EXISTS projection_checkpoints (
  name        text PRIMARY KEY,
  stream      text        NOT NULL,
  last_seq    bigint      NOT NULL DEFAULT 0,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- CRM API keys: only a SHA-256 of the key is stored; `prefix` identifies it in logs and lists.
CREATE TABLE IF NOT EXISTS api_keys (
  id           uuid PRIMARY KEY,
  prefix       text        NOT NULL UNIQUE,
  key_hash     bytea       NOT NULL UNIQUE,
  name         text        NOT NULL DEFAULT '',
  scopes       text[]      NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at   timestamptz
);

-- GPS units and driver phones. The token is shown once; only its hash is kept.
CREATE TABLE IF NOT EXISTS devices (
  id           text PRIMARY KEY,
  kind         text        NOT NULL DEFAULT 'unit' CHECK (kind IN ('unit', 'phone')),
  driver_id    text,
  token_hash   bytea       NOT NULL UNIQUE,
  name         text,
  disabled_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  rotated_at   timestamptz,
  last_seen_at timestamptz
);
CREATE INDEX IF NOT EXISTS devices_driver ON devices (driver_id) WHERE driver_id IS NOT NULL;

-- HTTP Idempotency-Key: the first response per key, kept 24 h, shared by every gateway process.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  api_key_id    uuid        NOT NULL,
  key           text        NOT NULL,
  request_hash  bytea       NOT NULL,
  status        integer,
  response      jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (api_key_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
