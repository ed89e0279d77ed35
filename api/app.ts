import { clientAddressResolver } from '../core/http/clientAddress.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../core/http/uws.js';
import { metrics } from '../core/metrics.js';
import type { ApiDeps } from './deps.js';
import { Exchange } from './http/exchange.js';
import { problemOut, replyOut } from './http/outgoing.js';
import { compilePath, requestIdOf, snapshot } from './http/requestSnapshot.js';
import { type ApiPipeline, runRoute } from './http/runRoute.js';
import { unmatched } from './http/unmatched.js';
import { HttpProblem } from './problemDetails.js';
import type { RouteSpec } from './route.js';

export type { ApiPipeline };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * Binds routes to the uWS app: auth, rate limits, body limits and content types, schema
 * validation, idempotency, problem+json errors, per-route metrics and request ids. The parts
 * under `http/`: `requestSnapshot.ts` (what is read from uWS at once), `runRoute.ts` with
 * `authorize.ts` and `idempotentReply.ts` (the pipeline), `outgoing.ts` (reply or problem),
 * `unmatched.ts` (404, 405).
 */
export const bindRoutes = (app: TemplatedApp, deps: ApiDeps, pipeline: ApiPipeline, routes: readonly RouteSpec[]) => {
  const { config, logger } = deps;
  const compiled = routes.map((r) => ({ route: r, ...compilePath(r.path) }));
  // An access line per request only at debug: at info it would cost more than the request.
  const debug = logger.isLevelEnabled('debug');
  const runDeps = { pipeline, logger, clientAddress: clientAddressResolver(config.api.trustProxy) };
  const proxied = !('hops' in config.api.trustProxy && config.api.trustProxy.hops === 0);

  const handlerFor = (route: RouteSpec, names: readonly string[]) => (res: HttpResponse, req: HttpRequest) => {
    const method = route.method;
    const ex = new Exchange(res);
    const snap = snapshot(res, req, names, route.bodyFormat === 'raw' || route.allHeaders === true, proxied);
    const requestId = requestIdOf(snap.headers);
    const stopTimer = metrics.httpRequests.startTimer({ method, route: route.path });
    const format = route.bodyFormat ?? (route.body ? 'json' : 'none');
    const limit = route.maxBodyBytes ?? config.api.maxBodyBytes;
    let body: Promise<Buffer> | undefined;
    let early: HttpProblem | undefined;
    if (format !== 'none') {
      const declared = Number(snap.headers['content-length'] ?? Number.NaN);
      if (declared > limit) early = new HttpProblem('GW_ERR_PAYLOAD_TOO_LARGE', `the body exceeds ${limit} bytes`);
      else if (format === 'json' && !JSON_TYPE.test(snap.headers['content-type'] ?? '')) {
        early = new HttpProblem('GW_ERR_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
      } else {
        // uWS hands over body chunks right after this handler returns: the reader must exist now.
        body = ex.readBody(limit, config.api.bodyTimeoutMs);
        body.catch(() => {});
      }
    }
    const answered = early ? Promise.reject(early) : runRoute(runDeps, route, snap, method, body, requestId);
    answered
      .then(
        (reply) => replyOut(reply, requestId),
        (e: unknown) =>
          problemOut(e, { requestId, path: snap.path, route: route.path }, body !== undefined && !ex.bodyDone, logger),
      )
      .then(async (out) => {
        const stream = out && 'stream' in out ? out.stream : undefined;
        const sent =
          out && stream
            ? await ex.stream(out.status, out.headers, stream)
            : out && ex.send(out.status, out.headers, out.payload, out.close);
        if (!out || !sent) {
          stopTimer({ status: 'aborted' });
          return;
        }
        const seconds = stopTimer({ status: String(out.status) });
        if (debug)
          logger.debug({ requestId, method, route: route.path, status: out.status, ms: Math.round(seconds * 1000) }, 'request');
      })
      .catch((err) => logger.error({ err, requestId }, 'writing the response failed'));
  };

  for (const c of compiled) {
    const bind = c.route.method.toLowerCase() as 'get' | 'post' | 'put' | 'del' | 'patch';
    app[bind === ('delete' as string) ? 'del' : bind](c.pattern, handlerFor(c.route, c.names));
  }
  app.any('/*', unmatched(compiled));
};
