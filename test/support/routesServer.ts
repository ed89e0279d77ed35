import { bindRoutes } from '../../api/app.js';
import { postgresApiKeyStore } from '../../api/auth.js';
import type { ApiDeps } from '../../api/deps.js';
import { idempotencyStore } from '../../api/idempotency.js';
import { rateLimiter } from '../../api/rateLimit.js';
import type { RouteSpec } from '../../api/route.js';
import { loadConfig } from '../../core/config.js';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import { silentLogger } from '../../core/logger.js';
import { type ProjectionRunner, projectionRunner } from '../../core/runners/projectionRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { projections } from '../../projections/index.js';
import type { ApiHarness } from './apiServer.js';
import { startTestHttpServer } from './httpServer.js';

/**
 * Like `startApi`, but serving only `routes` through the real pipeline (auth, scopes, limits,
 * idempotency): one area of the API under test, with the dependencies and environment it is given.
 */
export const startRoutes = async (
  store: PostgresStore,
  routes: (deps: ApiDeps) => RouteSpec[],
  env: Record<string, string> = {},
  extraDeps: Partial<Pick<ApiDeps, 'smsBalance' | 'fetch' | 'now'>> = {},
): Promise<ApiHarness> => {
  const config = loadConfig({ DATA_DIR: '/nonexistent', ...env });
  const logger = silentLogger();
  const log = embeddedEventLog(store.sql, { pollMs: 20 });
  // The Postgres read models (no ClickHouse here: gps_tracking is not listed).
  const runners: ProjectionRunner[] = projections({ clickhouse: undefined }, config).map((projection) =>
    projectionRunner({ log, sql: store.sql, projection, logger, batchSize: 1000, batchDelayMs: 0 }),
  );
  for (const r of runners) await r.start();
  const keys = postgresApiKeyStore(store.sql);
  const deps: ApiDeps = { config, log, sql: store.sql, logger, ...extraDeps };
  const http = await startTestHttpServer(async (app) => {
    const idempotency = idempotencyStore(store.sql, { ttlMs: config.api.idempotencyTtlMs });
    bindRoutes(app, deps, { keys, limiter: rateLimiter(config.api.rateLimit), idempotency }, routes(deps));
  });
  return {
    url: `http://127.0.0.1:${http.port}`,
    port: http.port,
    metricsUrl: `http://127.0.0.1:${http.metricsPort}`,
    config,
    log,
    store,
    key: async (scopes) => (await keys.create(scopes, 'test')).key,
    liveBufferedBytes: () => 0, // no live feed mounted here
    caughtUp: async () => {
      for (const r of runners) await r.caughtUp(10_000);
    },
    close: async () => {
      http.close();
      for (const r of runners) await r.stop();
      await log.close();
    },
  };
};
