-- A repeated provider event is kept as an audit row with status 'duplicate' (and a refused one
-- as 'rejected'), so only the first accepted delivery of a provider event id is unique.
DROP INDEX IF EXISTS webhook_events_provider_event;
CREATE UNIQUE INDEX IF NOT EXISTS webhook_events_provider_event ON webhook_events (provider, provider_event_id)
  WHERE provider_event_id IS NOT NULL AND signature_valid AND status NOT IN ('duplicate', 'rejected');
