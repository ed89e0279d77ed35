-- The embedded event log: one row per log message (a batch of one or more events).
-- Works on PGlite and on a real Postgres.
CREATE TABLE IF NOT EXISTS fleetgate_streams (
  name      text PRIMARY KEY,
  last_seq  bigint NOT NULL DEFAULT 0
);
INSERT INTO fleetgate_streams (name) VALUES ('EVENTS'), ('GPS'), ('DLQ') ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS fleetgate_log (
  stream     text        NOT NULL REFERENCES fleetgate_streams (name),
  seq        bigint      NOT NULL,
  subject    text        NOT NULL,
  msg_id     text        NOT NULL,
  headers    jsonb       NOT NULL DEFAULT '{}'::jsonb,
  events     jsonb       NOT NULL,
  stored_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, seq),
  UNIQUE (stream, msg_id)
);
CREATE INDEX IF NOT EXISTS fleetgate_log_subject ON fleetgate_log (stream, subject, seq);

-- Durable consumers: delivered_seq is the last stream sequence handed out for the first time;
-- fleetgate_pending holds what is delivered and not yet settled.
CREATE TABLE IF NOT EXISTS fleetgate_consumers (
  stream         text   NOT NULL REFERENCES fleetgate_streams (name),
  name           text   NOT NULL,
  filter_subject text,
  ack_wait_ms    integer NOT NULL,
  max_deliver    integer NOT NULL,
  dead_letter    text,
  delivered_seq  bigint NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (stream, name)
);

CREATE TABLE IF NOT EXISTS fleetgate_pending (
  stream      text        NOT NULL,
  consumer    text        NOT NULL,
  seq         bigint      NOT NULL,
  deliveries  integer     NOT NULL,
  visible_at  timestamptz NOT NULL,
  last_reason text,
  PRIMARY KEY (stream, consumer, seq),
  FOREIGN KEY (stream, consumer) REFERENCES fleetgate_consumers (stream, name) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS fleetgate_pending_visible ON fleetgate_pending (stream, consumer, visible_at);

-- One append. The stream row lock serialises appenders, so sequence numbers become visible in
-- order: a reader that has seen seq N has seen everything below N (RELIABILITY.md finding 5).
-- Raises SQLSTATE FG409 on a stale expected subject sequence, with the actual one in DETAIL.
CREATE OR REPLACE FUNCTION fleetgate_append(
  p_stream text, p_subject text, p_msg_id text, p_headers jsonb, p_events jsonb, p_expected bigint
) RETURNS TABLE (seq bigint, duplicate boolean, stored_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
  v_seq  bigint;
  v_at   timestamptz;
  v_last bigint;
BEGIN
  PERFORM 1 FROM fleetgate_streams s WHERE s.name = p_stream FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no stream %', p_stream USING ERRCODE = 'FG404';
  END IF;
  SELECT l.seq, l.stored_at INTO v_seq, v_at FROM fleetgate_log l WHERE l.stream = p_stream AND l.msg_id = p_msg_id;
  IF FOUND THEN
    RETURN QUERY SELECT v_seq, true, v_at;
    RETURN;
  END IF;
  IF p_expected IS NOT NULL THEN
    SELECT coalesce(max(l.seq), 0) INTO v_last FROM fleetgate_log l WHERE l.stream = p_stream AND l.subject = p_subject;
    IF v_last <> p_expected THEN
      RAISE EXCEPTION 'wrong last sequence for %', p_subject USING ERRCODE = 'FG409', DETAIL = v_last::text;
    END IF;
  END IF;
  UPDATE fleetgate_streams s SET last_seq = s.last_seq + 1 WHERE s.name = p_stream RETURNING s.last_seq INTO v_seq;
  INSERT INTO fleetgate_log (stream, seq, subject, msg_id, headers, events)
    VALUES (p_stream, v_seq, p_subject, p_msg_id, p_headers, p_events) RETURNING fleetgate_log.stored_at INTO v_at;
  RETURN QUERY SELECT v_seq, false, v_at;
END;
$$;
