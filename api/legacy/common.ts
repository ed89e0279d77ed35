import type { FieldError } from '../../schemas/http/problem.js';
import type { Scope } from '../../schemas/http/scopes.js';
import { HttpProblem, toProblem } from '../problemDetails.js';
import { defineRoute, type Method, type Reply, type RequestContext, type RouteSpec } from '../route.js';
import { invalidFields } from '../validation.js';
import { phpForm } from './phpForm.js';

/** A body as the PHP endpoints saw it after `json_decode(..., true)` or `$_POST`. */
export type LegacyBody = Record<string, unknown>;

export interface LegacyRequest {
  ctx: RequestContext;
  body: LegacyBody;
  query: Record<string, string>;
  /** What the event's `via` records: `legacy:/api/sms.php`. */
  via: string;
}
export type LegacyAction = (req: LegacyRequest) => Promise<Reply>;

/** The PHP CRM's success shape (HTTP 200). */
export const ok = (fields: Record<string, unknown> = {}, status = 200): Reply => ({ status, body: { success: true, ...fields } });

/** The PHP CRM's failure shape: its clients read `message` (most endpoints) or `error` (some), so both. */
export const fail = (status: number, message: string, extra: Record<string, unknown> = {}): Reply => ({
  status,
  body: { success: false, message, error: message, ...extra },
});

/** PHP's loose scalars: a number where text is wanted becomes text; `null` and `''` are absent (`empty()`). */
export const text = (v: unknown): unknown =>
  v === undefined || v === null || v === '' ? undefined : typeof v === 'number' ? String(v) : v;
export const lower = (v: unknown): unknown => (typeof v === 'string' ? v.toLowerCase() : v);
export const present = (v: unknown): unknown => (v === null || v === '' ? undefined : v);

/** `is_html` as PHP clients send it: JSON booleans, or form text `1`/`0`/`true`/`false`. */
export const flag = (v: unknown): boolean | undefined => {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v !== 'string' || v === '') return undefined;
  return !['0', 'false', 'off', 'no'].includes(v.toLowerCase());
};

/** Drops absent fields, so the v1 body (and the event built from it) equals one a v1 client sends. */
export const compact = (o: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** The field error a legacy client understands: the old field's name. */
export const missing = (field: string, detail: string): HttpProblem => invalidFields([{ pointer: `/${field}`, field, detail }]);

const rename = (e: FieldError, names: Readonly<Record<string, string>>): FieldError => {
  const [head = '', ...rest] = e.field.split('.');
  const name = (k: string) => (Object.hasOwn(names, k) ? names[k] : undefined);
  const renamed = name(head);
  const field = name(e.field) ?? (renamed ? [renamed, ...rest].join('.') : e.field);
  return { ...e, field, pointer: field === '(body)' ? '' : `/${field.split('.').join('/')}` };
};

/** Runs a v1 command from an old body, naming refused fields as the old body did (`to` → `phone`). */
export const asLegacy = async <T>(names: Readonly<Record<string, string>>, run: () => T | Promise<T>): Promise<T> => {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof HttpProblem) || !e.extra.errors) throw e;
    throw invalidFields(e.extra.errors.map((f) => rename(f, names)));
  }
};

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/**
 * JSON or form-encoded, as the PHP endpoints took them. PHP read `php://input` whatever the
 * content type said, so a JSON body under curl's default form type is still JSON.
 */
export const parseLegacyBody = (ctx: Pick<RequestContext, 'rawBody' | 'headers'>): LegacyBody => {
  const raw = ctx.rawBody.toString('utf8');
  if (raw.trim() === '') return {};
  const type = ctx.headers['content-type'] ?? '';
  if (/^multipart\//i.test(type)) {
    throw new HttpProblem('GW_ERR_UNSUPPORTED_MEDIA_TYPE', 'send JSON or application/x-www-form-urlencoded');
  }
  if (!JSON_TYPE.test(type) && !/^\s*[{[]/.test(raw)) return phpForm(raw);
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new HttpProblem('GW_ERR_MALFORMED_JSON', `the body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw invalidFields([{ pointer: '', field: '(body)', detail: 'must be a JSON object' }]);
  }
  return parsed as LegacyBody;
};

/** A refusal in the old shape, keeping the stable code and field errors of the v1 problem. */
const legacyFailure = (e: unknown, ctx: RequestContext): Reply => {
  const { problem, headers } = toProblem(e, ctx);
  if (problem.status >= 500) ctx.logger.error({ err: e }, 'legacy request failed');
  const reply = fail(problem.status, problem.detail ?? problem.title, {
    code: problem.code,
    ...(problem.errors ? { errors: problem.errors } : {}),
  });
  return { ...reply, headers };
};

export interface LegacyEndpoint {
  method: Extract<Method, 'GET' | 'POST'>;
  /** The PHP script's path, e.g. `/api/sms.php`. */
  path: string;
  scope: Scope;
  summary: string;
  /** By `?action=`; `default` serves a request without one. */
  actions: Readonly<Record<string, LegacyAction>>;
  default?: string;
}

/**
 * One PHP script under one method, hidden from OpenAPI. With an Idempotency-Key a refusal is
 * thrown as a v1 problem: the pipeline then forgets the key instead of replaying a 400 or 503
 * for a day; without one (every PHP-era client) it is answered in the old shape.
 */
export const legacyRoute = (ep: LegacyEndpoint): RouteSpec =>
  defineRoute({
    method: ep.method,
    path: ep.path,
    operationId: `legacy_${ep.method.toLowerCase()}_${ep.path.replace(/\W+/g, '_').replace(/^_|_$/g, '')}`,
    summary: ep.summary,
    tags: ['legacy'],
    auth: { scope: ep.scope },
    hidden: true,
    ...(ep.method === 'POST' ? { bodyFormat: 'raw' as const, idempotent: true } : {}),
    responses: { 200: { description: 'the old shape: `{ success: true, ...fields }`' } },
    handle: async (ctx) => {
      const action = ctx.query.action ?? ep.default ?? '';
      const run = Object.hasOwn(ep.actions, action) ? ep.actions[action] : undefined;
      if (!run) return fail(400, 'Invalid action');
      try {
        const body = ep.method === 'POST' ? parseLegacyBody(ctx) : {};
        return await run({ ctx, body, query: ctx.query, via: `legacy:${ep.path}` });
      } catch (e) {
        // A form over PHP's input limits is a 413 like an oversized body: problem+json from the pipeline.
        if (ctx.headers['idempotency-key'] !== undefined || (e instanceof HttpProblem && e.status === 413)) throw e;
        return legacyFailure(e, ctx);
      }
    },
  });
