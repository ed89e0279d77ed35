import type { Config } from './config.js';

/**
 * What a process's configuration leaves out that other processes would expect, said at start-up
 * (log and `/readyz` details) rather than discovered later. Distributed: the event log or
 * Postgres is a server, so other gateway processes may share it.
 */
export const startupWarnings = (config: Pick<Config, 'mode' | 'roles' | 'clickhouse'>): Record<string, string> => {
  const distributed = config.mode.eventLog === 'jetstream' || config.mode.postgres === 'postgres';
  if (!distributed || config.mode.clickhouse !== 'chdb') return {};
  const roles = new Set(config.roles);
  const lost: string[] = [];
  if (roles.has('projections')) {
    lost.push('the gps_tracking projection writes position history only into this process');
  }
  if (roles.has('api')) {
    lost.push(
      'GET /api/v1/vehicles/{deviceId}/track, POST /api/v1/analytics/query and GPS exports read only this process’s copy, which holds nothing another process projected',
    );
  }
  if (lost.length === 0) return {};
  return {
    clickhouseWarning: `CLICKHOUSE_URL is not set: ClickHouse is a private embedded copy (chdb in ${config.clickhouse.chdbDir}) that other gateway processes cannot see; ${lost.join('; ')}. Set CLICKHOUSE_URL to a ClickHouse server shared by every process`,
  };
};
