import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embeddedEventLog } from '../../core/eventlog/embedded.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { appendRecordEvents, deletedEvent, upsertedEvent } from '../../core/records/events.js';
import { projectionRunner, rebuildProjection } from '../../core/runners/projectionRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { recordsProjection } from '../../projections/records.js';
import { RECORD_TYPES } from '../../schemas/records/common.js';
import { freshPglite } from '../support/stores.js';

let store: PostgresStore;
let log: EventLog;
beforeAll(async () => {
  store = await freshPglite();
  log = embeddedEventLog(store.sql, { pollMs: 20 });
}, 60_000);
afterAll(async () => {
  await log?.close();
  await store?.close();
});

const snapshot = async () => {
  const tables: Record<string, unknown[]> = {};
  for (const t of RECORD_TYPES) tables[t] = [...(await store.sql`SELECT * FROM ${store.sql(t)} ORDER BY id`)];
  return tables;
};

describe('records projection', () => {
  it('a replay, in any batching, rebuilds the four tables identical row by row', async () => {
    const opts = { log, sql: store.sql, projection: recordsProjection, logger: silentLogger(), batchSize: 500, batchDelayMs: 0 };
    // Singles, batches with repeats and stale versions, deletes with and without a version, a revival.
    await appendRecordEvents(log, 'companies', [
      upsertedEvent('companies', { id: 'c1', version: 1, name: 'ООО «Ромашка»' }, 'crm'),
    ]);
    for (let round = 0; round < 5; round++) {
      await appendRecordEvents(
        log,
        'drivers',
        Array.from({ length: 200 }, (_, i) =>
          upsertedEvent(
            'drivers',
            { id: `d${(i * 7 + round) % 150}`, version: round * 10 + (i % 3), name: `Водитель ${i}`, companyId: 'c1' },
            round % 2 ? 'erp' : 'import',
          ),
        ),
      );
    }
    await appendRecordEvents(log, 'vehicles', [
      upsertedEvent(
        'vehicles',
        { id: 'v1', version: 1, plate: 'А001АА77', driverId: 'd1', gpsDeviceIds: ['bus-1', 'bus-2'] },
        'crm',
      ),
      upsertedEvent('vehicles', { id: 'v2', version: 1, plate: 'В002ВВ77' }, 'crm'),
    ]);
    await appendRecordEvents(log, 'vehicles', [deletedEvent('vehicles', 'v2', 'crm')]);
    await appendRecordEvents(log, 'vehicles', [deletedEvent('vehicles', 'v1', 'crm', 0)]); // stale: ignored
    await appendRecordEvents(log, 'vehicles', [upsertedEvent('vehicles', { id: 'v2', version: 2, plate: 'В002ВВ77' }, 'crm')]);
    await appendRecordEvents(log, 'applications', [
      upsertedEvent(
        'applications',
        {
          id: 'a1',
          version: '2026-11-01T10:00:00+03:00',
          kind: 'ride',
          status: 'new',
          price: { amount: 99_900, currency: 'RUB' },
          createdAt: '2026-11-01T10:00:00+03:00',
        },
        'crm',
      ),
    ]);

    const live = projectionRunner(opts);
    await live.start();
    await live.caughtUp(30_000);
    await live.stop();
    const before = await snapshot();
    expect((before.drivers as unknown[]).length).toBe(150);
    expect(before.vehicles).toMatchObject([
      { id: 'v1', deleted: false, gps_device_ids: ['bus-1', 'bus-2'] },
      { id: 'v2', deleted: false, version: '2' },
    ]);

    await rebuildProjection(opts);
    expect(await snapshot()).toEqual(before);
    await rebuildProjection({ ...opts, batchSize: 1 });
    expect(await snapshot()).toEqual(before);
  }, 60_000);
});
