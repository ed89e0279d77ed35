import type { Static, TSchema } from '@sinclair/typebox';
import type { Logger } from '../core/logger.js';
import type { Scope } from '../schemas/http/scopes.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';

/** The key a request was authenticated with; never holds the secret. */
export interface ApiPrincipal {
  keyId: string;
  /** Public part of the key, safe for logs. */
  prefix: string;
  scopes: readonly Scope[];
}

/**
 * Everything a route sees of a request, copied out of uWS's request object (which is only valid
 * during the synchronous handler call).
 */
export interface RequestContext<B = unknown, Q = Record<string, string>> {
  requestId: string;
  method: Method;
  /** The URL path as received, without the query string. */
  path: string;
  /** The route template, e.g. `/api/v1/sms/{id}` (metric label, OpenAPI path). */
  route: string;
  /** Path parameters by name, URL-decoded. */
  params: Record<string, string>;
  /** The raw query string (without `?`). */
  rawQuery: string;
  /** The query, validated against `RouteSpec.query` when given (else every parameter, last wins). */
  query: Q;
  /**
   * Header names lower-case; a repeated header keeps its last value. Only the pipeline's own
   * unless the route asks for all (`allHeaders`, or a raw body).
   */
  headers: Readonly<Record<string, string>>;
  /** The client's address as text (IPv4 or IPv6). */
  remoteAddress: string;
  /** The body byte for byte (empty for GET). */
  rawBody: Buffer;
  /** The parsed and validated body (`undefined` unless `RouteSpec.body` is given). */
  body: B;
  /** Set on authenticated routes. */
  principal: ApiPrincipal | undefined;
  logger: Logger;
}

/** A route's answer. `body` is serialised as JSON unless `raw` is given. */
export interface Reply {
  status: number;
  body?: unknown;
  /** Sent as is, with `type` as content type (default text/plain). */
  raw?: string | Buffer;
  /** Written chunk by chunk as the client reads it (JSON unless `type` says otherwise). */
  stream?: AsyncIterable<string | Uint8Array>;
  type?: string;
  headers?: Readonly<Record<string, string>>;
}

export interface ResponseSpec {
  description: string;
  schema?: TSchema;
  /** Content type when not JSON (e.g. text/html, text/plain). */
  type?: string;
  /** Other content types the same status may carry (chosen by a query parameter), as text. */
  alsoAs?: readonly string[];
}

/**
 * One HTTP route: the schemas that validate it (and document it in /openapi.json), who may call
 * it, and its handler. Routes are plain data; `api/app.ts` binds them to uWebSockets.js.
 */
/**
 * `scope`: the key needs it. `anyOf`: the key needs one of them to get in; the handler checks the
 * rest (a notification fanned out to SMS and e-mail needs both `sms` and `email`).
 */
export type RouteAuth = { scope: Scope } | { anyOf: readonly Scope[] } | 'public';

/** The scopes that let a key past a route's door (none for public routes). */
export const routeScopes = (auth: RouteAuth): readonly Scope[] =>
  auth === 'public' ? [] : 'scope' in auth ? [auth.scope] : auth.anyOf;

export interface RouteSpec<B extends TSchema = TSchema, Q extends TSchema = TSchema> {
  method: Method;
  /** Path template with `{name}` parameters, e.g. `/api/v1/sms/{id}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  /** `public` routes skip API-key auth (health, docs, webhooks: those verify their own signatures). */
  auth: RouteAuth;
  /** JSON body schema; the request is refused with field errors when it does not match. */
  body?: B;
  /**
   * How the body is read: `json` (default when `body` is set; content type must be JSON),
   * `raw` (kept as bytes, any content type: webhooks), `none` (GET and friends).
   */
  bodyFormat?: 'json' | 'raw' | 'none';
  /** Body size limit in bytes (default: the API's `maxBodyBytes`). */
  maxBodyBytes?: number;
  /** Query schema; values arrive as strings and are converted where the schema says number/boolean. */
  query?: Q;
  /**
   * The route reads headers beyond the pipeline's own (auth, content type and length,
   * Idempotency-Key, X-Request-Id, X-Forwarded-For, Host). Implied for raw-body routes.
   */
  allHeaders?: boolean;
  /** Honours `Idempotency-Key` (commands). */
  idempotent?: boolean;
  /** Not listed in /openapi.json (legacy routes, the docs page itself). */
  hidden?: boolean;
  responses: Readonly<Record<number, ResponseSpec>>;
  handle(ctx: RequestContext<Static<B>, QueryOf<Q>>): Promise<Reply>;
}

/** A route without a query schema sees every parameter as a string. */
type QueryOf<Q extends TSchema> = unknown extends Static<Q> ? Record<string, string> : Static<Q>;

/** Keeps the body/query types of a route literal while collecting routes into one list. */
export const defineRoute = <B extends TSchema = TSchema, Q extends TSchema = TSchema>(spec: RouteSpec<B, Q>): RouteSpec =>
  spec as unknown as RouteSpec;
