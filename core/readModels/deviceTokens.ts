import type { PushPlatform } from '../../schemas/events/push.js';
import type { Sql } from '../stores/postgres.js';

/**
 * A row of `device_tokens` (`schemas/postgres/003_crm_read_models.sql`, 010) as the `postgres`
 * client reads it: timestamps as `Date`, `bigint` as text. Written only by
 * `projections/deviceTokens.ts`; read by the push handler through the query below.
 */
export interface DeviceTokenRow {
  token: string;
  user_id: string;
  platform: PushPlatform;
  /** False once revoked (logout, or FCM said the token is dead). */
  active: boolean;
  revoked_reason: string | null;
  revoked_at: Date | null;
  created_at: Date;
  updated_at: Date;
  last_seq: string;
}

/** The tokens a push to `userId` goes to, oldest registration first. */
export const activeDeviceTokens = async (sql: Sql, userId: string): Promise<string[]> =>
  (
    await sql<Pick<DeviceTokenRow, 'token'>[]>`
      SELECT token FROM device_tokens WHERE user_id = ${userId} AND active ORDER BY created_at, token`
  ).map((r) => r.token);
