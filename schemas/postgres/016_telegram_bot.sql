-- Telegram bot (issue 16). telegram_users becomes the projection of link events: the chat's
-- scope, language and alert preferences. Link codes are kept only as SHA-256 digests.
ALTER TABLE telegram_users
  ADD COLUMN IF NOT EXISTS company_id  text,
  ADD COLUMN IF NOT EXISTS driver_id   text,
  ADD COLUMN IF NOT EXISTS language    text,
  ADD COLUMN IF NOT EXISTS preferences jsonb NOT NULL DEFAULT '{}'::jsonb,
  ADD COLUMN IF NOT EXISTS unlinked_at timestamptz;
-- A CRM user may link several phones with the same role: the chat is the key, not (user, role).
DROP INDEX IF EXISTS telegram_users_user;
CREATE INDEX IF NOT EXISTS telegram_users_user ON telegram_users (user_id, role) WHERE user_id IS NOT NULL;

-- Projection (telegram_users) of telegram.link_code_requested / telegram.linked.
CREATE TABLE IF NOT EXISTS telegram_link_codes (
  code_sha256  text PRIMARY KEY,
  user_id      text        NOT NULL,
  role         text        NOT NULL,
  company_id   text,
  driver_id    text,
  expires_at   timestamptz NOT NULL,
  used_at      timestamptz,
  used_by_chat bigint,
  created_at   timestamptz NOT NULL,
  last_seq     bigint      NOT NULL
);

-- The bot handler's own state (not read models): which updates were acted on (once, whichever
-- process got the delivery), failed link attempts per chat, and the long-polling lease.
CREATE TABLE IF NOT EXISTS telegram_bot_updates (
  update_id  bigint PRIMARY KEY,
  chat_id    bigint,
  handled_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS telegram_link_attempts (
  chat_id bigint      NOT NULL,
  at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS telegram_link_attempts_chat ON telegram_link_attempts (chat_id, at);
CREATE TABLE IF NOT EXISTS telegram_poll_lease (
  name        text PRIMARY KEY,
  holder      text        NOT NULL,
  expires_at  timestamptz NOT NULL,
  next_offset bigint      NOT NULL DEFAULT 0
);
-- Which alert went to which chat (the alerts handler's own): an alert redelivered is not sent again.
CREATE TABLE IF NOT EXISTS telegram_alerts_sent (
  alert_id text        NOT NULL,
  chat_id  bigint      NOT NULL,
  sent_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (alert_id, chat_id)
);
