-- The SMS cost guards as one statement: the opt-out check, the advisory locks on recipient and
-- source, the counts and the ledger entry used to be a transaction of four round trips per SMS
-- (BEGIN, the pipelined checks, the INSERT, COMMIT). The locks are transaction-scoped, so they
-- are held until the calling statement ends, and every query below takes a fresh snapshot (the
-- function is VOLATILE): counts are read after the lock is held, as before. Lock classes: 8101
-- per recipient, then 8102 per source, always in this order, so two admissions never deadlock.
CREATE OR REPLACE FUNCTION sms_admit(
  p_id uuid,
  p_recipient text,
  p_source text,
  p_text_sha256 text,
  p_per_recipient_per_hour integer,
  p_per_source_per_hour integer,
  p_duplicate_window_seconds integer
) RETURNS TABLE (verdict text, opt_out_source text, opt_out_reason text, to_recipient integer, from_source integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  o record;
  n_recipient integer := 0;
  n_source integer := 0;
BEGIN
  SELECT x.source, x.reason INTO o FROM sms_opt_outs x WHERE x.phone = p_recipient AND x.opted_out;
  IF FOUND THEN
    RETURN QUERY SELECT 'opted_out'::text, o.source, o.reason, 0, 0;
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(8101, hashtext(p_recipient));
  IF p_per_source_per_hour > 0 THEN
    PERFORM pg_advisory_xact_lock(8102, hashtext(p_source));
  END IF;
  -- A retry or redelivery of a command already counted passes without being counted again.
  IF EXISTS (SELECT 1 FROM sms_send_ledger l WHERE l.id = p_id) THEN
    RETURN QUERY SELECT 'ok'::text, NULL::text, NULL::text, 0, 0;
    RETURN;
  END IF;
  IF p_duplicate_window_seconds > 0 AND EXISTS (
    SELECT 1 FROM sms_send_ledger l
    WHERE l.recipient = p_recipient AND l.text_sha256 = p_text_sha256
      AND l.reserved_at > now() - make_interval(secs => p_duplicate_window_seconds)
  ) THEN
    RETURN QUERY SELECT 'duplicate'::text, NULL::text, NULL::text, 0, 0;
    RETURN;
  END IF;
  IF p_per_recipient_per_hour > 0 THEN
    SELECT count(*)::integer INTO n_recipient FROM sms_send_ledger l
    WHERE l.recipient = p_recipient AND l.reserved_at > now() - interval '1 hour';
    IF n_recipient >= p_per_recipient_per_hour THEN
      RETURN QUERY SELECT 'recipient_limit'::text, NULL::text, NULL::text, n_recipient, 0;
      RETURN;
    END IF;
  END IF;
  IF p_per_source_per_hour > 0 THEN
    SELECT count(*)::integer INTO n_source FROM sms_send_ledger l
    WHERE l.source = p_source AND l.reserved_at > now() - interval '1 hour';
    IF n_source >= p_per_source_per_hour THEN
      RETURN QUERY SELECT 'source_limit'::text, NULL::text, NULL::text, n_recipient, n_source;
      RETURN;
    END IF;
  END IF;
  INSERT INTO sms_send_ledger (id, recipient, source, text_sha256)
  VALUES (p_id, p_recipient, p_source, p_text_sha256) ON CONFLICT (id) DO NOTHING;
  RETURN QUERY SELECT 'ok'::text, NULL::text, NULL::text, n_recipient, n_source;
END
$$;
