import { Validator } from '@seriousme/openapi-schema-validator';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { buildOpenApi } from '../../api/openapi.js';
import { HttpProblem } from '../../api/problemDetails.js';
import { defineRoute, type RequestContext, type RouteSpec } from '../../api/route.js';
import { DOCS_CSP, docsRoutes } from '../../api/routes/docs.js';
import { CommandAccepted } from '../../schemas/http/problem.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests walk a generated document of any shape
type Json = Record<string, any>;

const notCalled = async () => ({ status: 500 });

const SmsRequest = Type.Object(
  {
    to: Type.String({ description: 'E.164 number' }),
    text: Type.String({ minLength: 1 }),
    priority: Type.Optional(
      Type.Union([Type.Literal('low'), Type.Literal('normal'), Type.Literal('high'), Type.Literal('urgent')]),
    ),
  },
  { additionalProperties: false },
);

const routes: RouteSpec[] = [
  defineRoute({
    method: 'POST',
    path: '/api/v1/sms',
    operationId: 'sendSms',
    summary: 'Send an SMS',
    tags: ['sms'],
    auth: { scope: 'sms' },
    body: SmsRequest,
    idempotent: true,
    responses: { 202: { description: 'Accepted', schema: CommandAccepted } },
    handle: notCalled,
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/vehicles/{deviceId}/track',
    operationId: 'getTrack',
    summary: 'A vehicle track',
    tags: ['vehicles'],
    auth: { scope: 'vehicles' },
    query: Type.Object({
      from: Type.String({ description: 'epoch ms or ISO-8601' }),
      to: Type.Optional(Type.String()),
    }),
    responses: {
      200: { description: 'The track', schema: Type.Object({ deviceId: Type.String() }), alsoAs: ['application/gpx+xml'] },
      404: { description: 'Unknown device' },
    },
    handle: notCalled,
  }),
  defineRoute({
    method: 'POST',
    path: '/webhooks/stripe',
    operationId: 'stripeWebhook',
    summary: 'Stripe events',
    tags: ['webhooks'],
    auth: 'public',
    bodyFormat: 'raw',
    responses: { 200: { description: 'Recorded' } },
    handle: notCalled,
  }),
  defineRoute({
    method: 'POST',
    path: '/api/sms.php',
    operationId: 'legacySms',
    summary: 'Legacy',
    tags: ['legacy'],
    auth: { scope: 'sms' },
    hidden: true,
    responses: { 200: { description: 'ok' } },
    handle: notCalled,
  }),
];

const info = { version: '1.2.3', serverUrl: 'http://localhost:8080' };
const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

describe('buildOpenApi', () => {
  const doc = buildOpenApi(routes, info) as Json;

  it('is a valid OpenAPI 3.1 document', async () => {
    const validator = new Validator();
    const res = await validator.validate(structuredClone(doc));
    expect(res.errors).toBeUndefined();
    expect(res.valid).toBe(true);
    expect(validator.version).toBe('3.1');
  });

  it('lists visible routes with their parameters, omitting hidden ones', () => {
    expect(Object.keys(doc.paths)).toEqual(['/api/v1/sms', '/api/v1/vehicles/{deviceId}/track', '/webhooks/stripe']);
    const track = doc.paths['/api/v1/vehicles/{deviceId}/track'].get;
    expect(track.parameters).toEqual([
      { name: 'deviceId', in: 'path', required: true, schema: { type: 'string' } },
      {
        name: 'from',
        in: 'query',
        required: true,
        description: 'epoch ms or ISO-8601',
        schema: expect.objectContaining({ type: 'string' }),
      },
      { name: 'to', in: 'query', required: false, schema: { type: 'string' } },
    ]);
    expect(JSON.stringify(doc)).not.toContain('legacySms');
    expect(doc.servers).toEqual([{ url: 'http://localhost:8080' }]);
    expect(doc.tags).toEqual([{ name: 'sms' }, { name: 'vehicles' }, { name: 'webhooks' }]);
  });

  it('states security and the required scope', () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const send = doc.paths['/api/v1/sms'].post;
    expect(send.security).toEqual([{ bearerAuth: [] }]);
    expect(send['x-required-scope']).toBe('sms');
    expect(send.description).toContain('`sms` scope');
    expect(doc.paths['/webhooks/stripe'].post.security).toEqual([]);
  });

  it('documents problem responses as $refs to one Problem schema', () => {
    const send = doc.paths['/api/v1/sms'].post;
    expect(Object.keys(send.responses)).toEqual(['202', '400', '401', '403', '409', '413', '415', '422', '429']);
    for (const s of ['400', '401', '403', '409', '413', '415', '422', '429']) {
      expect(send.responses[s].content).toEqual({ 'application/problem+json': { schema: PROBLEM_REF } });
    }
    const track = doc.paths['/api/v1/vehicles/{deviceId}/track'].get;
    expect(track.responses['404']).toEqual({
      description: 'Unknown device',
      content: { 'application/problem+json': { schema: PROBLEM_REF } },
    });
    expect(Object.keys(track.responses)).not.toContain('415');
    // Another representation of the same answer (format=gpx) is listed beside the JSON one.
    expect(Object.keys(track.responses['200'].content)).toEqual(['application/json', 'application/gpx+xml']);
    expect(track.responses['200'].content['application/gpx+xml']).toEqual({ schema: { type: 'string' } });
    expect(doc.components.schemas.Problem).toMatchObject({
      type: 'object',
      required: expect.arrayContaining(['code', 'status']),
    });
    expect(doc.components.schemas.Problem.$id).toBeUndefined();
    // The public webhook has neither auth problems nor a JSON content-type check.
    expect(Object.keys(doc.paths['/webhooks/stripe'].post.responses)).toEqual(['200', '413']);
  });

  it('carries body schemas, the Idempotency-Key header and raw bodies', () => {
    const send = doc.paths['/api/v1/sms'].post;
    const schema = send.requestBody.content['application/json'].schema;
    expect(schema).toMatchObject({ type: 'object', required: ['to', 'text'], additionalProperties: false });
    expect(schema.properties.priority.anyOf).toHaveLength(4);
    expect(send.parameters).toEqual([expect.objectContaining({ name: 'Idempotency-Key', in: 'header', required: false })]);
    expect(send.responses['202'].content['application/json'].schema.required).toEqual(['id', 'status']);
    expect(doc.paths['/webhooks/stripe'].post.requestBody).toEqual({ required: true, content: { '*/*': {} } });
  });

  it('is deterministic whatever the route order', () => {
    const again = buildOpenApi([...routes].reverse(), info);
    expect(JSON.stringify(again)).toBe(JSON.stringify(doc));
  });

  it('hoists $id schemas and resolves Type.Ref, refusing conflicting or dangling ids', () => {
    const Money = Type.Object({ amount: Type.Integer() }, { $id: 'Money' });
    const route = (id: string, body: ReturnType<typeof Type.Object>): RouteSpec =>
      defineRoute({ ...(routes[0] as RouteSpec), path: `/${id}`, operationId: id, body });
    const d = buildOpenApi(
      [route('a', Type.Object({ price: Money })), route('b', Type.Object({ refund: Type.Ref(Money) }))],
      info,
    ) as Json;
    expect(d.components.schemas.Money).toEqual({
      type: 'object',
      properties: { amount: { type: 'integer' } },
      required: ['amount'],
    });
    expect(d.paths['/a'].post.requestBody.content['application/json'].schema.properties.price).toEqual({
      $ref: '#/components/schemas/Money',
    });
    expect(d.paths['/b'].post.requestBody.content['application/json'].schema.properties.refund).toEqual({
      $ref: '#/components/schemas/Money',
    });
    const Other = Type.Object({ cents: Type.Integer() }, { $id: 'Money' });
    expect(() => buildOpenApi([route('a', Type.Object({ m: Money })), route('b', Type.Object({ m: Other }))], info)).toThrow(
      /share the \$id/,
    );
    expect(() => buildOpenApi([route('a', Type.Object({ m: Type.Ref('Nope') }))], info)).toThrow(/unknown schema/);
    expect(() => buildOpenApi([routes[0] as RouteSpec, routes[0] as RouteSpec], info)).toThrow(/duplicate operationId/);
  });
});

describe('docs routes', () => {
  const docs = docsRoutes(() => [...routes, ...docs], info);
  const find = (path: string) => docs.find((r) => r.path === path) as RouteSpec;
  const call = (path: string, params: Record<string, string> = {}) =>
    find(path).handle({ params, path, route: path, method: 'GET' } as unknown as RequestContext);
  const asset = (file: string) => call('/docs/assets/{file}', { file });
  // Any scheme-qualified URL would be another host: the page must load from this origin only.
  const external = /(https?:)?\/\/[a-z0-9]/i;

  it('serves the cached document, listing /openapi.json but not the page or assets', async () => {
    const first = await call('/openapi.json');
    expect(first.type).toMatch(/^application\/json/);
    const doc = JSON.parse(String(first.raw));
    expect(Object.keys(doc.paths)).toContain('/openapi.json');
    expect(Object.keys(doc.paths)).not.toContain('/docs');
    expect((await call('/openapi.json')).raw).toBe(first.raw);
    expect(find('/docs').hidden).toBe(true);
    expect(find('/docs/assets/{file}').hidden).toBe(true);
  });

  it('serves an HTML page that loads only local assets under a strict CSP', async () => {
    const page = await call('/docs');
    const html = String(page.raw);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.headers?.['content-security-policy']).toBe(DOCS_CSP);
    expect(DOCS_CSP).toContain("default-src 'self'");
    expect(html).not.toMatch(external);
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
    expect(html).not.toMatch(/ style=|<style/);
    const urls = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1] as string);
    expect(urls.length).toBeGreaterThan(3);
    for (const url of urls) {
      expect(url.startsWith('/docs/assets/')).toBe(true);
      const file = url.slice('/docs/assets/'.length);
      expect((await asset(file)).status).toBe(200);
    }
    const init = String((await asset('init.js')).raw);
    expect(init).not.toMatch(external);
    expect(init).toContain("url: '/openapi.json'");
  });

  it('serves assets with their content types and a day of caching', async () => {
    const cases: [string, RegExp][] = [
      ['swagger-ui.css', /^text\/css/],
      ['swagger-ui-bundle.js', /^text\/javascript/],
      ['init.js', /^text\/javascript/],
      ['favicon-32x32.png', /^image\/png$/],
    ];
    for (const [file, type] of cases) {
      const reply = await asset(file);
      expect(reply.type).toMatch(type);
      expect(reply.headers?.['cache-control']).toBe('public, max-age=86400');
      expect(Buffer.byteLength(reply.raw ?? '')).toBeGreaterThan(100);
    }
    const bundle = await asset('swagger-ui-bundle.js');
    expect((await asset('swagger-ui-bundle.js')).raw).toBe(bundle.raw); // read once, same buffer
  });

  it('refuses anything outside the allowlist', async () => {
    for (const file of [
      '../../package.json',
      '../package.json',
      'package.json',
      'index.html',
      'swagger-ui.js.map',
      '',
      'toString',
    ]) {
      const refused = asset(file);
      await expect(refused).rejects.toBeInstanceOf(HttpProblem);
      await expect(refused).rejects.toMatchObject({ code: 'GW_ERR_ROUTE_NOT_FOUND', status: 404 });
    }
  });
});
