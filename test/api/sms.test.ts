import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;
let key: string;

beforeAll(async () => {
  store = await freshPglite();
  api = await startApi(store);
  key = await api.key(['sms']);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const post = (body: unknown, headers: Record<string, string> = {}, url = `${api.url}/api/v1/sms`) =>
  fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

const eventsSince = async (seq: number) => (await api.log.read('EVENTS', 1000, { fromSeq: seq + 1 })).flatMap((m) => m.events);

interface Problem {
  status: number;
  code: string;
  errors?: { field: string; pointer: string; detail: string }[];
}

describe('POST /api/v1/sms', () => {
  it('appends sms.requested, answers 202 with the id, and GET shows it queued with its history', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const res = await post({ to: '+79991234567', text: 'Driver assigned', priority: 'high' });
    expect(res.status).toBe(202);
    const body = (await res.json()) as { id: string; status: string };
    expect(body.status).toBe('queued');
    const events = await eventsSince(before);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      id: body.id,
      type: 'sms.requested',
      subject: 'evt.sms.cmd.high',
      data: { to: '+79991234567', text: 'Driver assigned', priority: 'high', via: 'v1' },
    });
    await api.caughtUp();
    const got = await fetch(`${api.url}/api/v1/sms/${body.id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(got.status).toBe(200);
    const sms = (await got.json()) as { status: string; to: string; history: { type: string }[] };
    expect(sms).toMatchObject({ id: body.id, status: 'queued', to: '+79991234567', priority: 'high', attempts: 0 });
    expect(sms.history.map((h) => h.type)).toEqual(['sms.requested']);
  });

  it('names each invalid field in the problem document and appends nothing', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const res = await post({ to: '8999', text: '', priority: 'asap', colour: 'red' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    const p = (await res.json()) as Problem;
    expect(p.code).toBe('GW_ERR_VALIDATION');
    expect(p.errors?.map((e) => e.field).sort()).toEqual(['colour', 'priority', 'text', 'to']);
    expect(p.errors?.find((e) => e.field === 'to')?.pointer).toBe('/to');
    const missing = (await (await post({ text: 'hi' })).json()) as Problem;
    expect(missing.errors?.map((e) => e.field)).toEqual(['to']);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });

  it('refuses malformed JSON (400), a wrong content type (415), an oversized body (413) and a wrong-type body', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const malformed = await post('{"to": "+7999', {});
    expect([malformed.status, ((await malformed.json()) as Problem).code]).toEqual([400, 'GW_ERR_MALFORMED_JSON']);
    const form = await post('to=%2B79991234567&text=hi', { 'content-type': 'application/x-www-form-urlencoded' });
    expect([form.status, ((await form.json()) as Problem).code]).toEqual([415, 'GW_ERR_UNSUPPORTED_MEDIA_TYPE']);
    const big = await post({ to: '+79991234567', text: 'x'.repeat(api.config.api.maxBodyBytes) });
    expect([big.status, ((await big.json()) as Problem).code]).toEqual([413, 'GW_ERR_PAYLOAD_TOO_LARGE']);
    const array = await post([{ to: '+79991234567', text: 'hi' }]);
    expect([array.status, ((await array.json()) as Problem).code]).toEqual([400, 'GW_ERR_VALIDATION']);
    const number = await post({ to: 79991234567, text: 'hi' });
    expect(((await number.json()) as Problem).errors?.map((e) => e.field)).toEqual(['to']);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });

  it('replays the first answer for a repeated Idempotency-Key, and refuses the key with another body (422)', async () => {
    const before = await api.log.lastSeq('EVENTS');
    const body = { to: '+79990000001', text: 'once' };
    const first = await post(body, { 'idempotency-key': 'order-17-sms' });
    const again = await post(body, { 'idempotency-key': 'order-17-sms' });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await again.json()).toEqual(await first.json());
    const other = await post({ ...body, text: 'twice' }, { 'idempotency-key': 'order-17-sms' });
    expect([other.status, ((await other.json()) as Problem).code]).toEqual([422, 'GW_ERR_IDEMPOTENCY_MISMATCH']);
    expect(await eventsSince(before)).toHaveLength(1);
    // Keys belong to an API key: another client's same key is its own command.
    const otherKey = await api.key(['sms']);
    const theirs = await post(body, { 'idempotency-key': 'order-17-sms', authorization: `Bearer ${otherKey}` });
    expect(theirs.status).toBe(202);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
  });

  it('keeps idempotency across a restart of the gateway', async () => {
    const body = { to: '+79990000002', text: 'survives restarts' };
    const first = (await (await post(body, { 'idempotency-key': 'restart-1' })).json()) as { id: string };
    await api.close();
    api = await startApi(store);
    const before = await api.log.lastSeq('EVENTS');
    const again = await post(body, { 'idempotency-key': 'restart-1' });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(((await again.json()) as { id: string }).id).toBe(first.id);
    expect(await api.log.lastSeq('EVENTS')).toBe(before);
  });

  it('redoes a request whose first attempt died mid-way without a second event', async () => {
    // A crashed process leaves a reservation without an answer; after it goes stale the retry
    // runs again, and the event (same derived id and message id) is a duplicate the log drops.
    const { commandId } = await import('../../api/commands.js');
    const { prefixOf } = await import('../../api/auth.js');
    const [row] = await store.sql<{ id: string }[]>`SELECT id FROM api_keys WHERE prefix = ${prefixOf(key)}`;
    const keyId = row?.id as string;
    const body = { to: '+79990000003', text: 'crash' };
    const id = commandId(keyId, 'crash-1');
    const before = await api.log.lastSeq('EVENTS');
    const res1 = await post(body, { 'idempotency-key': 'crash-1' });
    expect(((await res1.json()) as { id: string }).id).toBe(id);
    // Simulate the crash: the answer was never stored, and the reservation is old.
    await store.sql`UPDATE idempotency_keys SET status = NULL, response = NULL, created_at = now() - interval '1 hour'
                    WHERE api_key_id = ${keyId} AND key = 'crash-1'`;
    const res2 = await post(body, { 'idempotency-key': 'crash-1' });
    expect(res2.status).toBe(202);
    expect(((await res2.json()) as { id: string }).id).toBe(id);
    expect(await eventsSince(before)).toHaveLength(1);
  });
});

describe('GET /api/v1/sms/{id}', () => {
  it('answers 404 as a problem for an unknown or malformed id', async () => {
    for (const id of ['0190a4b2-0000-7000-8000-000000000000', 'not-a-uuid']) {
      const res = await fetch(`${api.url}/api/v1/sms/${id}`, { headers: { authorization: `Bearer ${key}` } });
      expect(res.status).toBe(404);
      expect(((await res.json()) as Problem).code).toBe('GW_ERR_NOT_FOUND');
    }
  });
});
