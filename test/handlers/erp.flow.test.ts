import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erpSyncPhp } from '../../api/legacy/erpSync.js';
import { erpRoutes } from '../../api/routes/erp.js';
import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { customErp } from '../../handlers/erp/custom.js';
import { buildErpHandlers } from '../../handlers/erp/index.js';
import { erpScheduler } from '../../handlers/erp/scheduler.js';
import { CUSTOM_MAPPING } from '../../schemas/erp/mapping.js';
import { type FakeCustomErp, startFakeCustomErp } from '../fakes/customErp.js';
import { type FakeOneC, startFakeOneC } from '../fakes/onec.js';
import type { ApiHarness } from '../support/apiServer.js';
import { startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPglite } from '../support/stores.js';
import { until } from '../support/until.js';
import { crmWrites, engineFor, events, ONEC_PASSWORD, ONEC_SETS, ONEC_USER, onecPort } from './erpHarness.js';

let store: PostgresStore;
let api: ApiHarness;
let fake: FakeOneC;
let custom: FakeCustomErp;
let key: string;
const runners: HandlerRunner[] = [];

beforeAll(async () => {
  fake = await startFakeOneC({ user: ONEC_USER, password: ONEC_PASSWORD, sets: ONEC_SETS });
  custom = await startFakeCustomErp({ apiKey: 'k-123', paths: Object.values(CUSTOM_MAPPING).map((m) => m.set) });
  store = await freshPglite();
  api = await startRoutes(store, (d) => [...erpRoutes(d), ...erpSyncPhp(d)], {
    ERP_TEST_MODE: 'false',
    ERP_API_URL: fake.url,
    ERP_API_USER: ONEC_USER,
    ERP_API_PASSWORD: ONEC_PASSWORD,
  });
  key = await api.key(['erp']);
  const [handler] = buildErpHandlers({ config: api.config, logger: silentLogger(), log: api.log, sql: store.sql });
  if (handler) runners.push(await startHandler(api.log, handler));
}, 60_000);
afterAll(async () => {
  for (const r of runners) await r.stop();
  await api?.close();
  await store?.close();
  await fake?.close();
  await custom?.close();
});

const call = async (method: string, path: string, body?: unknown) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });

describe('ERP sync end to end', () => {
  it('POST /api/v1/erp/sync pushes the ids through the handler; v1 and the legacy status answer from erp_sync_log', async () => {
    await crmWrites(api.log, 'companies', [
      { id: '501', version: 1, name: 'Такси Плюс', inn: '7712345678' },
      { id: '502', version: 1, name: 'Не эта' },
    ]);
    await api.caughtUp();
    const res = await call('POST', '/api/v1/erp/sync', { entity: 'companies', direction: 'push', ids: [501] });
    expect(res.status).toBe(202);
    const { id } = (await res.json()) as { id: string };
    const view = await until(
      async () => {
        await api.caughtUp();
        const r = await call('GET', `/api/v1/erp/sync/${id}`);
        const v = (await r.json()) as { status: string };
        return v.status === 'completed' ? v : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(view).toMatchObject({ total: 1, ok: 1, requestedIds: ['501'], trigger: 'request' });
    const made = [...(fake.sets.get('Catalog_Контрагенты')?.values() ?? [])];
    expect(made.map((o) => o.Комментарий)).toEqual(['gw:companies:501']);
    const legacy = await call('GET', '/api/erp-sync.php?action=status&entity_type=company&entity_id=501');
    expect(await legacy.json()).toMatchObject({ success: true, id, status: 'completed', error_message: null });
    const listed = (await (await call('GET', '/api/v1/erp/sync?entity=companies&status=completed')).json()) as {
      items: { id: string }[];
    };
    expect(listed.items.map((i) => i.id)).toContain(id);
    const bad = await call('GET', '/api/v1/erp/sync?entity=planets');
    expect(bad.status).toBe(400);
  });

  it('the custom REST ERP: push by external_id, pull with offset paging', async () => {
    const port = customErp({ baseUrl: custom.url, apiKey: 'k-123', paging: 'offset', timeoutMs: 5_000 });
    const engine = engineFor(store.sql, api.log, port, { mapping: CUSTOM_MAPPING, pageSize: 2 });
    await crmWrites(api.log, 'vehicles', [
      { id: 'v1', version: 1, plate: 'А001АА77', model: 'Kia Rio' },
      { id: 'v2', version: 1, plate: 'В002ВВ77' },
      { id: 'v3', version: 1, plate: 'С003СС77' },
    ]);
    await api.caughtUp();
    expect(
      await engine.run({ runId: crypto.randomUUID(), entity: 'vehicles', direction: 'push', trigger: 'request' }),
    ).toMatchObject({
      total: 3,
      ok: 3,
    });
    const held = [...(custom.collections.get('vehicles')?.values() ?? [])];
    expect(held.map((o) => o.external_id).sort()).toEqual(['gw:vehicles:v1', 'gw:vehicles:v2', 'gw:vehicles:v3']);
    expect(held.find((o) => o.plate === 'А001АА77')?.model).toBe('Kia Rio');
    const v2 = held.find((o) => o.plate === 'В002ВВ77');
    custom.edit('vehicles', v2?.id as string, { model: 'Lada Vesta' });
    custom.seed('vehicles', [{ plate: 'Е005ЕЕ77', model: 'Skoda' }]);
    const pulled = await engine.run({ runId: crypto.randomUUID(), entity: 'vehicles', direction: 'pull', trigger: 'request' });
    await api.caughtUp();
    expect(pulled).toMatchObject({ total: 2, ok: 2 });
    const [row] = await store.sql<
      { fields: Record<string, unknown>; source: string }[]
    >`SELECT fields, source FROM vehicles WHERE id = 'v2'`;
    expect(row).toMatchObject({ source: 'erp', fields: { plate: 'В002ВВ77', model: 'Lada Vesta' } });
  });

  it('two processes with auto-sync: one lease, one run per interval', async () => {
    const intervalMs = 1_500;
    const schedulers = ['process-a', 'process-b'].map((holder) =>
      erpScheduler({
        sql: store.sql,
        logger: silentLogger(),
        engine: (onPage) => engineFor(store.sql, api.log, onecPort(fake), { onPage }),
        intervalMs,
        leaseMs: 1_000,
        tickMs: 50,
        holder,
        order: [['drivers', 'pull']],
      }),
    );
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 4_000));
    for (const s of schedulers) await s.stop();
    const starts = (await events(api.log, 'evt.erp.runs')).filter(
      (e) => e.type === 'erp.sync_started' && (e.data as { trigger: string }).trigger === 'schedule' && Date.parse(e.time) >= t0,
    );
    const times = starts.map((e) => Date.parse(e.time)).sort((a, b) => a - b);
    // 4 s at 1.5 s intervals: at 0, 1.5 and 3 s — never two in one interval, whichever process ran them.
    expect(times.length).toBeGreaterThanOrEqual(2);
    expect(times.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < times.length; i++)
      expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThanOrEqual(intervalMs - 50);
  });
});
