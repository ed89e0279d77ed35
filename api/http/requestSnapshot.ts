import { randomBytes } from 'node:crypto';
import type { HttpRequest, HttpResponse } from '../../core/http/uws.js';

/** Request ids: a per-process random prefix and a counter (a UUID per request costs a random fill). */
const ID_PREFIX = randomBytes(6).toString('base64url');
let idCounter = 0;
export const nextRequestId = () => `${ID_PREFIX}-${(++idCounter).toString(36)}`;

const REQUEST_ID = /^[\w.:-]{1,64}$/;

/** The client's `X-Request-Id` when it is a sane one, else a new id. */
export const requestIdOf = (headers: Record<string, string>) =>
  REQUEST_ID.test(headers['x-request-id'] ?? '') ? (headers['x-request-id'] as string) : nextRequestId();

/** `{id}` templates as uWS patterns (`:id`) and as regexes (405 detection). */
export const compilePath = (path: string) => {
  const names: string[] = [];
  const pattern = path.replace(/\{(\w+)\}/g, (_, n: string) => {
    names.push(n);
    return `:${n}`;
  });
  const regex = new RegExp(`^${path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{\w+\\?\}/g, '[^/]+')}/?$`);
  return { names, pattern, regex };
};

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

/**
 * What must be read from uWS's request before the handler returns (it is invalid afterwards).
 * `proxied`: a proxy is trusted, so every `X-Forwarded-For` line is kept for the address.
 */
export const snapshot = (
  res: HttpResponse,
  req: HttpRequest,
  names: readonly string[],
  allHeaders: boolean,
  proxied: boolean,
) => {
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

export type RequestSnapshot = ReturnType<typeof snapshot>;
