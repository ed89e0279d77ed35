-- Latest position per vehicle (projection `vehicle_positions` over the GPS stream). A row moves
-- only to a newer fix time, so buffered or resent old points never overwrite a fresh one.
CREATE TABLE IF NOT EXISTS vehicle_positions (
  device_id    text PRIMARY KEY,
  ts           timestamptz      NOT NULL,
  lat          double precision NOT NULL,
  lon          double precision NOT NULL,
  speed        double precision,
  heading      double precision,
  alt          double precision,
  accuracy     double precision,
  battery      double precision,
  source       text             NOT NULL,
  received_at  timestamptz      NOT NULL,
  last_seq     bigint           NOT NULL
);
CREATE INDEX IF NOT EXISTS vehicle_positions_ts ON vehicle_positions (ts DESC);
