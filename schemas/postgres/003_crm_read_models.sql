-- Read models with the table names of the CRM's integration layer (CRM_INTEGRATIONS_SPEC.md).
-- Only projections write here. `id` is the id of the command event that started the thing;
-- `last_seq` is the log sequence of the last event folded into the row.

CREATE TABLE IF NOT EXISTS sms_log (
  id                  uuid PRIMARY KEY,
  recipient           text        NOT NULL,
  message             text        NOT NULL,
  priority            text        NOT NULL DEFAULT 'normal',
  status              text        NOT NULL DEFAULT 'queued',
  provider            text,
  provider_message_id text,
  segments            integer,
  cost_minor          bigint,
  currency            char(3),
  error_code          text,
  error_message       text,
  attempts            integer     NOT NULL DEFAULT 0,
  source              text,
  test_mode           boolean     NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL,
  sent_at             timestamptz,
  delivered_at        timestamptz,
  updated_at          timestamptz NOT NULL,
  last_seq            bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS sms_log_recipient ON sms_log (recipient, created_at DESC);
CREATE INDEX IF NOT EXISTS sms_log_status ON sms_log (status, created_at DESC);
CREATE UNIQUE INDEX IF NOT EXISTS sms_log_provider_msg ON sms_log (provider, provider_message_id) WHERE provider_message_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS email_log (
  id                  uuid PRIMARY KEY,
  recipient           text        NOT NULL,
  subject             text,
  template            text,
  locale              text,
  status              text        NOT NULL DEFAULT 'queued',
  provider_message_id text,
  attachments         integer     NOT NULL DEFAULT 0,
  error_message       text,
  attempts            integer     NOT NULL DEFAULT 0,
  test_mode           boolean     NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL,
  sent_at             timestamptz,
  updated_at          timestamptz NOT NULL,
  last_seq            bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS email_log_recipient ON email_log (recipient, created_at DESC);
CREATE INDEX IF NOT EXISTS email_log_status ON email_log (status, created_at DESC);

CREATE TABLE IF NOT EXISTS payment_transactions (
  id                  uuid PRIMARY KEY,
  order_id            text        NOT NULL,
  provider            text        NOT NULL,
  provider_payment_id text,
  amount_minor        bigint      NOT NULL CHECK (amount_minor >= 0),
  refunded_minor      bigint      NOT NULL DEFAULT 0 CHECK (refunded_minor >= 0),
  currency            char(3)     NOT NULL,
  status              text        NOT NULL DEFAULT 'pending',
  description         text,
  customer            jsonb,
  confirmation_url    text,
  return_url          text,
  error_code          text,
  error_message       text,
  test_mode           boolean     NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL,
  paid_at             timestamptz,
  updated_at          timestamptz NOT NULL,
  last_seq            bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS payment_transactions_order ON payment_transactions (order_id);
CREATE UNIQUE INDEX IF NOT EXISTS payment_transactions_provider_id ON payment_transactions (provider, provider_payment_id) WHERE provider_payment_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS payment_transactions_status ON payment_transactions (status, created_at DESC);

CREATE TABLE IF NOT EXISTS device_tokens (
  token        text PRIMARY KEY,
  user_id      text        NOT NULL,
  platform     text        NOT NULL CHECK (platform IN ('ios', 'android', 'web')),
  active       boolean     NOT NULL DEFAULT true,
  revoked_reason text,
  created_at   timestamptz NOT NULL,
  updated_at   timestamptz NOT NULL,
  last_seq     bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS device_tokens_user ON device_tokens (user_id) WHERE active;

CREATE TABLE IF NOT EXISTS push_notification_log (
  id                  uuid PRIMARY KEY,
  user_id             text,
  token               text,
  title               text        NOT NULL,
  body                text        NOT NULL,
  data                jsonb,
  status              text        NOT NULL DEFAULT 'queued',
  success_count       integer     NOT NULL DEFAULT 0,
  failure_count       integer     NOT NULL DEFAULT 0,
  provider_message_ids text[],
  error_message       text,
  attempts            integer     NOT NULL DEFAULT 0,
  test_mode           boolean     NOT NULL DEFAULT false,
  created_at          timestamptz NOT NULL,
  sent_at             timestamptz,
  updated_at          timestamptz NOT NULL,
  last_seq            bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS push_notification_log_user ON push_notification_log (user_id, created_at DESC);

CREATE TABLE IF NOT EXISTS erp_sync_log (
  id             uuid PRIMARY KEY,
  entity         text        NOT NULL,
  direction      text        NOT NULL CHECK (direction IN ('push', 'pull')),
  status         text        NOT NULL DEFAULT 'queued',
  requested_ids  text[],
  records_total  integer     NOT NULL DEFAULT 0,
  records_ok     integer     NOT NULL DEFAULT 0,
  records_failed integer     NOT NULL DEFAULT 0,
  error_message  text,
  attempts       integer     NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL,
  started_at     timestamptz,
  finished_at    timestamptz,
  updated_at     timestamptz NOT NULL,
  last_seq       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS erp_sync_log_entity ON erp_sync_log (entity, created_at DESC);

-- One row per queued command of any channel: what the handler runner is doing about it.
CREATE TABLE IF NOT EXISTS notification_queue (
  id              uuid PRIMARY KEY,
  channel         text        NOT NULL,
  priority        text        NOT NULL DEFAULT 'normal' CHECK (priority IN ('urgent', 'high', 'normal', 'low')),
  status          text        NOT NULL DEFAULT 'queued',
  attempts        integer     NOT NULL DEFAULT 0,
  max_attempts    integer,
  next_attempt_at timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL,
  updated_at      timestamptz NOT NULL,
  last_seq        bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS notification_queue_status ON notification_queue (status, priority, created_at);

CREATE TABLE IF NOT EXISTS telegram_users (
  chat_id     bigint PRIMARY KEY,
  user_id     text,
  role        text,
  username    text,
  first_name  text,
  linked_at   timestamptz,
  blocked_at  timestamptz,
  created_at  timestamptz NOT NULL,
  updated_at  timestamptz NOT NULL,
  last_seq    bigint      NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS telegram_users_user ON telegram_users (user_id, role) WHERE user_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS export_jobs (
  id             uuid PRIMARY KEY,
  entity         text        NOT NULL,
  format         text        NOT NULL CHECK (format IN ('csv', 'xlsx', 'pdf', 'json')),
  filters        jsonb,
  columns        text[],
  status         text        NOT NULL DEFAULT 'queued',
  rows_total     integer,
  rows_done      integer     NOT NULL DEFAULT 0,
  file_path      text,
  file_bytes     bigint,
  error_message  text,
  requested_by   text,
  created_at     timestamptz NOT NULL,
  finished_at    timestamptz,
  expires_at     timestamptz,
  updated_at     timestamptz NOT NULL,
  last_seq       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS export_jobs_status ON export_jobs (status, created_at DESC);

-- Every webhook delivery, valid or not (audit). A provider event id is processed once.
CREATE TABLE IF NOT EXISTS webhook_events (
  id                 uuid PRIMARY KEY,
  provider           text        NOT NULL,
  provider_event_id  text,
  event_type         text,
  signature_valid    boolean     NOT NULL,
  status             text        NOT NULL DEFAULT 'received',
  error              text,
  remote_addr        text,
  headers            jsonb,
  payload_sha256     text,
  received_at        timestamptz NOT NULL,
  processed_at       timestamptz,
  last_seq           bigint      NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS webhook_events_provider_event ON webhook_events (provider, provider_event_id)
  WHERE provider_event_id IS NOT NULL AND signature_valid;
CREATE INDEX IF NOT EXISTS webhook_events_received ON webhook_events (provider, received_at DESC);

-- Provider settings. Secret fields are AES-256-GCM ciphertexts with a key id, never plaintext.
CREATE TABLE IF NOT EXISTS integration_settings (
  name         text PRIMARY KEY,
  enabled      boolean     NOT NULL DEFAULT true,
  test_mode    boolean     NOT NULL DEFAULT true,
  settings     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  secrets      jsonb       NOT NULL DEFAULT '{}'::jsonb,
  updated_at   timestamptz NOT NULL,
  last_seq     bigint      NOT NULL
);
