import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { deviceRegistry } from '../core/devices/registry.js';
import type { TemplatedApp } from '../core/http/uws.js';
import { packageRoot } from '../core/paths.js';
import { bindRoutes } from './app.js';
import { ensureAdminKey, postgresApiKeyStore } from './auth.js';
import type { ApiDeps } from './deps.js';
import { firstStartKeyPath } from './firstStartKeyFile.js';
import { idempotencyStore } from './idempotency.js';
import { legacyRoutes } from './legacy/index.js';
import { mountLiveFeed } from './live/liveFeed.js';
import { livePageRoutes } from './live/page.js';
import { rateLimiter } from './rateLimit.js';
import type { RouteSpec } from './route.js';
import { analyticsRoutes } from './routes/analytics.js';
import { asyncApiRoutes } from './routes/asyncapi.js';
import { commandRoutes } from './routes/commands.js';
import { deadLetterRoutes } from './routes/deadLetters.js';
import { deviceCommandRoutes } from './routes/deviceCommands.js';
import { deviceRoutes } from './routes/devices.js';
import { docsRoutes } from './routes/docs.js';
import { integrationRoutes } from './routes/integrations.js';
import { notificationRoutes } from './routes/notifications.js';
import { paymentTestPageRoutes } from './routes/paymentTestPage.js';
import { recordRoutes } from './routes/records.js';
import { smsRoutes } from './routes/sms.js';
import { vehicleRoutes } from './routes/vehicles.js';
import { webhookRoutes } from './routes/webhooks.js';

/** ClickHouse clients, when this process opened ClickHouse: the main one and the read-only one. */
export interface ApiClickHouse {
  clickhouse?: ClickHouseClient | undefined;
  analytics?: ClickHouseClient | undefined;
}

const { version } = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };

/** Every route of the API, in one list (bound to uWS, and documented in /openapi.json). */
export const apiRoutes = (deps: ApiDeps, ch: ApiClickHouse = {}): RouteSpec[] => {
  const devices = deps.devices ?? deviceRegistry(deps.sql);
  const routes: RouteSpec[] = [
    ...smsRoutes(deps),
    ...commandRoutes(deps),
    ...notificationRoutes(deps),
    ...legacyRoutes(deps),
    ...deviceRoutes(deps, devices),
    ...deviceCommandRoutes(deps, devices),
    ...webhookRoutes(deps),
    ...deadLetterRoutes(deps),
    ...recordRoutes(deps),
    ...(deps.integrations ? integrationRoutes(deps, deps.integrations, deps.probeIntegration) : []),
    ...(deps.config.payments.testMode ? paymentTestPageRoutes(deps) : []),
    ...(ch.clickhouse ? vehicleRoutes({ ...deps, clickhouse: ch.clickhouse }) : []),
    ...(ch.analytics ? analyticsRoutes({ analytics: ch.analytics, config: deps.config }) : []),
    ...asyncApiRoutes({ version }),
  ];
  const info = { version, ...(deps.config.api.publicUrl ? { serverUrl: deps.config.api.publicUrl } : {}) };
  return [...routes, ...docsRoutes(() => routes, info), ...livePageRoutes({ tileUrl: deps.config.live.tileUrl })];
};

/**
 * The `api` role: binds every route, and on first start makes sure an admin key exists
 * (written to a 0600 file under DATA_DIR when generated; only the file's path is printed).
 */
export const mountApi = async (app: TemplatedApp, deps: ApiDeps, ch: ApiClickHouse = {}) => {
  const keys = postgresApiKeyStore(deps.sql);
  const admin = await ensureAdminKey(keys, deps.sql, deps.config.api.adminApiKey, firstStartKeyPath(deps.config.dataDir));
  if (admin?.created === 'generated') {
    process.stdout.write(
      `\nfleetgate: no API key existed, so an admin key was created and written (readable by this user only) to\n\n  ${admin.keyFile}\n\nMove it to your secrets store and delete the file.\nCreate narrower keys with: fleetgate apikeys create --scopes sms,email\n\n`,
    );
    deps.logger.warn(
      { keyFile: admin.keyFile },
      'first start: admin key written to a file; move it to a secrets store and delete the file',
    );
  } else if (admin?.created === 'env') {
    deps.logger.info('ADMIN_API_KEY registered as an admin key');
  }
  const idempotency = idempotencyStore(deps.sql, { ttlMs: deps.config.api.idempotencyTtlMs });
  const purge = setInterval(() => {
    idempotency.purgeExpired().catch((err) => deps.logger.warn({ err }, 'purging idempotency keys failed'));
  }, 3_600_000);
  purge.unref();
  const routes = apiRoutes(deps, ch);
  bindRoutes(app, deps, { keys, limiter: rateLimiter(deps.config.api.rateLimit), idempotency }, routes);
  const live = await mountLiveFeed(app, {
    log: deps.log,
    sql: deps.sql,
    keys,
    logger: deps.logger,
    offlineAfterMs: deps.config.gps.offlineAfterMs,
    maxBufferedBytes: deps.config.ws.maxBufferedBytes,
  });
  return {
    routes,
    keys,
    live,
    close: async () => {
      clearInterval(purge);
      await live.close();
    },
  };
};
