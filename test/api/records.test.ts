import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vehicleLabelCache } from '../../core/records/vehicleLabel.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import type { RecordChange, RecordView } from '../../schemas/http/records.js';
import { type ApiHarness, startApi } from '../support/apiServer.js';
import { freshPostgresDb } from '../support/stores.js';

let store: PostgresStore;
let api: ApiHarness;
let key: string;
beforeAll(async () => {
  store = await freshPostgresDb();
  api = await startApi(store);
  key = await api.key(['records']);
}, 60_000);
afterAll(async () => {
  await api?.close();
  await store?.close();
});

const call = (
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = { authorization: `Bearer ${key}` },
) =>
  fetch(`${api.url}/api/v1/records${path}`, {
    method,
    headers: { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const json = async <T>(res: Response) => (await res.json()) as T;
const logEnd = () => api.log.lastSeq('EVENTS');

const aDriver = (version: number, over: Record<string, unknown> = {}) => ({
  version,
  name: 'Иван Петров',
  phone: '+7 900 111-22-33',
  companyId: 'c1',
  status: 'active',
  ...over,
});
const anApplication = (id: string, version: number, over: Record<string, unknown> = {}) => ({
  id,
  version,
  kind: 'ride',
  status: 'new',
  price: { amount: 125_050, currency: 'RUB' },
  companyId: 'c1',
  pickup: { address: 'Москва, ул. Тверская, 1', lat: 55.75, lon: 37.61 },
  dropoff: { address: 'Москва, Ленинградский пр., 37' },
  createdAt: '2026-11-01T10:00:00+03:00',
  ...over,
});

describe('single writes', () => {
  it('creates (201), updates (200), and reads back a record with its fields and attributes', async () => {
    const created = await call('PUT', '/drivers/d1', aDriver(1, { attributes: { crm_rating: 4.9 } }));
    expect(created.status).toBe(201);
    expect(await json<RecordView>(created)).toMatchObject({
      type: 'drivers',
      id: 'd1',
      version: 1,
      deleted: false,
      source: 'crm',
      record: { name: 'Иван Петров', companyId: 'c1', attributes: { crm_rating: 4.9 } },
    });
    const updated = await call('PUT', '/drivers/d1', aDriver(2, { status: 'blocked' }));
    expect(updated.status).toBe(200);
    const got = await json<RecordView>(await call('GET', '/drivers/d1'));
    expect(got).toMatchObject({ version: 2, record: { status: 'blocked' } });
  });

  it('answers 409 with the current version to a write that is not newer, and changes nothing', async () => {
    await call('PUT', '/drivers/d2', aDriver(5));
    const before = await logEnd();
    for (const v of [5, 4]) {
      const res = await call('PUT', '/drivers/d2', aDriver(v, { name: 'Someone Else' }));
      expect(res.status).toBe(409);
      expect(await json(res)).toMatchObject({ code: 'GW_ERR_RECORD_STALE', currentVersion: 5 });
    }
    expect(await logEnd()).toBe(before);
    expect(await json<RecordView>(await call('GET', '/drivers/d2'))).toMatchObject({
      version: 5,
      record: { name: 'Иван Петров' },
    });
  });

  it('takes updated_at as the version, compared as an instant', async () => {
    const first = await call('PUT', '/companies/c1', { version: '2026-11-01T10:00:00Z', name: 'ООО "Такси, Плюс"' });
    expect(first.status).toBe(201);
    const older = await call('PUT', '/companies/c1', { version: '2026-11-01T12:59:00+03:00', name: 'older' });
    expect(older.status).toBe(409);
    const newer = await call('PUT', '/companies/c1', { version: '2026-11-01T13:01:00+03:00', name: 'newer' });
    expect(newer.status).toBe(200);
  });

  it('refuses an invalid body with field pointers and an id that differs from the path', async () => {
    const bad = await call(
      'PUT',
      '/applications/a-bad',
      anApplication('a-bad', 1, { status: 'flying', price: { amount: 1.5, currency: 'RUB' } }),
    );
    expect(bad.status).toBe(400);
    const pointers = (await json<{ errors: { pointer: string }[] }>(bad)).errors.map((e) => e.pointer).sort();
    expect(pointers).toEqual(['/price', '/status']);
    const other = await call('PUT', '/applications/a-1', anApplication('a-2', 1));
    expect([other.status, (await json<{ errors: { pointer: string }[] }>(other)).errors[0]?.pointer]).toEqual([400, '/id']);
  });

  it('deletes: a tombstone keeps the version, GET answers 404, a stale upsert stays refused, a newer one restores it', async () => {
    await call('PUT', '/vehicles/v9', { version: 3, plate: 'А123ВС77' });
    const del = await call('DELETE', '/vehicles/v9');
    expect(del.status).toBe(200);
    expect(await json(del)).toMatchObject({ deleted: true, version: 3 });
    expect((await call('GET', '/vehicles/v9')).status).toBe(404);
    expect((await call('DELETE', '/vehicles/v9')).status).toBe(404);
    expect((await call('PUT', '/vehicles/v9', { version: 3, plate: 'X' })).status).toBe(409);
    expect((await call('PUT', '/vehicles/v9', { version: 4, plate: 'А123ВС77' })).status).toBe(200);
    const staleDelete = await call('DELETE', '/vehicles/v9?version=4');
    expect([staleDelete.status, (await json<{ currentVersion: number }>(staleDelete)).currentVersion]).toEqual([409, 4]);
  });

  it('accepts the legacy X-API-Key header and refuses a key without the records scope', async () => {
    const legacy = await call('GET', '/drivers/d1', undefined, { 'x-api-key': key });
    expect(legacy.status).toBe(200);
    const smsKey = await api.key(['sms']);
    expect((await call('GET', '/drivers/d1', undefined, { authorization: `Bearer ${smsKey}` })).status).toBe(403);
  });
});

describe('batch', () => {
  it('refuses the whole batch with a pointer per bad item and appends nothing', async () => {
    const before = await logEnd();
    const records = Array.from({ length: 10 }, (_, i) => anApplication(`b${i}`, 1));
    records[3] = anApplication('b3', 1, { status: 'unknown' });
    records[7] = { ...anApplication('b7', 1), id: 'has space' };
    const res = await call('POST', '/applications/batch', { records });
    expect(res.status).toBe(400);
    const problem = await json<{ code: string; errors: { pointer: string }[] }>(res);
    expect(problem.code).toBe('GW_ERR_VALIDATION');
    expect(problem.errors.map((e) => e.pointer).sort()).toEqual(['/records/3/status', '/records/7/id']);
    expect(await logEnd()).toBe(before);
    expect((await call('GET', '/applications/b0')).status).toBe(404);
  });

  it('appends a valid batch as one log message and reports the items that were not newer', async () => {
    await call('PUT', '/applications/s1', anApplication('s1', 9));
    const before = await logEnd();
    const records = [...Array.from({ length: 999 }, (_, i) => anApplication(`ok${i}`, 1)), anApplication('s1', 2)];
    const res = await call('POST', '/applications/batch', { records });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({
      projected: true,
      applied: 999,
      stale: [{ id: 's1', version: 2, currentVersion: 9 }],
    });
    expect(await logEnd()).toBe(before + 1);
    const [m] = await api.log.read('EVENTS', 1, { fromSeq: before + 1 });
    expect([m?.subject, m?.events.length]).toEqual(['evt.record.batch.applications', 1000]);
    expect((await call('POST', '/applications/batch', { records: [...records, anApplication('x', 1)] })).status).toBe(400);
  });
});

describe('history', () => {
  it('lists every change the mirror took, from single writes and batches, and keeps it after a delete', async () => {
    await call('PUT', '/drivers/h1', aDriver(1));
    await call('POST', '/drivers/batch', {
      records: [
        { id: 'h1', ...aDriver(2, { status: 'inactive' }) },
        { id: 'h2', ...aDriver(1) },
      ],
    });
    await call('PUT', '/drivers/h1', aDriver(2)); // stale: not history
    await call('DELETE', '/drivers/h1');
    const res = await call('GET', '/drivers/h1/history');
    expect(res.status).toBe(200);
    const { changes } = await json<{ changes: RecordChange[] }>(res);
    expect(changes.map((c) => [c.type, c.version, c.source])).toEqual([
      ['record.upserted', 1, 'crm'],
      ['record.upserted', 2, 'crm'],
      ['record.deleted', null, 'crm'],
    ]);
    expect(changes[1]?.record).toMatchObject({ status: 'inactive' });
    expect((await call('GET', '/drivers/nobody/history')).status).toBe(404);
  });
});

describe('list', () => {
  beforeAll(async () => {
    const records = Array.from({ length: 60 }, (_, i) =>
      anApplication(`f${String(i).padStart(3, '0')}`, 1, {
        status: i % 3 === 0 ? 'completed' : 'new',
        companyId: i % 2 === 0 ? 'c-even' : 'c-odd',
        driverId: i < 10 ? 'drv-1' : null,
        vehicleId: i < 5 ? 'veh-1' : null,
        createdAt: new Date(Date.UTC(2026, 9, 1 + (i % 30))).toISOString(),
        pickup: { address: i === 42 ? 'Санкт-Петербург, Невский пр., 28' : 'Москва, ул. Тверская, 1' },
      }),
    );
    expect((await call('POST', '/applications/batch', { records })).status).toBe(200);
  });

  const list = async (query: string) => {
    const res = await call('GET', `/applications?${query}`);
    expect(res.status).toBe(200);
    return json<{ records: RecordView[]; nextCursor: string | null }>(res);
  };
  const ids = async (query: string) => (await list(query)).records.map((r) => r.id);

  it('filters by status, company, driver, vehicle, time range and text, combined', async () => {
    expect(await ids('status=completed&company=c-even&limit=1000')).toEqual(
      Array.from({ length: 60 }, (_, i) => i)
        .filter((i) => i % 6 === 0)
        .map((i) => `f${String(i).padStart(3, '0')}`),
    );
    expect((await ids('driver=drv-1')).length).toBe(10);
    expect(await ids('vehicle=veh-1')).toEqual(['f000', 'f001', 'f002', 'f003', 'f004']);
    expect((await ids('from=2026-10-01T00:00:00Z&to=2026-10-03T00:00:00Z&company=c-odd')).sort()).toEqual(['f001', 'f031']);
    expect(await ids('q=%D0%BD%D0%B5%D0%B2%D1%81%D0%BA%D0%B8%D0%B9')).toEqual(['f042']); // "невский"
    const drivers = await call('GET', '/drivers?q=%2B7%20900');
    expect((await json<{ records: RecordView[] }>(drivers)).records.length).toBeGreaterThan(0);
    expect((await call('GET', '/applications?from=yesterday')).status).toBe(400);
    expect((await call('GET', '/applications?cursor=!!')).status).toBe(400);
  });

  it('pages neither skip nor repeat a record while records are written between pages', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let round = 0;
    do {
      const page: { records: RecordView[]; nextCursor: string | null } = await list(
        `company=c-even&limit=7${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.records.map((r) => r.id));
      cursor = page.nextCursor;
      // Between pages: update records on both sides of the cursor, and add one behind it.
      round++;
      await call('POST', '/applications/batch', {
        records: [
          anApplication('f000', 1 + round, { companyId: 'c-even', createdAt: '2026-10-01T00:00:00Z' }),
          anApplication('f058', 1 + round, { companyId: 'c-even', createdAt: '2026-10-01T00:00:00Z' }),
          anApplication(`e-new-${round}`, 1, { companyId: 'c-even' }),
        ],
      });
    } while (cursor);
    const expected = Array.from({ length: 30 }, (_, i) => `f${String(i * 2).padStart(3, '0')}`);
    const fs = seen.filter((id) => id.startsWith('f'));
    expect(fs).toEqual(expected);
    expect(new Set(seen).size).toBe(seen.length);
  });
});

describe('vehicle labels (live map)', () => {
  it("names a GPS unit by its vehicle's plate and current driver, cached until the TTL", async () => {
    await call('PUT', '/drivers/lab-d', aDriver(1, { name: 'Ольга Смирнова' }));
    await call('PUT', '/vehicles/lab-v', {
      version: 1,
      plate: 'Е777КХ99',
      driverId: 'lab-d',
      gpsDeviceIds: ['unit-7', 'phone-7'],
    });
    const labels = vehicleLabelCache(store.sql, { ttlMs: 60_000 });
    expect(labels.labelOf('unit-7')).toBeUndefined(); // first sight: looked up in the background
    const loaded = await labels.load(['unit-7', 'unit-8']);
    expect(loaded.get('unit-7')).toEqual({ plate: 'Е777КХ99', driverName: 'Ольга Смирнова' });
    expect(labels.labelOf('unit-7')).toEqual({ plate: 'Е777КХ99', driverName: 'Ольга Смирнова' });
    await call('PUT', '/vehicles/lab-v', { version: 2, plate: 'Е777КХ99', driverId: null, gpsDeviceIds: ['unit-7'] });
    expect(labels.labelOf('unit-7')?.driverName).toBe('Ольга Смирнова'); // cached
    expect((await labels.load(['unit-7'])).get('unit-7')).toEqual({ plate: 'Е777КХ99', driverName: null });
  });
});
