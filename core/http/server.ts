import { GatewayError } from '../../schemas/errors.js';
import type { Logger } from '../logger.js';
import { metrics, registry, scrapeMetrics } from '../metrics.js';
import { type HttpResponse, LISTEN_EXCLUSIVE_PORT, type TemplatedApp, type us_listen_socket, uws, uwsIsNative } from './uws.js';

export interface Readiness {
  ready: boolean;
  checks: Record<string, boolean | string>;
}

export interface HttpServer {
  app: TemplatedApp;
  port: number;
  /** Stop accepting connections; requests in progress finish. */
  stopIntake(): void;
  close(): void;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  logger: Logger;
  readiness(): Promise<Readiness>;
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

/** The process's HTTP server on `HTTP_PORT`: health, readiness and metrics; roles add their routes to `app`. */
export const startHttpServer = async (opts: HttpServerOptions): Promise<HttpServer> => {
  if (!uwsIsNative()) {
    throw new GatewayError(
      'GW_ERR_CONFIG',
      'uWebSockets.js fell back to its pure-JS build: the native binary for this Node.js ABI did not load (fleetgate needs Node.js 20)',
    );
  }
  let intake = true;
  const app = uws.App();
  app.get('/healthz', (res) => {
    res.cork(() => res.writeHeader('content-type', 'application/json').end('{"status":"ok"}'));
    metrics.httpRequests.observe({ method: 'GET', route: '/healthz', status: '200' }, 0);
  });
  app.get('/readyz', (res) =>
    respondAsync(res, '/readyz', 'GET', async () => {
      const r = intake ? await opts.readiness() : { ready: false, checks: { shutdown: 'in progress' } };
      return {
        status: r.ready ? 200 : 503,
        type: 'application/json',
        body: JSON.stringify({ status: r.ready ? 'ready' : 'unavailable', checks: r.checks }),
      };
    }),
  );
  app.get('/metrics', (res) =>
    respondAsync(res, '/metrics', 'GET', async () => ({
      status: 200,
      type: registry.contentType,
      body: await scrapeMetrics(),
    })),
  );

  await opts.mount?.(app);
  // uSockets sets SO_REUSEPORT unless told otherwise: a second gateway (or a stale one) on the same
  // port would then silently take half of the connections. The native binding also takes
  // (host, port, options, cb); the typings list options only without a host.
  const listen = app.listen as unknown as (
    host: string,
    port: number,
    options: number,
    cb: (token: us_listen_socket | false) => void,
  ) => TemplatedApp;
  const listenSocket = await new Promise<us_listen_socket>((resolve, reject) => {
    listen.call(app, opts.host, opts.port, LISTEN_EXCLUSIVE_PORT, (token) => {
      if (token) resolve(token);
      else reject(new GatewayError('GW_ERR_CONFIG', `HTTP_PORT ${opts.port} on ${opts.host} is not available (in use?)`));
    });
  });
  const port = uws.us_socket_local_port(listenSocket);
  opts.logger.info({ host: opts.host, port }, 'http listening');
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
    stopIntake,
    close() {
      stopIntake();
      // Closes every open connection; present at runtime, missing from the bundled typings.
      (app as unknown as { close(): void }).close();
    },
  };
};
