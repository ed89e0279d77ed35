import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { type Config, loadConfig } from '../../core/config.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { projectionRunner, rebuildProjection } from '../../core/runners/projectionRunner.js';
import { type ClickHouseStore, openClickHouse } from '../../core/stores/clickhouse.js';
import { migrate } from '../../core/stores/migrate.js';
import type { PostgresStore, Sql } from '../../core/stores/postgres.js';
import { gpsTrackingProjection } from '../../projections/gpsTracking.js';
import { GPS_REPORTED, type GpsReported, gpsSubject } from '../../schemas/events/gps.js';
import { tempDir } from './stores.js';

export interface GpsTrackingHarness {
  log: EventLog;
  sql: Sql;
  clickhouse: ClickHouseClient;
  config: Pick<Config, 'gps'>;
  retry?: { baseMs: number; maxMs: number };
}
const gpsTrackingOptions = (o: GpsTrackingHarness) => ({
  log: o.log,
  sql: o.sql,
  projection: gpsTrackingProjection({ clickhouse: o.clickhouse, config: o.config }),
  logger: silentLogger(),
  // gps_tracking batches by GPS_CLICKHOUSE_BATCH_*; these are the runner's defaults for folds.
  batchSize: 1000,
  batchDelayMs: 0,
  ...(o.retry && { retry: o.retry }),
});
/** `gps_tracking` under the projection runner, as the `projections` role runs it. */
export const gpsTrackingRunner = (o: GpsTrackingHarness) => projectionRunner(gpsTrackingOptions(o));
/** `fleetgate replay gps_tracking`. */
export const replayGpsTracking = (o: GpsTrackingHarness) => rebuildProjection(gpsTrackingOptions(o));

/** A minute boundary two hours ago: inside any retention, so TTL never drops test points. */
export const T0 = Math.floor((Date.now() - 2 * 3_600_000) / 60_000) * 60_000;

/** A `gps.reported` whose id is derived from the point, as the ingest does: a resend has the same id. */
export const aPoint = (deviceId: string, ts: number, o: Partial<GpsReported> = {}): EventEnvelope<GpsReported> =>
  newEvent({
    id: `p-${deviceId}-${ts}`,
    type: GPS_REPORTED,
    subject: gpsSubject(o.source ?? 'mqtt'),
    source: 'test',
    data: { deviceId, ts, lat: 55.75, lon: 37.61, speed: 30, source: 'mqtt', receivedAt: ts + 400, ...o },
  });

/** One log message holding `points` (the ingest coalesces many points per append). */
export const appendPoints = (log: EventLog, points: readonly EventEnvelope<GpsReported>[], headers?: Record<string, string>) =>
  log.append(gpsSubject('mqtt'), points, headers ? { headers } : {});

/**
 * chdb allows one data directory per process: a test file opens it once (in DATA_DIR/ch, where
 * `config.clickhouse.chdbDir` points) and keeps it for all its tests.
 */
export const openTestChdb = async (env: Record<string, string> = {}) => {
  const t = await tempDir('fg-chdb-');
  const config: Config = loadConfig({ DATA_DIR: t.dir, ...env });
  const store: ClickHouseStore = await openClickHouse({ chdbDir: join(t.dir, 'ch') });
  return {
    config,
    store,
    client: store.client,
    close: async () => {
      await store.close();
      await t.remove();
    },
  };
};

/** ClickHouse DDL needs the Postgres migration ledger; repeating it on a migrated chdb is a no-op. */
export const migrateClickHouse = (pg: PostgresStore, ch: ClickHouseStore) =>
  migrate({ postgres: pg, clickhouse: ch, gpsRetentionDays: 3650 });

export const chRows = async <T>(client: ClickHouseClient, query: string, query_params: Record<string, unknown> = {}) =>
  (await client.query({ query, format: 'JSONEachRow', query_params })).json<T>();
