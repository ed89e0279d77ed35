-- Analyst views over gps_tracking. Each reads with FINAL, so a redelivered or replayed point (same
-- device_id, ts, event_id) counts once. Example queries: projections/README.md.

-- Every point once.
CREATE VIEW IF NOT EXISTS fleetgate.gps_points AS
SELECT device_id, ts, lat, lon, speed, heading, altitude, accuracy, battery, satellites, source, received_at, log_seq, event_id
FROM fleetgate.gps_tracking FINAL;

-- Points and distance per vehicle per UTC day. Distance sums geoDistance (WGS-84, metres) between
-- consecutive points of the same day; the step across midnight is not counted. A WHERE on
-- device_id is pushed below the window functions; one on day is applied after them.
CREATE VIEW IF NOT EXISTS fleetgate.gps_daily AS
SELECT
  device_id,
  toDate(ts) AS day,
  count() AS points,
  round(sum(step_m) / 1000, 3) AS distance_km,
  min(ts) AS first_ts,
  max(ts) AS last_ts,
  max(speed) AS max_speed_kmh
FROM (
  SELECT device_id, ts, speed,
    geoDistance(lagInFrame(lon, 1, lon) OVER w, lagInFrame(lat, 1, lat) OVER w, lon, lat) AS step_m
  FROM fleetgate.gps_tracking FINAL
  WINDOW w AS (PARTITION BY device_id, toDate(ts) ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
)
GROUP BY device_id, day;

-- Stops: runs of points where the vehicle did not move, lasting at least {min_minutes}. A point
-- "moved" when it reports more than 3 km/h or lies more than 50 m from the previous fix; each
-- moving point opens a new visit, and a visit whose points span min_minutes is a stop (a device
-- that went quiet while parked still counts: the span runs to its next fix at the same place).
-- Usage: SELECT * FROM fleetgate.gps_stops(min_minutes = 5) WHERE device_id = 'bus-7'
CREATE VIEW IF NOT EXISTS fleetgate.gps_stops AS
SELECT
  device_id,
  min(ts) AS started_at,
  max(ts) AS ended_at,
  round(dateDiff('second', min(ts), max(ts)) / 60, 1) AS minutes,
  avg(lat) AS lat,
  avg(lon) AS lon,
  count() AS points
FROM (
  SELECT device_id, ts, lat, lon,
    sum(moved) OVER (PARTITION BY device_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS visit
  FROM (
    SELECT device_id, ts, lat, lon,
      ifNull(speed, 0) > 3 OR geoDistance(lagInFrame(lon, 1, lon) OVER w, lagInFrame(lat, 1, lat) OVER w, lon, lat) > 50 AS moved
    FROM fleetgate.gps_tracking FINAL
    WINDOW w AS (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
  )
)
GROUP BY device_id, visit
HAVING dateDiff('second', started_at, ended_at) >= {min_minutes:UInt32} * 60;

-- Speeding episodes: consecutive points above {limit} km/h; a gap over 5 minutes between two
-- such points starts a new episode. lat/lon are where the top speed was reported.
-- Usage: SELECT * FROM fleetgate.gps_speeding(limit = 90) WHERE started_at >= today() - 7
CREATE VIEW IF NOT EXISTS fleetgate.gps_speeding AS
SELECT
  device_id,
  min(ts) AS started_at,
  max(ts) AS ended_at,
  dateDiff('second', min(ts), max(ts)) AS seconds,
  max(speed) AS max_speed_kmh,
  round(avg(speed), 1) AS avg_speed_kmh,
  count() AS points,
  argMax(lat, speed) AS lat,
  argMax(lon, speed) AS lon
FROM (
  SELECT device_id, ts, lat, lon, speed, over,
    sum(over AND (NOT prev_over OR dateDiff('second', prev_ts, ts) > 300))
      OVER (PARTITION BY device_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS episode
  FROM (
    SELECT device_id, ts, lat, lon, speed,
      ifNull(speed, 0) > {limit:Float64} AS over,
      lagInFrame(over, 1, false) OVER w AS prev_over,
      lagInFrame(ts, 1, ts) OVER w AS prev_ts
    FROM fleetgate.gps_tracking FINAL
    WINDOW w AS (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
  )
)
WHERE over
GROUP BY device_id, episode;
