import { randomBytes } from 'node:crypto';
import { Value } from '@sinclair/typebox/value';
import { clientAddressResolver } from '../core/http/clientAddress.js';
import type { HttpRequest, HttpResponse, TemplatedApp } from '../core/http/uws.js';
import { metrics } from '../core/metrics.js';
import { type ApiKeyStore, hasScope, presentedKey } from './auth.js';
import type { ApiDeps } from './deps.js';
import { ClientGone, Exchange } from './http/exchange.js';
import { IDEMPOTENCY_KEY_RE, type IdempotencyStore, requestFingerprint } from './idempotency.js';
import { HttpProblem, PROBLEM_TYPE, toProblem } from './problemDetails.js';
import type { RateLimiter } from './rateLimit.js';
import { type ApiPrincipal, type Method, type Reply, type RequestContext, type RouteSpec, routeScopes } from './route.js';
import { validate } from './validation.js';

export interface ApiPipeline {
  keys: ApiKeyStore;
  limiter: RateLimiter;
  idempotency: IdempotencyStore;
}

/** Request ids: a per-process random prefix and a counter (a UUID per request costs a random fill). */
const ID_PREFIX = randomBytes(6).toString('base64url');
let idCounter = 0;
const nextRequestId = () => `${ID_PREFIX}-${(++idCounter).toString(36)}`;

/**
 * Methods that may appear as a metrics label; anything else a client sends is counted as OTHER,
 * so unauthenticated clients cannot create series without bound (issue 23).
 */
const LABELLED_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const methodLabel = (method: string) => (LABELLED_METHODS.has(method) ? method : 'OTHER');

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** `{id}` templates as uWS patterns (`:id`) and as regexes (405 detection). */
const compilePath = (path: string) => {
  const names: string[] = [];
  const pattern = path.replace(/\{(\w+)\}/g, (_, n: string) => {
    names.push(n);
    return `:${n}`;
  });
  const regex = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{\w+\\?\}/g, '[^/]+')}/?$`);
  return { names, pattern, regex };
};

/** What must be read from uWS's request before the handler returns (it is invalid afterwards). */
/** The headers the pipeline and JSON routes read; raw-body routes (webhooks) get them all. */
const PIPELINE_HEADERS = [
  'authorization',
  'x-api-key',
  'content-type',
  'content-length',
  'idempotency-key',
  'x-request-id',
  'x-forwarded-for',
  'host',
] as const;

/**
 * Every `X-Forwarded-For` line, joined in order: a proxy may add a line of its own (HAProxy's
 * `option forwardfor`) below the client's, and `getHeader` returns only the first.
 */
const forwardedFor = (req: HttpRequest): string | undefined => {
  let joined: string | undefined;
  req.forEach((k, v) => {
    if (k === 'x-forwarded-for') joined = joined === undefined ? v : `${joined}, ${v}`;
  });
  return joined;
};

const snapshot = (res: HttpResponse, req: HttpRequest, names: readonly string[], allHeaders: boolean, proxied: boolean) => {
  const headers: Record<string, string> = {};
  if (allHeaders) {
    req.forEach((k, v) => {
      headers[k] = v;
    });
  } else {
    for (const name of PIPELINE_HEADERS) {
      const v = req.getHeader(name);
      if (v !== '') headers[name] = v;
    }
  }
  if (proxied) {
    const forwarded = forwardedFor(req);
    if (forwarded === undefined) delete headers['x-forwarded-for'];
    else headers['x-forwarded-for'] = forwarded;
  }
  const params: Record<string, string> = {};
  names.forEach((n, i) => {
    const raw = req.getParameter(i) ?? '';
    try {
      params[n] = decodeURIComponent(raw);
    } catch {
      params[n] = raw;
    }
  });
  return {
    path: req.getUrl(),
    rawQuery: req.getQuery() ?? '',
    headers,
    params,
    remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString(),
  };
};

/**
 * Binds routes to the uWS app: auth, rate limits, body limits and content types, schema
 * validation, idempotency, problem+json errors, per-route metrics and request ids.
 */
export const bindRoutes = (app: TemplatedApp, deps: ApiDeps, pipeline: ApiPipeline, routes: readonly RouteSpec[]) => {
  const { config, logger } = deps;
  const compiled = routes.map((r) => ({ route: r, ...compilePath(r.path) }));
  const clientAddress = clientAddressResolver(config.api.trustProxy);
  const proxied = !('hops' in config.api.trustProxy && config.api.trustProxy.hops === 0);
  // An access line per request only at debug: at info it would cost more than the request.
  const debug = logger.isLevelEnabled('debug');

  const run = async (
    route: RouteSpec,
    snap: ReturnType<typeof snapshot>,
    method: Method,
    body: Promise<Buffer> | undefined,
    requestId: string,
  ): Promise<Reply & { close?: boolean }> => {
    const address = clientAddress(snap.remoteAddress, snap.headers['x-forwarded-for']);
    await pipeline.limiter.address(address);
    let principal: ApiPrincipal | undefined;
    if (route.auth !== 'public') {
      const key = presentedKey(snap.headers);
      if (!key)
        throw new HttpProblem('GW_ERR_UNAUTHORIZED', 'send the API key as Authorization: Bearer <key>', {
          headers: { 'www-authenticate': 'Bearer' },
        });
      principal = await pipeline.keys.authenticate(key);
      if (!principal)
        throw new HttpProblem('GW_ERR_UNAUTHORIZED', 'the API key is not valid (unknown or revoked)', {
          headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
        });
      const scopes = routeScopes(route.auth);
      if (!scopes.some((s) => hasScope(principal as ApiPrincipal, s))) {
        throw new HttpProblem('GW_ERR_FORBIDDEN', `this route needs the ${scopes.map((s) => `"${s}"`).join(' or ')} scope`);
      }
      await pipeline.limiter.key(principal.keyId);
    }
    const rawBody = body ? await body : Buffer.alloc(0);
    let parsed: unknown;
    if (route.body) {
      try {
        parsed = JSON.parse(rawBody.toString('utf8'));
      } catch (e) {
        throw new HttpProblem('GW_ERR_MALFORMED_JSON', `the body is not valid JSON: ${(e as Error).message}`);
      }
      parsed = validate(route.body, parsed, 'body');
    }
    const queryParams = Object.fromEntries(new URLSearchParams(snap.rawQuery));
    const query = route.query ? validate(route.query, Value.Convert(route.query, queryParams), 'query') : queryParams;
    let log: RequestContext['logger'] | undefined;
    const ctx: RequestContext = {
      requestId,
      method,
      path: snap.path,
      route: route.path,
      params: snap.params,
      rawQuery: snap.rawQuery,
      query: query as Record<string, string>,
      headers: snap.headers,
      remoteAddress: address,
      rawBody,
      body: parsed,
      principal,
      // A child logger per request costs more than the request itself: made only when used.
      get logger() {
        log ??= logger.child({ requestId, route: route.path });
        return log;
      },
    };
    const idemKey = route.idempotent ? snap.headers['idempotency-key'] : undefined;
    if (idemKey === undefined || !principal) return route.handle(ctx);
    if (!IDEMPOTENCY_KEY_RE.test(idemKey)) {
      throw new HttpProblem('GW_ERR_VALIDATION', 'Idempotency-Key must be 1-255 visible ASCII characters', {
        errors: [{ pointer: '', field: 'Idempotency-Key (header)', detail: 'must be 1-255 visible ASCII characters' }],
      });
    }
    const fingerprint = requestFingerprint(method, snap.path, snap.rawQuery, rawBody);
    const begun = await pipeline.idempotency.begin(principal.keyId, idemKey, fingerprint);
    if (begun.kind === 'replay') {
      return { status: begun.reply.status, body: begun.reply.body, headers: { 'idempotent-replayed': 'true' } };
    }
    let reply: Reply;
    try {
      reply = await route.handle(ctx);
    } catch (e) {
      await pipeline.idempotency
        .release(principal.keyId, idemKey)
        .catch((err) => ctx.logger.error({ err }, 'idempotency release failed'));
      throw e;
    }
    await pipeline.idempotency.complete(principal.keyId, idemKey, { status: reply.status, body: reply.body ?? null });
    return reply;
  };

  const handlerFor = (route: RouteSpec, names: readonly string[]) => (res: HttpResponse, req: HttpRequest) => {
    const method = route.method;
    const ex = new Exchange(res);
    const snap = snapshot(res, req, names, route.bodyFormat === 'raw' || route.allHeaders === true, proxied);
    const requestId = REQUEST_ID.test(snap.headers['x-request-id'] ?? '')
      ? (snap.headers['x-request-id'] as string)
      : nextRequestId();
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
    const answered = early ? Promise.reject(early) : run(route, snap, method, body, requestId);
    answered
      .then(
        (reply) => {
          const headers: Record<string, string> = { 'x-request-id': requestId, ...reply.headers };
          if (reply.raw !== undefined) {
            headers['content-type'] = reply.type ?? 'text/plain; charset=utf-8';
            return { status: reply.status, headers, payload: reply.raw, close: false, code: undefined };
          }
          headers['content-type'] = reply.type ?? 'application/json';
          const payload = reply.body === undefined ? '' : JSON.stringify(reply.body);
          return { status: reply.status, headers, payload, close: false, code: undefined };
        },
        (e: unknown) => {
          if (e instanceof ClientGone) return undefined;
          const { problem, headers } = toProblem(e, { requestId, path: snap.path });
          if (problem.status >= 500) logger.error({ err: e, requestId, route: route.path }, 'request failed');
          metrics.httpRefusals.inc({ route: route.path, code: problem.code });
          // A refused body may still be arriving: closing is the only way not to read it.
          const close = problem.status === 413 || problem.status === 408 || (body !== undefined && !ex.bodyDone);
          return {
            status: problem.status,
            headers: { 'x-request-id': requestId, 'content-type': PROBLEM_TYPE, ...headers },
            payload: JSON.stringify(problem),
            close,
            code: problem.code,
          };
        },
      )
      .then((out) => {
        if (!out || !ex.send(out.status, out.headers, out.payload, out.close)) {
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
  // Anything else: 405 when the path exists under another method, else 404.
  app.any('/*', (res, req) => {
    const ex = new Exchange(res);
    const path = req.getUrl();
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const requestId = nextRequestId();
    const allowed = compiled.filter((c) => c.regex.test(path)).map((c) => c.route.method);
    const e = allowed.length
      ? new HttpProblem('GW_ERR_METHOD_NOT_ALLOWED', `${method} is not served here; use ${[...new Set(allowed)].join(', ')}`, {
          headers: { allow: [...new Set(allowed)].join(', ') },
        })
      : new HttpProblem('GW_ERR_ROUTE_NOT_FOUND', `no route ${path}`);
    const { problem, headers } = toProblem(e, { requestId, path });
    metrics.httpRefusals.inc({ route: 'unmatched', code: problem.code });
    metrics.httpRequests.observe({ method: methodLabel(method), route: 'unmatched', status: String(problem.status) }, 0);
    ex.send(
      problem.status,
      { 'x-request-id': requestId, 'content-type': PROBLEM_TYPE, ...headers },
      JSON.stringify(problem),
      true,
    );
  });
};
