import type { GpsSource } from '../../schemas/events/gps.js';
import type { Sql } from '../stores/postgres.js';

/**
 * A row of `vehicle_positions` (`schemas/postgres/006_vehicle_positions.sql`) as the `postgres`
 * client reads it: timestamps as `Date`, `bigint` as text. Written only by
 * `projections/vehiclePositions.ts`; read by the API through the queries below.
 */
export interface VehiclePositionRow {
  device_id: string;
  ts: Date;
  lat: number;
  lon: number;
  speed: number | null;
  heading: number | null;
  alt: number | null;
  accuracy: number | null;
  battery: number | null;
  source: GpsSource;
  received_at: Date;
  last_seq: string;
}

/** A position as `GET /api/v1/vehicles/positions` answers it (everything but `last_seq`). */
export type VehiclePositionView = Omit<VehiclePositionRow, 'last_seq'>;

/** The newest fix of each device, by device id; only `ids` (when given) and fixes at or after `since`. */
export const listVehiclePositions = (
  sql: Sql,
  filter: { ids?: readonly string[]; since?: Date },
): Promise<VehiclePositionView[]> => {
  const { ids, since } = filter;
  return sql<VehiclePositionView[]>`
    SELECT device_id, ts, lat, lon, speed, heading, alt, accuracy, battery, source, received_at FROM vehicle_positions
    WHERE true ${ids ? sql`AND device_id IN ${sql(ids)}` : sql``} ${since ? sql`AND ts >= ${since}` : sql``}
    ORDER BY device_id`;
};

/** When each device last reported (its newest fix's arrival), for the live feed's offline tracking. */
export const listVehicleLastReports = (sql: Sql): Promise<Pick<VehiclePositionRow, 'device_id' | 'received_at'>[]> =>
  sql<Pick<VehiclePositionRow, 'device_id' | 'received_at'>[]>`
    SELECT device_id, received_at FROM vehicle_positions`;

/**
 * One page of newest fixes by device id: those after `after` (keyset paging, in the database's
 * order: each page is a short query, so a reader that pauses between pages holds no connection or
 * cursor), or those of `ids` (the caller pages the list itself).
 */
export const pageVehiclePositions = (
  sql: Sql,
  page: { after: string; limit: number } | { ids: readonly string[] },
): Promise<VehiclePositionView[]> =>
  sql<VehiclePositionView[]>`
    SELECT device_id, ts, lat, lon, speed, heading, alt, accuracy, battery, source, received_at FROM vehicle_positions
    ${'ids' in page ? sql`WHERE device_id IN ${sql(page.ids)} ORDER BY device_id` : sql`WHERE device_id > ${page.after} ORDER BY device_id LIMIT ${page.limit}`}`;
