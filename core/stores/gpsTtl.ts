import type { ClickHouseClient } from '@clickhouse/client';

const TTL_DAYS = /TTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)/;

/**
 * GPS_STORE_HISTORY_DAYS after the table exists: the DDL set the TTL once, so start-up compares
 * the table's TTL with the variable and changes it when they differ. ClickHouse applies the new
 * TTL to existing parts in the background (a mutation), so start-up does not wait for it.
 */
export const syncGpsTtl = async (ch: ClickHouseClient, days: number): Promise<{ from: number; to: number } | undefined> => {
  const rows = await (
    await ch.query({
      query: `SELECT engine_full FROM system.tables WHERE database = 'fleetgate' AND name = 'gps_tracking'`,
      format: 'JSONEachRow',
    })
  ).json<{ engine_full: string }>();
  const current = Number(TTL_DAYS.exec(rows[0]?.engine_full ?? '')?.[1] ?? Number.NaN);
  const wanted = Math.trunc(days);
  if (!rows[0] || current === wanted) return undefined;
  await ch.command({ query: `ALTER TABLE fleetgate.gps_tracking MODIFY TTL toDateTime(ts) + INTERVAL ${wanted} DAY` });
  return { from: current, to: wanted };
};
