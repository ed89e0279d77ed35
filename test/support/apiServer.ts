import { postgresApiKeyStore } from '../../api/auth.js';
import type { ApiDeps } from '../../api/deps.js';
import { type ApiClickHouse, mountApi } from '../../api/index.js';
import { type Config, loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { type ProjectionRunner, projectionRunner } from '../../core/runners/projectionRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { projections } from '../../projections/index.js';
import type { Scope } from '../../schemas/http/scopes.js';
import { startTestHttpServer } from './httpServer.js';

export interface ApiHarness {
  url: string;
  port: number;
  /** The internal listener: `/metrics` and the probes. */
  metricsUrl: string;
  config: Config;
  log: EventLog;
  store: PostgresStore;
  /** A new key with these scopes. */
  key(scopes: Scope[]): Promise<string>;
  /** Bytes the live feed holds for its subscribers now (uWS backpressure). */
  liveBufferedBytes(): number;
  /** Waits until every projection folded the whole log. */
  caughtUp(): Promise<void>;
  /** Stops the server and runners; the store stays open (the caller owns it). */
  close(): Promise<void>;
}

/** The API role on a free port, over the embedded log on `store`, with the projections running. */
export const startApi = async (
  store: PostgresStore,
  env: Record<string, string> = {},
  ch: ApiClickHouse = {},
  extra: Partial<Pick<ApiDeps, 'integrations' | 'probeIntegration' | 'logger'>> = {},
): Promise<ApiHarness> => {
  const config = loadConfig({ DATA_DIR: '/nonexistent', ADMIN_API_KEY: 'test-admin-key-0123456789abcdefghijklmnop', ...env });
  const logger = extra.logger ?? silentLogger();
  const log = embeddedEventLog(store.sql, { pollMs: 20 });
  // The Postgres read models (no ClickHouse here: gps_tracking is not listed).
  const runners: ProjectionRunner[] = projections({ clickhouse: undefined }, config).map((projection) =>
    projectionRunner({ log, sql: store.sql, projection, logger, batchSize: 1000, batchDelayMs: 0 }),
  );
  for (const r of runners) await r.start();
  let mounted: Awaited<ReturnType<typeof mountApi>> | undefined;
  const http = await startTestHttpServer(async (app) => {
    mounted = await mountApi(app, { config, log, sql: store.sql, logger, ...extra }, ch);
  });
  const keys = postgresApiKeyStore(store.sql);
  return {
    url: `http://127.0.0.1:${http.port}`,
    port: http.port,
    metricsUrl: `http://127.0.0.1:${http.metricsPort}`,
    config,
    log,
    store,
    key: async (scopes) => (await keys.create(scopes, 'test')).key,
    liveBufferedBytes: () => mounted?.live.bufferedBytes() ?? 0,
    caughtUp: async () => {
      for (const r of runners) await r.caughtUp(10_000);
    },
    close: async () => {
      http.close();
      await mounted?.close();
      for (const r of runners) await r.stop();
      await log.close();
    },
  };
};
