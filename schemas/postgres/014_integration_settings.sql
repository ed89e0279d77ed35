-- Issue 19: integration settings at run time.
-- enabled / test_mode become per-field overrides: NULL means "not set here", so the environment
-- (then the default) decides; the row is folded from integration.settings_changed.
ALTER TABLE integration_settings
  ALTER COLUMN enabled DROP NOT NULL,
  ALTER COLUMN enabled DROP DEFAULT,
  ALTER COLUMN test_mode DROP NOT NULL,
  ALTER COLUMN test_mode DROP DEFAULT;
ALTER TABLE integration_settings ADD COLUMN IF NOT EXISTS updated_by text;

-- The credentials' ciphertexts, apart from the event log (docs/decisions/0009): the log's events
-- name a value by `ref`, so a replay rebuilds integration_settings whichever key encrypts it now,
-- and `fleetgate secrets rotate` re-encrypts these rows in place.
CREATE TABLE IF NOT EXISTS integration_secrets (
  ref         uuid PRIMARY KEY,
  integration text        NOT NULL,
  field       text        NOT NULL,
  key_id      text        NOT NULL,
  nonce       bytea       NOT NULL,
  ciphertext  bytea       NOT NULL,
  tag         bytea       NOT NULL,
  -- At most the last four characters, for an operator to tell values apart; NULL for short values.
  hint        text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  rotated_at  timestamptz
);
CREATE INDEX IF NOT EXISTS integration_secrets_key_id ON integration_secrets (key_id);
