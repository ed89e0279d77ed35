import { setTimeout as sleep } from 'node:timers/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Config } from '../core/config.js';
import type { EventLog, LogMessage } from '../core/eventlog/port.js';
import type { Logger } from '../core/logger.js';
import { metrics, registry } from '../core/metrics.js';
import { followBatches, runFoldLoop } from '../core/runners/foldLoop.js';
import { nextProgress, type ProjectionRunner, SPLIT_HEADER } from '../core/runners/projectionRunner.js';
import type { Sql } from '../core/stores/postgres.js';
import { GPS_TRACKING_TABLE } from '../schemas/clickhouse/tables.js';
import { GatewayError } from '../schemas/errors.js';
import { GPS_REPORTED, type GpsReported } from '../schemas/events/gps.js';

export const GPS_TRACKING = 'gps_tracking';
export { GPS_TRACKING_TABLE };

const STREAM = 'GPS';
const FILTER = 'gps.reported.>';

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

/** The rows a batch of log messages contributes: split copies repeat events already in the log. */
export const gpsRows = (messages: readonly LogMessage[]): GpsTrackingRow[] => {
  const rows: GpsTrackingRow[] = [];
  for (const m of messages) {
    if (m.headers[SPLIT_HEADER] !== undefined) continue;
    for (const e of m.events) {
      if (e.type !== GPS_REPORTED) continue;
      const d = e.data as GpsReported;
      rows.push({
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
        log_seq: m.seq,
        event_id: e.id,
      });
    }
  }
  return rows;
};

export const insertGpsRows = async (clickhouse: ClickHouseClient, rows: readonly GpsTrackingRow[]) => {
  if (rows.length === 0) return;
  const stop = gpsMetrics.insertSeconds.startTimer();
  await clickhouse.insert({ table: GPS_TRACKING_TABLE, values: rows as GpsTrackingRow[], format: 'JSONEachRow' });
  stop();
  gpsMetrics.rows.inc(rows.length);
};

const readCheckpoint = async (sql: Sql): Promise<number> => {
  const [row] = await sql<{ last_seq: string }[]>`
    INSERT INTO projection_checkpoints (name, stream) VALUES (${GPS_TRACKING}, ${STREAM})
    ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING last_seq`;
  return Number(row?.last_seq ?? 0);
};

/** Compare-and-set: a second runner or a rebuild that moved the checkpoint fences this one. */
const advance = async (sql: Sql, from: number, to: number) => {
  const moved = await sql`
    UPDATE projection_checkpoints SET last_seq = ${to}, updated_at = now()
    WHERE name = ${GPS_TRACKING} AND last_seq = ${from}`;
  if (moved.count !== 1) throw new GatewayError('GW_ERR_PROJECTION_FENCED', `${GPS_TRACKING}: checkpoint moved from ${from}`);
};

export interface GpsTrackingOptions {
  log: EventLog;
  sql: Sql;
  clickhouse: ClickHouseClient;
  config: Pick<Config, 'gps'>;
  logger: Logger;
  /** Back-off between failed inserts (default 100 ms doubling to 30 s). */
  retry?: { baseMs: number; maxMs: number };
}

/**
 * `gps_tracking`: follows the GPS stream into ClickHouse. ClickHouse cannot share a transaction
 * with the Postgres checkpoint, so the order is insert first, checkpoint after: a crash in
 * between re-inserts rows, which the ReplacingMergeTree key (device_id, ts, event_id) collapses
 * and every read (FINAL / the views) never shows twice. A failing insert is retried in place
 * with back-off: the batch is never dropped and the loop never dies.
 */
export const gpsTrackingProjection = (opts: GpsTrackingOptions): ProjectionRunner & { readonly enabled: boolean } => {
  const { log, sql, clickhouse, config } = opts;
  const plog = opts.logger.child({ projection: GPS_TRACKING });
  const { baseMs, maxMs } = opts.retry ?? { baseMs: 100, maxMs: 30_000 };
  const enabled = config.gps.enabled;
  let abort = new AbortController();
  let loop: Promise<void> | undefined;
  let position = 0;
  const progress = new EventTarget();

  /** Retries until ClickHouse takes the rows; after `stop` one failure gives up (the checkpoint stays put). */
  const insertWithRetry = async (rows: GpsTrackingRow[], signal: AbortSignal) => {
    for (let failures = 0; ; failures++) {
      try {
        return await insertGpsRows(clickhouse, rows);
      } catch (e) {
        gpsMetrics.insertErrors.inc();
        metrics.projectionErrors.inc({ projection: GPS_TRACKING });
        if (signal.aborted) throw e;
        const delay = Math.min(maxMs, baseMs * 2 ** Math.min(failures, 16));
        plog.warn({ err: e, rows: rows.length, failures: failures + 1, retryInMs: delay }, 'clickhouse insert failed; retrying');
        await sleep(delay, undefined, { signal }).catch(() => {});
      }
    }
  };

  const flush = async (batch: LogMessage[], signal: AbortSignal) => {
    const last = batch[batch.length - 1] as LogMessage;
    const rows = gpsRows(batch);
    await insertWithRetry(rows, signal);
    await advance(sql, position, last.seq);
    position = last.seq;
    metrics.projectionEvents.inc({ projection: GPS_TRACKING }, rows.length);
    metrics.projectionPosition.set({ projection: GPS_TRACKING }, position);
    gpsMetrics.lag.set(Math.max(0, (Date.now() - last.storedAt) / 1000));
    progress.dispatchEvent(new Event('progress'));
  };

  /** Follows the GPS stream from the checkpoint into ClickHouse until aborted; throws on fencing or error. */
  const runOnce = async (signal: AbortSignal) => {
    position = await readCheckpoint(sql);
    metrics.projectionPosition.set({ projection: GPS_TRACKING }, position);
    const batches = {
      fromSeq: position + 1,
      filterSubject: FILTER,
      signal,
      maxEvents: config.gps.clickhouseBatchRows,
      maxDelayMs: config.gps.clickhouseBatchMs,
    };
    await followBatches(log, STREAM, batches, (batch) => flush(batch, signal));
  };

  // Postgres (checkpoint) or the log failed: resume from the checkpoint; ClickHouse absorbs the repeat.
  const run = () => runFoldLoop({ name: GPS_TRACKING, logger: plog, signal: abort.signal, backoff: { baseMs, maxMs } }, runOnce);

  const behind = async () =>
    (await log.read(STREAM, 1, { fromSeq: (await readCheckpoint(sql)) + 1, filterSubject: FILTER })).length > 0;

  return {
    enabled,
    async start() {
      if (loop) return;
      if (!enabled) {
        plog.info('GPS_TRACKING_ENABLED=false: gps_tracking not started');
        return;
      }
      abort = new AbortController();
      position = await readCheckpoint(sql);
      plog.info({ checkpoint: position }, 'projection started');
      loop = run();
    },
    async stop() {
      abort.abort();
      await loop;
      loop = undefined;
    },
    checkpoint: () => readCheckpoint(sql),
    async caughtUp(timeoutMs = 30_000) {
      if (!enabled) return;
      const deadline = Date.now() + timeoutMs;
      while (await behind()) {
        if (Date.now() > deadline) throw new Error(`${GPS_TRACKING} did not catch up within ${timeoutMs} ms`);
        await nextProgress(progress, 50);
      }
    },
  };
};

/**
 * `fleetgate replay gps_tracking`: resets the checkpoint first (fencing a live runner, which then
 * replays from 1 as well), truncates, and folds the whole GPS stream again. Rows a fenced runner
 * inserts after the truncate are points of the log anyway and collapse with the replayed ones.
 */
export const rebuildGpsTracking = async (opts: GpsTrackingOptions & { timeoutMs?: number }): Promise<number> => {
  await readCheckpoint(opts.sql);
  await opts.sql`UPDATE projection_checkpoints SET last_seq = 0, updated_at = now() WHERE name = ${GPS_TRACKING}`;
  await opts.clickhouse.command({ query: `TRUNCATE TABLE ${GPS_TRACKING_TABLE}` });
  // An explicit replay runs even where the live projection is switched off.
  const runner = gpsTrackingProjection({ ...opts, config: { gps: { ...opts.config.gps, enabled: true } } });
  await runner.start();
  try {
    await runner.caughtUp(opts.timeoutMs ?? 24 * 3_600_000);
  } finally {
    await runner.stop();
  }
  return runner.checkpoint();
};
