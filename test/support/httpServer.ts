import { type HttpServer, startHttpServer } from '../../core/http/server.js';
import type { TemplatedApp } from '../../core/http/uws.js';
import { silentLogger } from '../../core/logger.js';

/**
 * The gateway's HTTP server on a free loopback port, always ready, with `mount` adding the routes
 * under test; `/metrics` on its internal listener (another free loopback port, `metricsPort`).
 */
export const startTestHttpServer = (mount: (app: TemplatedApp) => Promise<void> | void): Promise<HttpServer> =>
  startHttpServer({
    host: '127.0.0.1',
    port: 0,
    internal: { host: '127.0.0.1', port: 0, explicit: true },
    logger: silentLogger(),
    readiness: async () => ({ ready: true, checks: {} }),
    mount: async (app) => {
      await mount(app);
    },
  });
