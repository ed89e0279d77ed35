CREATE DATABASE IF NOT EXISTS fleetgate;

-- Location history. A redelivered or replayed point has the same (device_id, ts, event_id) and
-- collapses on merge; analyst views read with FINAL. TTL enforces GPS_STORE_HISTORY_DAYS.
CREATE TABLE IF NOT EXISTS fleetgate.gps_tracking (
  device_id    String,
  ts           DateTime64(3, 'UTC'),
  lat          Float64,
  lon          Float64,
  speed        Nullable(Float32),
  heading      Nullable(Float32),
  altitude     Nullable(Float32),
  accuracy     Nullable(Float32),
  battery      Nullable(UInt8),
  satellites   Nullable(UInt8),
  source       LowCardinality(String),
  received_at  DateTime64(3, 'UTC'),
  log_seq      UInt64,
  event_id     String
)
ENGINE = ReplacingMergeTree(log_seq)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (device_id, ts, event_id)
TTL toDateTime(ts) + INTERVAL {retention_days} DAY;
