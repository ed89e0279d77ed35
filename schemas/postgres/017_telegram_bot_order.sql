-- Telegram bot, second part of issue 16: updates of a chat handled once and in order across
-- processes, a reply retried after a crash, alerts kept until sent (summaries survive a crash),
-- one global send rate for every process, and the alert detectors' state.

-- telegram_bot_updates becomes the per-chat queue of updates: the poller records an update
-- before appending it, the handler (any process) records the one it was delivered; whoever
-- holds the chat's lease handles the chat's recorded updates in update id order. `handled_at`
-- is set only after the reply was sent, together with what the handling appended.
ALTER TABLE telegram_bot_updates
  ALTER COLUMN handled_at DROP NOT NULL,
  ALTER COLUMN handled_at DROP DEFAULT,
  ADD COLUMN IF NOT EXISTS body        jsonb,
  ADD COLUMN IF NOT EXISTS event_id    text,
  ADD COLUMN IF NOT EXISTS received_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN IF NOT EXISTS attempts    integer     NOT NULL DEFAULT 0,
  ADD COLUMN IF NOT EXISTS outcome     text,
  ADD COLUMN IF NOT EXISTS detail      text,
  ADD COLUMN IF NOT EXISTS results     jsonb;
CREATE INDEX IF NOT EXISTS telegram_bot_updates_pending ON telegram_bot_updates (chat_id, update_id) WHERE handled_at IS NULL;

-- One process at a time acts on a chat: a lease that expires if its holder dies.
CREATE TABLE IF NOT EXISTS telegram_chat_leases (
  chat_id    bigint PRIMARY KEY,
  holder     text        NOT NULL,
  expires_at timestamptz NOT NULL
);

-- telegram_alerts_sent becomes the alert outbox: a row per (alert, chat) when the alert is
-- accepted, `delivered_at` once the message (alone or in a summary) was sent.
ALTER TABLE telegram_alerts_sent
  ALTER COLUMN sent_at DROP NOT NULL,
  ALTER COLUMN sent_at DROP DEFAULT,
  ADD COLUMN IF NOT EXISTS kind        text,
  ADD COLUMN IF NOT EXISTS text        text,
  ADD COLUMN IF NOT EXISTS language    text,
  ADD COLUMN IF NOT EXISTS accepted_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX IF NOT EXISTS telegram_alerts_pending ON telegram_alerts_sent (chat_id, accepted_at) WHERE sent_at IS NULL;
CREATE INDEX IF NOT EXISTS telegram_alerts_latest ON telegram_alerts_sent (chat_id, accepted_at DESC);

-- When each chat may get its next alert message (Telegram: one a second per chat).
CREATE TABLE IF NOT EXISTS telegram_alert_chats (
  chat_id bigint PRIMARY KEY,
  next_at timestamptz NOT NULL
);

-- Messages sent per tenth of a second by all processes together (Telegram: about 30 a second
-- per bot); `second` is the tenth-of-a-second slot (ms since the epoch / 100).
CREATE TABLE IF NOT EXISTS telegram_send_budget (
  second bigint PRIMARY KEY,
  sent   integer NOT NULL
);

-- The alert detectors' state: which devices were reported offline, which are in a speeding
-- episode, and how far the dead-letter stream was read.
CREATE TABLE IF NOT EXISTS telegram_device_alerts (
  device_id     text PRIMARY KEY,
  offline_since timestamptz,
  over_since    timestamptz,
  speeding_at   timestamptz,
  max_speed     double precision
);
CREATE TABLE IF NOT EXISTS telegram_alert_cursors (
  name text PRIMARY KEY,
  seq  bigint NOT NULL
);
