import type { ClickHouseClient } from '@clickhouse/client';

/**
 * Kilometres driven between `from` and `to` by `devices` (all devices when undefined), from the
 * GPS history in ClickHouse: the sum of geoDistance (WGS-84) between consecutive points of each
 * device, each point once (FINAL), as the `fleetgate.gps_daily` view counts it, but for the
 * caller's day (the notifications' time zone) rather than the UTC one.
 */
export const distanceKm = async (
  ch: ClickHouseClient,
  devices: readonly string[] | undefined,
  from: Date,
  to: Date,
): Promise<number> => {
  if (devices !== undefined && devices.length === 0) return 0;
  const rs = await ch.query({
    query: `
      SELECT sum(step_m) / 1000 AS km FROM (
        SELECT geoDistance(lagInFrame(lon, 1, lon) OVER w, lagInFrame(lat, 1, lat) OVER w, lon, lat) AS step_m
        FROM fleetgate.gps_tracking FINAL
        WHERE ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')
          ${devices === undefined ? '' : 'AND device_id IN {devices:Array(String)}'}
        WINDOW w AS (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)
      )`,
    query_params: { from: from.getTime(), to: to.getTime(), ...(devices === undefined ? {} : { devices }) },
    format: 'JSONEachRow',
  });
  const [row] = await rs.json<{ km: number | string | null }>();
  return Number(row?.km ?? 0);
};
