import { Value } from '@sinclair/typebox/value';
import type { ClientAddress } from '../../core/http/clientAddress.js';
import type { Logger } from '../../core/logger.js';
import type { ApiKeyStore } from '../auth.js';
import type { IdempotencyStore } from '../idempotency.js';
import { HttpProblem } from '../problemDetails.js';
import type { RateLimiter } from '../rateLimit.js';
import type { Method, Reply, RequestContext, RouteSpec } from '../route.js';
import { validate } from '../validation.js';
import { authorize } from './authorize.js';
import { idempotentReply } from './idempotentReply.js';
import type { RequestSnapshot } from './requestSnapshot.js';

export interface ApiPipeline {
  keys: ApiKeyStore;
  limiter: RateLimiter;
  idempotency: IdempotencyStore;
}

export interface RunRouteDeps {
  pipeline: ApiPipeline;
  logger: Logger;
  /** The client's address from the socket peer and the trusted proxies' `X-Forwarded-For`. */
  clientAddress: ClientAddress;
}

/**
 * One request through the pipeline, in order: the address's rate limit, the API key, the body
 * (JSON, validated) and query, then the route's handler, once per `Idempotency-Key`.
 */
export const runRoute = async (
  { pipeline, logger, clientAddress }: RunRouteDeps,
  route: RouteSpec,
  snap: RequestSnapshot,
  method: Method,
  body: Promise<Buffer> | undefined,
  requestId: string,
): Promise<Reply & { close?: boolean }> => {
  const address = clientAddress(snap.remoteAddress, snap.headers['x-forwarded-for']);
  const limited = pipeline.limiter.address(address);
  if (limited) await limited;
  const principal = await authorize(route, snap.headers, pipeline.keys, pipeline.limiter);
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
  const queryParams: Record<string, string> = snap.rawQuery === '' ? {} : Object.fromEntries(new URLSearchParams(snap.rawQuery));
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
  return idempotentReply(pipeline.idempotency, principal, idemKey, { method, snap, rawBody, ctx }, () => route.handle(ctx));
};
