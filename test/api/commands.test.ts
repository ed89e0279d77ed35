import { Validator } from '@seriousme/openapi-schema-validator';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prefixOf } from '../../api/auth.js';
import { buildOpenApi } from '../../api/openapi.js';
import { commandRoutes } from '../../api/routes/commands.js';
import { silentLogger } from '../../core/logger.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { EMAIL_ATTACHMENTS_MAX_BYTES } from '../../schemas/events/email.js';
import { accepted, refused } from '../fixtures/commands.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
let requestedBy: string;

beforeAll(async () => {
  store = await freshPglite();
  api = await startRoutes(store, commandRoutes);
  key = await api.key(['email', 'push', 'telegram', 'payments', 'erp', 'exports']);
  requestedBy = prefixOf(key);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const call = (method: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const eventsSince = async (seq: number) => (await api.log.read('EVENTS', 1000, { fromSeq: seq + 1 })).flatMap((m) => m.events);

interface Problem {
  code: string;
  errors?: { field: string; pointer: string; detail: string }[];
}
const fieldsOf = async (res: Response) => ((await res.json()) as Problem).errors?.map((e) => e.field).sort();

describe('v1 commands', () => {
  it.each(accepted)('$name: answers 202 with the id and appends one $type', async (c) => {
    const before = await api.log.lastSeq('EVENTS');
    const res = await call(c.method, c.path, c.body);
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; status: string };
    expect(body.status).toBe('queued');
    const events = await eventsSince(before);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ id: body.id, type: c.type, subject: c.subject, source: 'api' });
    expect(events[0]?.data).toEqual({ ...c.data, requestedBy, via: 'v1' });
    expect(Value.Errors(c.schema, events[0]?.data).First()).toBeUndefined();
  });

  it.each(refused)('%s: 400 naming the fields, nothing appended', async (_name, method, path, body, fields) => {
    const before = await api.log.lastSeq('EVENTS');
    const res = await call(method, path, body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await fieldsOf(res)).toEqual(fields);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });

  it('refuses attachments over the decoded limit (512 KiB), naming the field, and accepts them up to it', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const mail = (bytes: number) => ({
      to: 'a@example.com',
      subject: 'report',
      text: 'attached',
      attachments: [
        { filename: 'a.bin', contentBase64: Buffer.alloc(bytes - 1).toString('base64'), contentType: 'application/octet-stream' },
        { filename: 'b.bin', contentBase64: Buffer.alloc(1).toString('base64'), contentType: 'application/octet-stream' },
      ],
    });
    const over = await call('POST', '/api/v1/email', mail(EMAIL_ATTACHMENTS_MAX_BYTES + 1));
    expect(over.status).toBe(400);
    const p = (await over.json()) as Problem;
    expect(p.errors?.map((e) => [e.field, e.pointer])).toEqual([['attachments', '/attachments']]);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
    const atLimit = await call('POST', '/api/v1/email', mail(EMAIL_ATTACHMENTS_MAX_BYTES));
    expect(atLimit.status).toBe(202);
  });

  it('answers 404 for a refund of an id that is no payment id', async () => {
    const res = await call('POST', '/api/v1/payments/not-a-payment/refunds', {});
    expect([res.status, ((await res.json()) as Problem).code]).toEqual([404, 'GW_ERR_NOT_FOUND']);
  });

  it('needs the channel scope', async () => {
    const smsOnly = await api.key(['sms']);
    const res = await call(
      'POST',
      '/api/v1/exports',
      { entity: 'drivers', format: 'csv' },
      { authorization: `Bearer ${smsOnly}` },
    );
    expect([res.status, ((await res.json()) as Problem).code]).toEqual([403, 'GW_ERR_FORBIDDEN']);
  });

  it('honours Idempotency-Key: the same answer and one event', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const body = { entity: 'payments', direction: 'pull' };
    const first = await call('POST', '/api/v1/erp/sync', body, { 'idempotency-key': 'erp-pull-1' });
    const again = await call('POST', '/api/v1/erp/sync', body, { 'idempotency-key': 'erp-pull-1' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    expect(await eventsSince(before)).toHaveLength(1);
  });

  it('documents every command in a valid OpenAPI document', async () => {
    const doc = buildOpenApi(commandRoutes({ config: api.config, log: api.log, sql: store.sql, logger: silentLogger() }), {
      version: '0.0.0',
    });
    const res = await new Validator().validate(structuredClone(doc));
    expect(res.errors ?? []).toEqual([]);
    expect(Object.keys(doc.paths as object).sort()).toEqual([
      '/api/v1/email',
      '/api/v1/email/{id}',
      '/api/v1/erp/status',
      '/api/v1/erp/sync',
      '/api/v1/erp/sync/{id}',
      '/api/v1/exports',
      '/api/v1/exports/{id}',
      '/api/v1/exports/{id}/download',
      '/api/v1/payments',
      '/api/v1/payments/{id}',
      '/api/v1/payments/{id}/cancel',
      '/api/v1/payments/{id}/capture',
      '/api/v1/payments/{id}/refunds',
      '/api/v1/push',
      '/api/v1/push/tokens',
      '/api/v1/telegram/link-codes',
      '/api/v1/telegram/messages',
    ]);
  });
});
