import type { TSchema } from '@sinclair/typebox';
import { Problem } from '../schemas/http/problem.js';
import { PROBLEM_TYPE } from './problemDetails.js';
import { type Method, type ResponseSpec, type RouteSpec, routeScopes } from './route.js';

type Json = Record<string, unknown>;

export interface OpenApiInfo {
  version: string;
  /** Absolute base URL of the API when it is not the origin serving the document. */
  serverUrl?: string;
}

// OpenAPI's own order, so a path's operations read the same way in every build and viewer.
const METHOD_ORDER: readonly Method[] = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH'];
const REF = '#/components/schemas/';

/** Component names are restricted by OpenAPI; an `$id` may be a URI. */
const componentName = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');

/**
 * Schemas with an `$id` are written once under components/schemas and referenced elsewhere, so
 * shared shapes (Problem first of all) stay one definition in generated clients.
 */
class Components {
  readonly schemas = new Map<string, { json: Json; text: string }>();
  private readonly refs = new Set<string>();

  /** A plain JSON copy: JSON round-tripping drops TypeBox's symbol keys (Kind, Optional). */
  schema(s: TSchema): Json {
    return this.walk(JSON.parse(JSON.stringify(s))) as Json;
  }

  /** Throws on a `$ref` nothing defines: a dangling reference makes the document useless. */
  assertResolved(): void {
    for (const name of this.refs) if (!this.schemas.has(name)) throw new Error(`openapi: $ref to unknown schema '${name}'`);
  }

  sorted(): Json {
    const names = [...this.schemas.keys()].sort();
    return Object.fromEntries(names.map((n) => [n, this.schemas.get(n)?.json]));
  }

  private walk(node: unknown): unknown {
    if (Array.isArray(node)) return node.map((n) => this.walk(n));
    if (node === null || typeof node !== 'object') return node;
    const { $id, ...rest } = node as Json;
    const out: Json = {};
    for (const [k, v] of Object.entries(rest)) out[k] = k === '$ref' && typeof v === 'string' ? this.ref(v) : this.walk(v);
    if (typeof $id !== 'string') return out;
    const name = componentName($id);
    const text = JSON.stringify(out);
    const seen = this.schemas.get(name);
    // Two shapes under one name would silently document the wrong one for half the routes.
    if (seen && seen.text !== text) throw new Error(`openapi: two different schemas share the $id '${$id}'`);
    this.schemas.set(name, { json: out, text });
    return { $ref: REF + name };
  }

  /** TypeBox's `Type.Ref('X')` points at an `$id`; in the document that is a component. */
  private ref(target: string): string {
    if (target.startsWith('#')) return target;
    const name = componentName(target);
    this.refs.add(name);
    return REF + name;
  }
}

const PROBLEMS: Readonly<Record<number, string>> = {
  400: 'The body or query is malformed or does not match the schema; `errors` lists the refused fields.',
  401: 'The API key is missing or unknown.',
  403: 'The API key lacks the required scope.',
  409: 'A request with the same Idempotency-Key is still being processed; retry later.',
  413: 'The body exceeds the size limit.',
  415: 'The body is not `application/json`.',
  422: 'The Idempotency-Key was already used with a different request.',
  429: 'Rate limit exceeded; `Retry-After` says when to retry.',
};

const pathParams = (path: string): Json[] =>
  [...path.matchAll(/\{([^}]+)\}/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));

const queryParams = (c: Components, query: TSchema | undefined): Json[] => {
  if (!query) return [];
  const q = c.schema(query);
  const props = (q.properties ?? {}) as Record<string, Json>;
  const required = new Set((q.required ?? []) as string[]);
  return Object.entries(props).map(([name, schema]) => ({
    name,
    in: 'query',
    required: required.has(name),
    ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
    schema,
  }));
};

const IDEMPOTENCY_KEY: Json = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description: 'Repeating a request with the same key within 24 h returns the first answer instead of acting twice.',
  schema: { type: 'string' },
};

const requestBody = (c: Components, route: RouteSpec): Json | undefined => {
  const format = route.bodyFormat ?? (route.body ? 'json' : 'none');
  if (format === 'none') return undefined;
  if (format === 'raw') {
    // Kept byte for byte (webhook signatures cover the exact bytes), whatever the content type.
    return { required: true, content: { '*/*': route.body ? { schema: c.schema(route.body) } : {} } };
  }
  return { required: true, content: { 'application/json': { schema: route.body ? c.schema(route.body) : {} } } };
};

const response = (c: Components, status: number, spec: ResponseSpec, problemRef: Json): Json => {
  // Any refusal the pipeline renders is a problem document unless the route says otherwise.
  const isError = status >= 400;
  const schema = spec.schema ? c.schema(spec.schema) : isError ? problemRef : undefined;
  const type = spec.type ?? (isError ? PROBLEM_TYPE : 'application/json');
  if (!schema && !spec.type) return { description: spec.description };
  const others = Object.fromEntries((spec.alsoAs ?? []).map((t) => [t, { schema: { type: 'string' } }]));
  return { description: spec.description, content: { [type]: schema ? { schema } : {}, ...others } };
};

const operation = (c: Components, route: RouteSpec, problemRef: Json): Json => {
  const format = route.bodyFormat ?? (route.body ? 'json' : 'none');
  const defaults: Record<number, string> = {};
  const add = (...codes: number[]) => {
    for (const s of codes) defaults[s] = PROBLEMS[s] ?? '';
  };
  if (route.auth !== 'public') add(401, 403, 429);
  if (format === 'json') add(400, 413, 415);
  if (format === 'raw') add(413);
  if (route.query) add(400);
  if (route.idempotent) add(409, 422);

  const specs: Record<number, ResponseSpec> = {};
  for (const [s, d] of Object.entries(defaults)) specs[Number(s)] = { description: d };
  // A route's own wording for a status wins over the generic one.
  for (const [s, spec] of Object.entries(route.responses)) specs[Number(s)] = spec;
  const responses: Json = {};
  for (const s of Object.keys(specs)
    .map(Number)
    .sort((a, b) => a - b)) {
    responses[String(s)] = response(c, s, specs[s] as ResponseSpec, problemRef);
  }

  const scopes = routeScopes(route.auth);
  const scope = scopes.length > 0 ? scopes.join(' | ') : undefined;
  const description = [
    route.description,
    scope &&
      (scopes.length === 1
        ? `Requires an API key with the \`${scope}\` scope (or \`admin\`).`
        : `Requires an API key with the scope of each channel used (${scopes.map((s) => `\`${s}\``).join(', ')}; or \`admin\`).`),
  ]
    .filter(Boolean)
    .join('\n\n');
  const parameters = [...pathParams(route.path), ...queryParams(c, route.query), ...(route.idempotent ? [IDEMPOTENCY_KEY] : [])];
  const body = requestBody(c, route);
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(description ? { description } : {}),
    tags: [...route.tags],
    ...(scope ? { 'x-required-scope': scope } : {}),
    security: scope ? [{ bearerAuth: [] }] : [],
    ...(parameters.length ? { parameters } : {}),
    ...(body ? { requestBody: body } : {}),
    responses,
  };
};

/** The OpenAPI 3.1 document of the visible routes; the same routes always give the same document. */
export const buildOpenApi = (routes: readonly RouteSpec[], info: OpenApiInfo): Json => {
  const c = new Components();
  const problemRef = c.schema(Problem);
  const visible = routes
    .filter((r) => !r.hidden)
    .sort((a, b) =>
      a.path < b.path ? -1 : a.path > b.path ? 1 : METHOD_ORDER.indexOf(a.method) - METHOD_ORDER.indexOf(b.method),
    );

  const paths: Record<string, Json> = {};
  const operationIds = new Set<string>();
  for (const route of visible) {
    // Generated clients name methods by operationId; a duplicate would shadow one of them.
    if (operationIds.has(route.operationId)) throw new Error(`openapi: duplicate operationId '${route.operationId}'`);
    operationIds.add(route.operationId);
    const item = paths[route.path] ?? {};
    paths[route.path] = item;
    const method = route.method.toLowerCase();
    if (item[method]) throw new Error(`openapi: ${route.method} ${route.path} is defined twice`);
    item[method] = operation(c, route, problemRef);
  }
  c.assertResolved();

  const tags = [...new Set(visible.flatMap((r) => r.tags))].sort();
  return {
    openapi: '3.1.0',
    info: {
      title: 'fleetgate',
      version: info.version,
      description:
        'Event-sourced gateway of the fleet CRM. Commands answer `202` with the id of the event they appended; ' +
        'errors are `application/problem+json` (RFC 9457) with a stable `code`. ' +
        'The events, MQTT topics and WebSocket messages: [/asyncapi.json](/asyncapi.json) (AsyncAPI 3.0), browsable at [/docs/events](/docs/events).',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    tags: tags.map((name) => ({ name })),
    paths,
    components: {
      schemas: c.sorted(),
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'An API key: `Authorization: Bearer <key>`.' },
      },
    },
  };
};
