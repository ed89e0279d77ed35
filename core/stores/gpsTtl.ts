import type { ClickHouseClient } from '@clickhouse/client';

const TTL_DAYS = /TTL toDateTime\(ts\) \+ toIntervalDay\((\d+)\)/;
/** `Distributed('cluster', 'db', 'table', …)` as system.tables shows it (arguments quoted or not). */
const DISTRIBUTED = /^Distributed\(\s*'?([^',)]+)'?\s*,\s*'?([^',)]+)'?\s*,\s*'?([^',)]+)'?/;

/**
 * Where gps_tracking's TTL lives: the table itself, or on a cluster (deploy/clickhouse/cluster.sql)
 * the local table behind the Distributed one, changed ON CLUSTER so every replica follows.
 */
export const ttlTarget = (engineFull: string): { table: string; onCluster: string | undefined } => {
  const d = DISTRIBUTED.exec(engineFull);
  if (!d) return { table: 'fleetgate.gps_tracking', onCluster: undefined };
  return { table: `${d[2]}.${d[3]}`, onCluster: d[1] };
};

const engineOf = async (ch: ClickHouseClient, table: string) => {
  // Literals, not query parameters (chdb's connection does not take them); the names come from
  // us or from DISTRIBUTED's match, which excludes quotes.
  const [database, name] = table.replace(/[\\']/g, '').split('.');
  const rows = await (
    await ch.query({
      query: `SELECT engine_full FROM system.tables WHERE database = '${database}' AND name = '${name}'`,
      format: 'JSONEachRow',
    })
  ).json<{ engine_full: string }>();
  return rows[0]?.engine_full;
};

/**
 * GPS_STORE_HISTORY_DAYS after the table exists: the DDL set the TTL once, so start-up compares
 * the table's TTL with the variable and changes it when they differ. ClickHouse applies the new
 * TTL to existing parts in the background (a mutation), so start-up does not wait for it.
 */
export const syncGpsTtl = async (ch: ClickHouseClient, days: number): Promise<{ from: number; to: number } | undefined> => {
  const front = await engineOf(ch, 'fleetgate.gps_tracking');
  if (front === undefined) return undefined;
  const target = ttlTarget(front);
  const engine = target.onCluster ? await engineOf(ch, target.table) : front;
  const current = Number(TTL_DAYS.exec(engine ?? '')?.[1] ?? Number.NaN);
  const wanted = Math.trunc(days);
  if (engine === undefined || current === wanted) return undefined;
  const onCluster = target.onCluster ? ` ON CLUSTER '${target.onCluster.replaceAll("'", '')}'` : '';
  await ch.command({ query: `ALTER TABLE ${target.table}${onCluster} MODIFY TTL toDateTime(ts) + INTERVAL ${wanted} DAY` });
  return { from: current, to: wanted };
};
