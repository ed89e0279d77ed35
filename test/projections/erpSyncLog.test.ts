import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uuidv7 } from '../../core/eventlog/uuid.js';
import type { Stored } from '../../core/runners/projectionRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { erpSyncLogProjection } from '../../projections/erpSyncLog.js';
import type { ErpEvent } from '../../schemas/events/erp.js';
import { freshPglite } from '../support/stores.js';

let seq = 0;
const event = <T extends ErpEvent['type']>(type: T, data: Extract<ErpEvent, { type: T }>['data']): Stored<ErpEvent> =>
  ({
    id: uuidv7(),
    type,
    subject: 'evt.erp.runs',
    time: new Date(Date.UTC(2026, 11, 4, 0, 0, ++seq)).toISOString(),
    source: 'test',
    data,
    stream: 'EVENTS',
    seq,
  }) as Stored<ErpEvent>;

describe('erp_sync_log projection', () => {
  let store: PostgresStore;
  beforeAll(async () => {
    store = await freshPglite();
  });
  afterAll(async () => {
    await store.close();
  });

  it('skips an outcome whose run id is not a uuid (the column is one) and folds the rest of the batch', async () => {
    const good = uuidv7();
    const batch = [
      event('erp.sync_started', { runId: 'run-1', entity: 'companies', direction: 'pull', trigger: 'schedule', resumed: false }),
      event('erp.sync_failed', { runId: 'run-1', entity: 'companies', direction: 'pull', error: 'hand-made' }),
      event('erp.sync_started', { runId: good, entity: 'drivers', direction: 'push', trigger: 'schedule', resumed: false }),
    ];
    await store.sql.begin((tx) => erpSyncLogProjection.apply(tx, batch));
    const rows = await store.sql<{ id: string; status: string }[]>`SELECT id::text, status FROM erp_sync_log`;
    expect(rows).toEqual([{ id: good, status: 'running' }]);
  });
});
