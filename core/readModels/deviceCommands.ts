import type { Sql } from '../stores/postgres.js';

/**
 * A row of `device_commands` (`schemas/postgres/007_device_commands.sql`) as the `postgres` client
 * reads it: timestamps as `Date`, `bigint` as text. Written only by `projections/deviceCommands.ts`;
 * read by the API through the query below.
 */
export interface DeviceCommandRow {
  id: string;
  device_id: string;
  command: string;
  payload: unknown;
  /** queued, delivered, acked; a queued command past `expires_at` reads as expired. */
  status: string;
  requested_at: Date;
  expires_at: Date;
  delivered_at: Date | null;
  acked_at: Date | null;
  last_seq: string;
}

/**
 * Command `commandId` of device `deviceId`. The id is compared as text, so a caller's id that is
 * not a uuid finds nothing instead of failing the cast.
 */
export const findDeviceCommand = async (sql: Sql, deviceId: string, commandId: string): Promise<DeviceCommandRow | undefined> =>
  (
    await sql<DeviceCommandRow[]>`
      SELECT * FROM device_commands WHERE device_id = ${deviceId}
        AND id::text = ${commandId}`
  )[0];
