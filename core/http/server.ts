import { GatewayError } from '../../schemas/errors.js';
import type { Logger } from '../logger.js';
import { metrics, registry, scrapeMetrics } from '../metrics.js';
import { cachedProbe } from './cachedProbe.js';
import { type HttpResponse, LISTEN_EXCLUSIVE_PORT, type TemplatedApp, type us_listen_socket, uws, uwsIsNative } from './uws.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | string>;
}

export interface HttpServer {
  app: TemplatedApp;
  port: number;
  /** The internal listener's port (`/metrics`, `/healthz`, `/readyz`), if it runs. */
  metricsPort: number | undefined;
  /** Stop accepting connections; requests in progress finish. */
  stopIntake(): void;
  close(): void;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  readiness(): Promise<Readiness>;
  /**
   * The internal listener for `/metrics` and the probes (METRICS_HOST, METRICS_PORT), kept off the
   * public port. `explicit`: a port in use stops start-up, else the gateway runs without it. Unset:
   * `/metrics` is served on this port instead (METRICS_PORT = HTTP_PORT).
   */
  internal?: { host: string; port: number; explicit: boolean };
  /** Adds the roles' routes before the server listens. */
  mount?(app: TemplatedApp): Promise<void>;
}

/**
 * Answers `res` once `produce` settles, unless the client went away meanwhile (uWS forbids any
 * write after abort). Writes are corked into one syscall.
 */
export const respondAsync = (
  res: HttpResponse,
  route: string,
  method: string,
  produce: () => Promise<{ status: number; type: string; body: string }>,
) => {
  const stop = metrics.httpRequests.startTimer({ method, route });
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
    stop({ status: 'aborted' });
  });
  produce()
    .catch((e: unknown) => ({
      status: 500,
      type: 'application/problem+json',
      body: JSON.stringify({ title: 'internal error', status: 500, detail: String((e as Error)?.message ?? e) }),
    }))
    .then(({ status, type, body }) => {
      if (aborted) return;
      res.cork(() => {
        res.writeStatus(String(status)).writeHeader('content-type', type).end(body);
      });
      stop({ status: String(status) });
    });
};

/** At most one readiness probe per second, shared by concurrent callers. */
const READINESS_MAX_AGE_MS = 1_000;

/** The probe answers, one exact label set each, on whichever app serves them. */
const mountProbes = (app: TemplatedApp, readyz: () => Promise<{ status: number; type: string; body: string }>) => {
  app.get('/healthz', (res) => {
    res.cork(() => res.writeHeader('content-type', 'application/json').end('{"status":"ok"}'));
    metrics.httpRequests.observe({ method: 'GET', route: '/healthz', status: '200' }, 0);
  });
  app.get('/readyz', (res) => respondAsync(res, '/readyz', 'GET', readyz));
};

const mountMetrics = (app: TemplatedApp) =>
  app.get('/metrics', (res) =>
    respondAsync(res, '/metrics', 'GET', async () => ({
      status: 200,
      type: registry.contentType,
      body: await scrapeMetrics(),
    })),
  );

/**
 * Listens on `host:port` without SO_REUSEPORT: uSockets sets it unless told otherwise, and a
 * second gateway (or a stale one) on the same port would then silently take half of the
 * connections. The native binding also takes (host, port, options, cb); the typings list options
 * only without a host.
 */
const listenExclusive = (app: TemplatedApp, host: string, port: number, variable: string) => {
  const listen = app.listen as unknown as (
    host: string,
    port: number,
    options: number,
    cb: (token: us_listen_socket | false) => void,
  ) => TemplatedApp;
  return new Promise<us_listen_socket>((resolve, reject) => {
    listen.call(app, host, port, LISTEN_EXCLUSIVE_PORT, (token) => {
      if (token) resolve(token);
      else reject(new GatewayError('GW_ERR_CONFIG', `${variable} ${port} on ${host} is not available (in use?)`));
    });
  });
};

/**
 * The process's HTTP server on `HTTP_PORT`: health and readiness (from a cached probe); roles add
 * their routes to `app`. `/metrics` (and the probes again) are on an internal listener of their
 * own, by default on localhost only: neither the series nor the stores' probes are for the public.
 */
export const startHttpServer = async (opts: HttpServerOptions): Promise<HttpServer> => {
  if (!uwsIsNative()) {
    throw new GatewayError(
      'GW_ERR_CONFIG',
      'uWebSockets.js fell back to its pure-JS build: the native binary for this Node.js ABI did not load (fleetgate needs Node.js 20)',
    );
  }
  let intake = true;
  const probe = cachedProbe(opts.readiness, READINESS_MAX_AGE_MS);
  const readyz = async () => {
    const r = intake ? await probe() : { ready: false, checks: { shutdown: 'in progress' } };
    return {
      status: r.ready ? 200 : 503,
      type: 'application/json',
      body: JSON.stringify({ status: r.ready ? 'ready' : 'unavailable', checks: r.checks }),
    };
  };
  const app = uws.App();
  mountProbes(app, readyz);
  if (!opts.internal) mountMetrics(app);

  await opts.mount?.(app);
  const listenSocket = await listenExclusive(app, opts.host, opts.port, 'HTTP_PORT');
  const port = uws.us_socket_local_port(listenSocket);
  opts.logger.info({ host: opts.host, port }, 'http listening');

  let internal: { app: TemplatedApp; socket: us_listen_socket; port: number } | undefined;
  if (opts.internal) {
    const { host: iHost, port: iPort, explicit } = opts.internal;
    const iApp = uws.App();
    mountProbes(iApp, readyz);
    mountMetrics(iApp);
    try {
      const socket = await listenExclusive(iApp, iHost, iPort, 'METRICS_PORT');
      internal = { app: iApp, socket, port: uws.us_socket_local_port(socket) };
      opts.logger.info({ host: iHost, port: internal.port }, 'metrics listening');
    } catch (e) {
      if (explicit) {
        uws.us_listen_socket_close(listenSocket);
        (app as unknown as { close(): void }).close();
        throw e;
      }
      // The default port may be another gateway's on this machine: run on, without metrics.
      opts.logger.warn({ host: iHost, port: iPort }, 'METRICS_PORT is in use: /metrics is off; set METRICS_PORT to enable it');
    }
  }
  let open = true;
  const stopIntake = () => {
    if (!open) return;
    open = false;
    intake = false;
    uws.us_listen_socket_close(listenSocket);
  };
  return {
    app,
    port,
    metricsPort: internal?.port,
    stopIntake,
    close() {
      stopIntake();
      // Closes every open connection; present at runtime, missing from the bundled typings.
      (app as unknown as { close(): void }).close();
      if (internal) {
        uws.us_listen_socket_close(internal.socket);
        (internal.app as unknown as { close(): void }).close();
      }
    },
  };
};
