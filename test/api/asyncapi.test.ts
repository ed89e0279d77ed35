import specs from '@asyncapi/specs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { buildAsyncApi } from '../../api/asyncapi.js';
import { apiRoutes } from '../../api/index.js';
import type { RequestContext, RouteSpec } from '../../api/route.js';
import { loadConfig } from '../../core/config.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { Sql } from '../../core/stores/postgres.js';
import { REFUSAL_REASONS } from '../../ingest/gps/parsePoints.js';
import { allEventDefs } from '../../schemas/events/catalog.js';
import { RefusalReason } from '../../schemas/messages/device.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests walk a generated document of any shape
type Json = Record<string, any>;

const doc = buildAsyncApi({ version: '1.2.3' }) as Json;

/**
 * The AsyncAPI schema embeds its own copy of the draft-07 meta-schema (same `$id` as Ajv's
 * built-in one): leave Ajv's out (`meta: false`) so the reference resolves to one schema.
 */
const specValidator = () => {
  const ajv = new Ajv({ strict: false, allErrors: true, meta: false, validateSchema: false });
  addFormats.default(ajv);
  return ajv.compile(specs.schemas['3.0.0'] as object);
};

/** A validator for the message payloads themselves: AsyncAPI schemas are JSON Schema draft-07 here. */
const payloadAjv = () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats.default(ajv);
  return ajv;
};

describe('/asyncapi.json (issue 22.5)', () => {
  it('validates against the AsyncAPI 3.0.0 schema from @asyncapi/specs', () => {
    const validate = specValidator();
    const ok = validate(doc);
    expect(validate.errors ?? [], JSON.stringify(validate.errors?.slice(0, 5), null, 2)).toEqual([]);
    expect(ok).toBe(true);
    expect(doc.asyncapi).toBe('3.0.0');
    expect(doc.info.version).toBe('1.2.3');
  });

  it('the validator refuses a broken document (so the check above can fail)', () => {
    const validate = specValidator();
    const broken = structuredClone(doc);
    broken.channels['mqtt.location'].messages = 'not an object';
    expect(validate(broken)).toBe(false);
    expect(validate({ ...doc, asyncapi: '2.6.0' })).toBe(false);
    // 2.x verbs are not 3.0 actions; a payload must be a schema.
    const publish = {
      ...doc,
      operations: { ...doc.operations, x: { action: 'publish', channel: { $ref: '#/channels/ws.live' } } },
    };
    expect(validate(publish)).toBe(false);
    const badPayload = structuredClone(doc);
    badPayload.components.messages['live.status'].payload = { type: 5 };
    expect(validate(badPayload)).toBe(false);
  });

  it('names every event type the code declares, each in a log channel with its data schema', () => {
    const types = allEventDefs().map((d) => d.type);
    expect(types.length).toBeGreaterThan(20);
    const inChannels = new Set(
      Object.values(doc.channels as Json)
        .filter((c: Json) => c.address.startsWith('evt.') || c.address.startsWith('gps.'))
        .flatMap((c: Json) => Object.keys(c.messages)),
    );
    for (const def of allEventDefs()) {
      const m = doc.components.messages[def.type];
      expect(m, def.type).toBeDefined();
      expect(inChannels.has(def.type), def.type).toBe(true);
      expect(m.payload.items.properties.type.const).toBe(def.type);
      expect(m.payload.items.properties.data).toEqual(JSON.parse(JSON.stringify(def.schema)));
    }
    expect(doc.components.messages['command.retried']).toBeDefined();
  });

  it('describes payloads that accept what the gateway writes and devices send, and refuse the rest', () => {
    const ajv = payloadAjv();
    const payload = (name: string) => ajv.compile(doc.components.messages[name].payload);
    const sent = newEvent({
      type: 'email.sent',
      subject: 'evt.email.result',
      source: 'handler/email',
      causationId: '0190e0a0-0000-7000-8000-000000000000',
      data: {
        messageId: '<x@y>',
        accepted: ['a@b.example'],
        rejected: [],
        response: '250 Ok',
        testMode: false,
        subject: 'Hi',
        attempt: 1,
      },
    });
    expect(payload('email.sent')([sent])).toBe(true);
    expect(payload('email.sent')([{ ...sent, type: 'email.failed' }])).toBe(false);
    expect(payload('email.sent')([{ ...sent, data: { ...sent.data, attempt: 0 } }])).toBe(false);

    const location = payload('mqtt.location');
    expect(location({ ts: 1_767_261_600_000, lat: 55.75, lon: 37.62, speed: 42, id: 'p-1' })).toBe(true);
    expect(location([{ ts: '2026-12-03T09:10:11Z', lat: 1, lon: 2 }])).toBe(true);
    expect(location({ ts: 1_767_261_600_000, lat: 95, lon: 0 })).toBe(false);
    expect(location({ lat: 1, lon: 2 })).toBe(false);
    expect(payload('driver.locations')({ type: 'locations', items: [{ ts: 1_767_261_600_000, lat: 1, lon: 2 }] })).toBe(true);
    expect(payload('live.subscribe')({ type: 'subscribe', vehicles: '*' })).toBe(true);
    expect(payload('live.subscribe')({ type: 'subscribe', vehicles: 'bus-1' })).toBe(false);
    const parked = { deviceId: 'taxi-1', ts: 1_767_261_600_000, lat: 55.75, lon: 37.62, speed: null, heading: null, battery: 80 };
    const entry = { ...parked, source: 'mqtt', receivedAt: 1_767_261_601_000, online: false, ageMs: 1_500_000 };
    expect(payload('live.snapshot')({ type: 'snapshot', positions: [entry], done: true })).toBe(true);
    expect(payload('live.snapshot')({ type: 'snapshot', positions: [{ ...entry, online: undefined }], done: true })).toBe(false);
    expect(payload('mqtt.error')({ reason: 'lat_out_of_range', index: 0, id: null, detail: 'lat must be …' })).toBe(true);
  });

  it('lists the refusal reasons the intake uses, and every MQTT topic and WebSocket', () => {
    expect(RefusalReason.anyOf.map((s) => s.const)).toEqual([...REFUSAL_REASONS]);
    const addresses = Object.values(doc.channels as Json).map((c: Json) => c.address);
    expect(addresses).toEqual(
      expect.arrayContaining([
        'v1/devices/{deviceId}/location',
        'v1/devices/{deviceId}/commands',
        'v1/devices/{deviceId}/errors',
        '/v1/ws/driver',
        '/v1/ws/live',
        'gps.reported.{source}',
        'evt.email.{rest}',
        'evt.devcmd.{rest}',
      ]),
    );
  });

  it('is served at /asyncapi.json and browsable at /docs/events beside /docs, listed in the OpenAPI document', async () => {
    const config = loadConfig({ DATA_DIR: '/nonexistent' });
    const routes = apiRoutes({ config, log: {} as never, sql: {} as Sql, logger: {} as never, devices: {} as never });
    const find = (path: string) => routes.find((r) => r.path === path) as RouteSpec;
    const call = async (path: string) =>
      (await find(path).handle({ params: {}, path, route: path, method: 'GET' } as unknown as RequestContext)) as {
        status: number;
        raw: string;
        type: string;
        headers?: Record<string, string>;
      };
    const json = await call('/asyncapi.json');
    expect(json.status).toBe(200);
    expect(json.type).toMatch(/^application\/json/);
    expect(Object.keys(JSON.parse(json.raw).components.messages).sort()).toEqual(Object.keys(doc.components.messages).sort());
    const page = await call('/docs/events');
    expect(page.type).toMatch(/^text\/html/);
    expect(page.headers?.['content-security-policy']).toContain("default-src 'self'");
    expect(page.raw).not.toMatch(/<script/i);
    for (const def of allEventDefs()) expect(page.raw, def.type).toContain(`id="msg-${def.type}"`);
    const openapi = JSON.parse((await call('/openapi.json')).raw) as Json;
    expect(openapi.paths['/asyncapi.json']).toBeDefined();
    expect(openapi.info.description).toContain('/docs/events');
  });
});
