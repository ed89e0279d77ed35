import type { ClickHouseClient } from '@clickhouse/client';
import { Type } from '@sinclair/typebox';
import type { Config } from '../../core/config.js';
import { vehicleLabels } from '../../core/readModels/records.js';
import { listVehiclePositions } from '../../core/readModels/vehiclePositions.js';
import type { Sql } from '../../core/stores/postgres.js';
import { GPS_TRACKING_TABLE } from '../../schemas/clickhouse/tables.js';
import { DeviceId } from '../../schemas/http/devices.js';
import {
  PositionsQuery,
  Track,
  TrackFeature,
  type TrackPoint,
  TrackQuery,
  type VehiclePosition,
  VehiclePositions,
} from '../../schemas/http/vehicles.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RouteSpec } from '../route.js';
import { invalidFields } from '../validation.js';
import { trackToGpx } from './trackGpx.js';

export interface VehicleRouteDeps {
  sql: Sql;
  /** The main (read-write) ClickHouse client; these routes only read. */
  clickhouse: ClickHouseClient;
  config: Pick<Config, 'gps'>;
  now?: () => Date;
}

const MAX_SPAN_MS = 31 * 86_400_000;
/** A track without `maxPoints` is still downsampled past this: one answer must stay a sane size. */
export const MAX_TRACK_POINTS = 100_000;
const MAX_IDS = 1_000;
const EPOCH_MS = /^\d{1,15}$/;
// Date.parse alone takes "March 7" and zone-less local times; only full dates or instants in UTC/offset.
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i;
const DEVICE_ID = new RegExp(DeviceId.pattern as string);

/** ms since the epoch from `1767261600000` or an ISO-8601 instant; a 400 naming the parameter otherwise. */
const parseTime = (value: string, field: string): number => {
  const ms = EPOCH_MS.test(value) ? Number(value) : ISO.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isFinite(ms)) return ms;
  throw invalidFields([{ pointer: `/${field}`, field, detail: 'must be epoch milliseconds or an ISO-8601 instant' }], 'query');
};

interface TrackRow {
  ts_ms: number | string;
  lat: number;
  lon: number;
  speed: number | null;
  heading: number | null;
  alt: number | null;
  accuracy: number | null;
  battery: number | null;
  source: string;
}

/**
 * FINAL collapses redelivered points; the window numbers the rest in time order, and a row is
 * kept where `rn * (m-1) / (n-1)` enters a new integer: exactly m evenly spread rows, the first
 * (rn = 0) and the last (rn = n-1) among them.
 */
const TRACK_SQL = `
SELECT toUnixTimestamp64Milli(ts) AS ts_ms, lat, lon, speed, heading, altitude AS alt, accuracy, battery, source
FROM (
  SELECT ts, lat, lon, speed, heading, altitude, accuracy, battery, source,
    row_number() OVER (ORDER BY ts, event_id) - 1 AS rn, count() OVER () AS n
  FROM ${GPS_TRACKING_TABLE} FINAL
  WHERE device_id = {deviceId:String}
    AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')
)
WHERE n <= {maxPoints:UInt64} OR (rn * ({maxPoints:UInt64} - 1)) % (n - 1) < {maxPoints:UInt64} - 1
ORDER BY rn`;

export const vehicleRoutes = (deps: VehicleRouteDeps): RouteSpec[] => [
  defineRoute({
    method: 'GET',
    path: '/api/v1/vehicles/positions',
    operationId: 'listVehiclePositions',
    summary: 'Latest position of each vehicle',
    description:
      'The newest fix per device (a buffered or resent older point never replaces it). `online` is true when that fix is at most `GPS_OFFLINE_AFTER` seconds old. `plate` and `driverName` come from the CRM records: the vehicle whose `gpsDeviceIds` holds the device, and its current driver.',
    tags: ['vehicles'],
    auth: { scope: 'vehicles' },
    query: PositionsQuery,
    responses: { 200: { description: 'positions, by device id', schema: VehiclePositions } },
    handle: async (ctx) => {
      const listed = ctx.query.ids
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      // `ids=` (empty) means no filter, like leaving it out.
      const ids = listed?.length ? listed : undefined;
      if (ids && (ids.length > MAX_IDS || ids.some((id) => !DEVICE_ID.test(id)))) {
        throw invalidFields([{ pointer: '/ids', field: 'ids', detail: `up to ${MAX_IDS} device ids, comma-separated` }], 'query');
      }
      const since = ctx.query.since === undefined ? undefined : new Date(parseTime(ctx.query.since, 'since'));
      const rows = await listVehiclePositions(deps.sql, { ids, since });
      const labels = await vehicleLabels(
        deps.sql,
        rows.map((r) => r.device_id),
      );
      const now = (deps.now?.() ?? new Date()).getTime();
      const positions: VehiclePosition[] = rows.map((r) => ({
        deviceId: r.device_id,
        ts: r.ts.getTime(),
        lat: r.lat,
        lon: r.lon,
        speed: r.speed,
        heading: r.heading,
        alt: r.alt,
        accuracy: r.accuracy,
        battery: r.battery,
        source: r.source,
        receivedAt: r.received_at.getTime(),
        online: now - r.ts.getTime() <= deps.config.gps.offlineAfterMs,
        plate: labels.get(r.device_id)?.plate ?? null,
        driverName: labels.get(r.device_id)?.driverName ?? null,
      }));
      return { status: 200, body: { positions } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/vehicles/{deviceId}/track',
    operationId: 'getVehicleTrack',
    summary: "A vehicle's track between two times",
    description: `Points in time order, each once (however often it was delivered). \`maxPoints\` downsamples in ClickHouse to evenly spread points, keeping the first and the last; without it a track longer than ${MAX_TRACK_POINTS} points is downsampled to that. \`format=geojson\` answers a GeoJSON Feature whose LineString has [lon, lat] coordinates and \`properties.times\` (a track of fewer than two points gives a degenerate LineString). \`format=gpx\` answers GPX 1.1 (\`application/gpx+xml\`): one track segment, elevation and time per point, speed (m/s) and course in Garmin's TrackPointExtension v2.`,
    tags: ['vehicles'],
    auth: { scope: 'vehicles' },
    query: TrackQuery,
    responses: {
      200: {
        description: 'the track (JSON), a GeoJSON Feature with format=geojson, or GPX 1.1 with format=gpx',
        schema: Type.Union([Track, TrackFeature]),
        alsoAs: ['application/gpx+xml'],
      },
    },
    handle: async (ctx) => {
      const deviceId = ctx.params.deviceId as string;
      if (!DEVICE_ID.test(deviceId)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no device ${deviceId}`);
      const from = parseTime(ctx.query.from, 'from');
      const to = parseTime(ctx.query.to, 'to');
      if (to <= from) throw invalidFields([{ pointer: '/to', field: 'to', detail: 'must be after from' }], 'query');
      if (to - from > MAX_SPAN_MS) {
        throw invalidFields([{ pointer: '/to', field: 'to', detail: 'the span may be at most 31 days' }], 'query');
      }
      const result = await deps.clickhouse.query({
        query: TRACK_SQL,
        format: 'JSONEachRow',
        query_params: { deviceId, from, to, maxPoints: ctx.query.maxPoints ?? MAX_TRACK_POINTS },
      });
      const points: TrackPoint[] = (await result.json<TrackRow>()).map((r) => ({
        ts: Number(r.ts_ms),
        lat: r.lat,
        lon: r.lon,
        speed: r.speed,
        heading: r.heading,
        alt: r.alt,
        accuracy: r.accuracy,
        battery: r.battery,
        source: r.source,
      }));
      if (ctx.query.format === 'gpx') return { status: 200, raw: trackToGpx(deviceId, points), type: 'application/gpx+xml' };
      if (ctx.query.format !== 'geojson') return { status: 200, body: { deviceId, points } };
      const feature: TrackFeature = {
        type: 'Feature',
        geometry: { type: 'LineString', coordinates: points.map((p) => [p.lon, p.lat]) },
        properties: { deviceId, times: points.map((p) => p.ts) },
      };
      return { status: 200, body: feature, type: 'application/geo+json' };
    },
  }),
];
