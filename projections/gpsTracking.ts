import type { ClickHouseClient } from '@clickhouse/client';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Config } from '../core/config.js';
import type { LogMessage } from '../core/eventlog/port.js';
import { registry } from '../core/metrics.js';
import { readsDomains, type SinkProjection, SPLIT_HEADER } from '../core/runners/projectionRunner.js';
import { GPS_TRACKING_TABLE } from '../schemas/clickhouse/tables.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type GpsEvent, gpsEvents } from '../schemas/events/gps.js';

export const GPS_TRACKING = 'gps_tracking';
export { GPS_TRACKING_TABLE };

const gpsMetrics = {
  rows: new Counter({
    name: 'fleetgate_gps_tracking_rows_total',
    help: 'Rows inserted into ClickHouse gps_tracking (a retried insert counts again)',
    registers: [registry],
  }),
  insertErrors: new Counter({
    name: 'fleetgate_gps_tracking_insert_errors_total',
    help: 'ClickHouse inserts into gps_tracking that failed and will be retried',
    registers: [registry],
  }),
  insertSeconds: new Histogram({
    name: 'fleetgate_gps_tracking_insert_duration_seconds',
    help: 'Time of one successful ClickHouse insert into gps_tracking',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  }),
  lag: new Gauge({
    name: 'fleetgate_gps_tracking_lag_seconds',
    help: 'Age of the newest log message committed to gps_tracking when it was committed',
    registers: [registry],
  }),
};

/** One `fleetgate.gps_tracking` row; numbers stay numbers, times are epoch ms (DateTime64(3) takes them as ticks). */
export interface GpsTrackingRow {
  device_id: string;
  ts: number;
  lat: number;
  lon: number;
  speed: number | null;
  heading: number | null;
  altitude: number | null;
  accuracy: number | null;
  battery: number | null;
  satellites: number | null;
  source: string;
  received_at: number;
  log_seq: number;
  event_id: string;
}

const orNull = (v: number | undefined) => (v === undefined ? null : v);
// UInt8 columns refuse "55.5" in JSONEachRow: one fractional battery would stall the projection.
const uint8 = (v: number | undefined) => (v === undefined ? null : Math.min(255, Math.max(0, Math.round(v))));

/** One `gps.reported` as its row; `logSeq` is its log message's sequence (the ReplacingMergeTree version). */
export const gpsRow = (e: GpsEvent, logSeq: number): GpsTrackingRow => {
  switch (e.type) {
    case 'gps.reported': {
      const d = e.data;
      return {
        device_id: d.deviceId,
        ts: d.ts,
        lat: d.lat,
        lon: d.lon,
        speed: orNull(d.speed),
        heading: orNull(d.heading),
        altitude: orNull(d.alt),
        accuracy: orNull(d.accuracy),
        battery: uint8(d.battery),
        satellites: uint8(d.satellites),
        source: d.source,
        received_at: d.receivedAt,
        log_seq: logSeq,
        event_id: e.id,
      };
    }
    default:
      // A one-type union narrows `e.type`, not `e`: a second type makes this fail typecheck all the same.
      return unhandledEvent(e.type);
  }
};

/** The rows a batch of log messages contributes: split copies repeat events already in the log. */
export const gpsRows = (messages: readonly LogMessage[]): GpsTrackingRow[] =>
  messages
    .filter((m) => m.headers[SPLIT_HEADER] === undefined)
    .flatMap((m) => m.events.filter((e) => gpsEvents.is(e)).map((e) => gpsRow(e, m.seq)));

export const insertGpsRows = async (clickhouse: ClickHouseClient, rows: readonly GpsTrackingRow[]) => {
  if (rows.length === 0) return;
  const stop = gpsMetrics.insertSeconds.startTimer();
  try {
    await clickhouse.insert({ table: GPS_TRACKING_TABLE, values: rows as GpsTrackingRow[], format: 'JSONEachRow' });
  } catch (e) {
    gpsMetrics.insertErrors.inc();
    throw e;
  }
  stop();
  gpsMetrics.rows.inc(rows.length);
};

/**
 * `gps_tracking`: the GPS stream in ClickHouse, a sink of the projection runner. ClickHouse
 * cannot share a transaction with the Postgres checkpoint, so the runner inserts first and moves
 * the checkpoint after: a crash in between re-inserts rows, which the ReplacingMergeTree key
 * (device_id, ts, event_id) collapses and every read (FINAL / the views) never shows twice.
 * Batches of up to `GPS_CLICKHOUSE_BATCH_ROWS` rows or `GPS_CLICKHOUSE_BATCH_MS` of waiting;
 * `GPS_TRACKING_ENABLED=false` switches it off.
 */
export const gpsTrackingProjection = (opts: {
  clickhouse: ClickHouseClient;
  config: Pick<Config, 'gps'>;
}): SinkProjection<GpsEvent> => {
  const { clickhouse, config } = opts;
  return {
    kind: 'sink',
    name: GPS_TRACKING,
    stream: 'GPS',
    filterSubject: 'gps.reported.>',
    reads: readsDomains(gpsEvents),
    batch: { maxEvents: config.gps.clickhouseBatchRows, maxDelayMs: config.gps.clickhouseBatchMs },
    enabled: config.gps.enabled,
    write: (events) =>
      insertGpsRows(
        clickhouse,
        events.map((e) => gpsRow(e, e.seq)),
      ),
    async reset() {
      await clickhouse.command({ query: `TRUNCATE TABLE ${GPS_TRACKING_TABLE}` });
    },
    committed(newest) {
      gpsMetrics.lag.set(Math.max(0, (Date.now() - newest.storedAt) / 1000));
    },
  };
};
