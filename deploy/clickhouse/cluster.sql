-- fleetgate's ClickHouse schema for a cluster: each shard keeps its rows in a replicated local
-- table, and `fleetgate.gps_tracking` (the name the gateway and analysts use) is a Distributed
-- table in front of the local ones. Run it once, as an administrator, on any node, before the
-- first gateway starts with CLICKHOUSE_URL:
--   clickhouse-client --multiquery < cluster.sql
-- It needs <remote_servers> with a cluster, ClickHouse Keeper, and the macros {cluster}, {shard}
-- and {replica} in each node's config (RUNBOOK.md, "ClickHouse cluster"). The gateway's own
-- migrations (schemas/clickhouse/) then find gps_tracking present and only add the analyst views
-- on the node they reach; run schemas/clickhouse/002_views.sql on every other node too.
--
-- Checked by test/deploy/clickhouseCluster.test.ts: every statement parsed by the embedded
-- engine (EXPLAIN AST), then run with the engines a single chdb can run (ON CLUSTER removed,
-- ReplicatedReplacingMergeTree → ReplacingMergeTree, Distributed → Merge).

CREATE DATABASE IF NOT EXISTS fleetgate ON CLUSTER '{cluster}';

-- The columns, order key and version column of schemas/clickhouse/001_gps_tracking.sql: a
-- redelivered or replayed point (same device_id, ts, event_id) collapses on merge within its
-- replica set, and reads with FINAL see it once. TTL: keep it equal to GPS_STORE_HISTORY_DAYS
-- (default 90); the gateway changes it ON CLUSTER when the variable changes (core/stores/gpsTtl.ts).
CREATE TABLE IF NOT EXISTS fleetgate.gps_tracking_local ON CLUSTER '{cluster}' (
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
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/fleetgate/gps_tracking_local', '{replica}', log_seq)
PARTITION BY toYYYYMMDD(ts)
ORDER BY (device_id, ts, event_id)
TTL toDateTime(ts) + INTERVAL 90 DAY;

-- Sharded by device: all copies of a point land on the same shard, so FINAL (applied per shard)
-- still collapses them, and one vehicle's track is read from one shard. Set
-- distributed_foreground_insert = 1 in the gateway user's profile: an insert then returns once
-- the shard stored it, so the projection's checkpoint (in Postgres) never runs ahead of rows that
-- only sit in this node's forwarding queue.
CREATE TABLE IF NOT EXISTS fleetgate.gps_tracking ON CLUSTER '{cluster}' AS fleetgate.gps_tracking_local
ENGINE = Distributed('{cluster}', 'fleetgate', 'gps_tracking_local', cityHash64(device_id));
