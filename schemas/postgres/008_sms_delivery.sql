-- SMS channel: delivery states in sms_log, the opt-out read model, and the SMS handler's own state.

-- sms_log (projection): who asked, and the provider's last word on the message.
ALTER TABLE sms_log ADD COLUMN IF NOT EXISTS requested_by text;
ALTER TABLE sms_log ADD COLUMN IF NOT EXISTS provider_status text;
CREATE INDEX IF NOT EXISTS sms_log_provider_message ON sms_log (provider_message_id) WHERE provider_message_id IS NOT NULL;

-- Numbers that asked for no more SMS (projection of sms.opted_out / sms.opted_in).
CREATE TABLE IF NOT EXISTS sms_opt_outs (
  phone       text PRIMARY KEY,
  opted_out   boolean     NOT NULL,
  reason      text,
  source      text        NOT NULL,
  updated_at  timestamptz NOT NULL,
  last_seq    bigint      NOT NULL
);

/*
 * The tables below are not read models: the SMS handler writes them itself, before and after a
 * provider call, because the guards and the crash record must hold across handler processes at
 * the moment of sending (a projection lags the log). Times are the database's now(), so every
 * process counts against one clock.
 */

-- Cost-guard ledger: one row per command the handler let through to a provider.
CREATE TABLE IF NOT EXISTS sms_send_ledger (
  id           uuid PRIMARY KEY,
  recipient    text        NOT NULL,
  source       text        NOT NULL,
  text_sha256  text        NOT NULL,
  reserved_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sms_send_ledger_recipient ON sms_send_ledger (recipient, reserved_at);
CREATE INDEX IF NOT EXISTS sms_send_ledger_source ON sms_send_ledger (source, reserved_at);
CREATE INDEX IF NOT EXISTS sms_send_ledger_text ON sms_send_ledger (recipient, text_sha256, reserved_at);

-- Every provider call for a command: 'calling' is written before the call, the outcome after it.
-- A redelivered command finds an accepted call here and does not send again.
CREATE TABLE IF NOT EXISTS sms_provider_calls (
  command_id          uuid        NOT NULL,
  call_no             integer     NOT NULL,
  provider            text        NOT NULL,
  state               text        NOT NULL CHECK (state IN ('calling', 'accepted', 'rejected', 'unknown')),
  provider_message_id text,
  segments            integer,
  cost_minor          bigint,
  currency            char(3),
  test_mode           boolean     NOT NULL DEFAULT false,
  error_code          text,
  error               text,
  started_at          timestamptz NOT NULL DEFAULT now(),
  finished_at         timestamptz,
  PRIMARY KEY (command_id, call_no)
);
CREATE UNIQUE INDEX IF NOT EXISTS sms_provider_calls_message ON sms_provider_calls (provider, provider_message_id)
  WHERE provider_message_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sms_provider_calls_started ON sms_provider_calls (started_at);

-- Sent messages whose final state no callback has reported yet: the status poller's work list.
CREATE TABLE IF NOT EXISTS sms_status_polls (
  provider            text        NOT NULL,
  provider_message_id text        NOT NULL,
  command_id          uuid        NOT NULL,
  test_mode           boolean     NOT NULL DEFAULT false,
  next_poll_at        timestamptz NOT NULL,
  polls               integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (provider, provider_message_id)
);
CREATE INDEX IF NOT EXISTS sms_status_polls_due ON sms_status_polls (next_poll_at);
