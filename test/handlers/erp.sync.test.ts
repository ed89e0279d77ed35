import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erpSyncPhp } from '../../api/legacy/erpSync.js';
import { erpRoutes } from '../../api/routes/erp.js';
import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { customErp } from '../../handlers/erp/custom.js';
import { buildErpHandlers } from '../../handlers/erp/index.js';
import { ErpError } from '../../handlers/erp/port.js';
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
  // Push on change has its own test (erp.changes.test.ts): here every push is the test's own run.
  const [handler] = buildErpHandlers(
    { config: api.config, logger: silentLogger(), log: api.log, sql: store.sql },
    { pushOnChange: false },
  );
  if (handler) runners.push(await startHandler(api.log, handler));
}, 60_000);
afterAll(async () => {
  for (const r of runners) await r.stop();
  await api?.close();
  await store?.close();
  await fake?.close();
  await custom?.close();
});

const COMPANIES = 'Catalog_Контрагенты';
const ORDERS = 'Document_ЗаказКлиента';
const record = async (type: string, id: string) => {
  const [row] = await store.sql<{ version: string; fields: Record<string, unknown>; source: string; deleted: boolean }[]>`
    SELECT version, fields, source, deleted FROM ${store.sql(type)} WHERE id = ${id}`;
  return row;
};
const run = async (
  entity: 'companies' | 'applications' | 'drivers',
  direction: 'push' | 'pull',
  opts: { runId?: string; pageSize?: number; timeoutMs?: number } = {},
) => {
  const engine = engineFor(store.sql, api.log, onecPort(fake, opts.timeoutMs), { pageSize: opts.pageSize ?? 5 });
  const result = await engine.run({ runId: opts.runId ?? randomUUID(), entity, direction, trigger: 'request' });
  await api.caughtUp();
  return result;
};
const get = async (path: string) => {
  const res = await fetch(`${api.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
};

describe('ERP sync with 1C over OData', () => {
  it('pushes new records, then only the changed one, by the key kept in the link', async () => {
    await crmWrites(api.log, 'companies', [
      { id: 'c1', version: 1, name: 'ООО «Ромашка»', inn: '7701234567' },
      { id: 'c2', version: 1, name: 'ИП Петров' },
      { id: 'c3', version: 1, name: 'Fleet Ltd' },
    ]);
    await api.caughtUp();
    const first = await run('companies', 'push');
    expect(first).toMatchObject({ total: 3, ok: 3, failed: 0 });
    const objects = [...(fake.sets.get(COMPANIES)?.values() ?? [])];
    expect(objects.map((o) => o.Description).sort()).toEqual(['Fleet Ltd', 'ИП Петров', 'ООО «Ромашка»']);
    expect(objects.find((o) => o.Description === 'ООО «Ромашка»')).toMatchObject({
      ИНН: '7701234567',
      Комментарий: 'gw:companies:c1',
    });
    // The Cyrillic entity set went percent-encoded; the Cyrillic login as UTF-8 (else 401).
    expect(fake.requests.some((r) => r.method === 'POST' && r.rawUrl.includes('Catalog_%D0%9A%D0%BE%D0%BD'))).toBe(true);

    await crmWrites(api.log, 'companies', [{ id: 'c2', version: 2, name: 'ИП Петров А. А.' }]);
    await api.caughtUp();
    const before = fake.requests.length;
    const second = await run('companies', 'push');
    expect(second).toMatchObject({ total: 1, ok: 1 });
    const patch = fake.requests.slice(before).filter((r) => r.method === 'PATCH');
    expect(patch).toHaveLength(1);
    expect(patch[0]?.ifMatch).toBeTruthy();
    expect(objects.find((o) => o.Комментарий === 'gw:companies:c2')?.Description).toBe('ИП Петров А. А.');
    expect(fake.sets.get(COMPANIES)?.size).toBe(3);
  });

  it('pushes an application as a posted document: zone-less Moscow date, decimal sum, reference by Ref_Key', async () => {
    await crmWrites(api.log, 'applications', [
      {
        id: 'a1',
        version: 1,
        kind: 'ride',
        status: 'new',
        companyId: 'c1',
        price: { amount: 150050, currency: 'RUB' },
        createdAt: '2026-11-01T07:30:00Z',
      },
    ]);
    await api.caughtUp();
    expect(await run('applications', 'push')).toMatchObject({ ok: 1 });
    const [doc] = [...(fake.sets.get(ORDERS)?.values() ?? [])];
    const c1 = [...(fake.sets.get(COMPANIES)?.values() ?? [])].find((o) => o.Комментарий === 'gw:companies:c1');
    expect(doc).toMatchObject({ Date: '2026-11-01T10:30:00', СуммаДокумента: 1500.5, Статус: 'НеСогласован', Posted: true });
    expect(doc?.Контрагент_Key).toBe(c1?.Ref_Key);
  });

  it('full pull of objects made in 1C, then an incremental pull fetches only the changed one', async () => {
    const seeded = fake.seed(
      'Catalog_ФизическиеЛица',
      Array.from({ length: 12 }, (_, i) => ({ Description: `Водитель ${i}` })),
    );
    const full = await run('drivers', 'pull');
    expect(full).toMatchObject({ total: 12, ok: 12, failed: 0 });
    for (const o of seeded) {
      const r = await record('drivers', `erp-${o.Ref_Key}`);
      expect(r).toMatchObject({ source: 'erp', deleted: false });
      expect(r?.fields.name).toBe(o.Description);
    }
    const target = seeded[3] as (typeof seeded)[number];
    fake.edit('Catalog_ФизическиеЛица', target.Ref_Key, { Description: 'Водитель Иванов' });
    fake.edit('Catalog_ФизическиеЛица', (seeded[7] as (typeof seeded)[number]).Ref_Key, { DeletionMark: true });
    const before = fake.requests.length;
    const inc = await run('drivers', 'pull');
    expect(inc).toMatchObject({ total: 2, ok: 2, skipped: 10 });
    const reqs = fake.requests.slice(before).map((r) => decodeURIComponent(r.rawUrl));
    // Listing pages asked for keys and versions only; the changed objects came by key.
    expect(reqs.filter((u) => u.includes('$select=Ref_Key,DataVersion,DeletionMark'))).toHaveLength(3);
    const fetched = reqs.flatMap((u) => [...u.matchAll(/Ref_Key eq guid'([0-9a-f-]{36})'/g)].map((m) => m[1]));
    expect(fetched.sort()).toEqual([target.Ref_Key, (seeded[7] as (typeof seeded)[number]).Ref_Key].sort());
    expect((await record('drivers', `erp-${target.Ref_Key}`))?.fields.name).toBe('Водитель Иванов');
    expect((await record('drivers', `erp-${(seeded[7] as (typeof seeded)[number]).Ref_Key}`))?.deleted).toBe(true);
  });

  it('both sides changed: ERP wins for companies, CRM wins for applications; the loser is in the log', async () => {
    const c3 = [...(fake.sets.get(COMPANIES)?.values() ?? [])].find((o) => o.Комментарий === 'gw:companies:c3');
    fake.edit(COMPANIES, c3?.Ref_Key as string, { Description: 'Fleet Ltd (1C)' });
    await crmWrites(api.log, 'companies', [{ id: 'c3', version: 5, name: 'Fleet Ltd (CRM)' }]);
    await api.caughtUp();
    const runId = randomUUID();
    const pulled = await run('companies', 'pull', { runId });
    expect(pulled.conflicts).toBe(1);
    expect((await record('companies', 'c3'))?.fields.name).toBe('Fleet Ltd (1C)');
    const view = await get(`/api/v1/erp/sync/${runId}`);
    expect(view).toMatchObject({ status: 'completed', conflicts: 1, direction: 'pull' });
    expect((view.items as { status: string; conflict: unknown }[])[0]).toMatchObject({
      status: 'conflict',
      conflict: { winner: 'erp', loser: { name: 'Fleet Ltd (CRM)' } },
    });

    const doc = [...(fake.sets.get(ORDERS)?.values() ?? [])][0];
    fake.edit(ORDERS, doc?.Ref_Key as string, { Статус: 'Закрыт' });
    await crmWrites(api.log, 'applications', [
      {
        id: 'a1',
        version: 2,
        kind: 'ride',
        status: 'assigned',
        companyId: 'c1',
        price: { amount: 150050, currency: 'RUB' },
        createdAt: '2026-11-01T07:30:00Z',
      },
    ]);
    await api.caughtUp();
    const appPull = await run('applications', 'pull');
    expect(appPull.conflicts).toBe(1);
    expect((await record('applications', 'a1'))?.fields.status).toBe('assigned');
    // The CRM's side then goes to 1C over the 1C user's edit (If-Match the version the pull read).
    expect(await run('applications', 'push')).toMatchObject({ ok: 1, conflicts: 0 });
    expect(fake.sets.get(ORDERS)?.get(doc?.Ref_Key as string)?.Статус).toBe('Согласован');
  });

  it('a create whose answer times out is found by the gateway key, not made twice', async () => {
    await crmWrites(api.log, 'companies', [{ id: 'c9', version: 1, name: 'Таймаут' }]);
    await api.caughtUp();
    fake.delayNextCreate(1_500);
    const runId = randomUUID();
    const err = await run('companies', 'push', { runId, timeoutMs: 400 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ErpError);
    expect((err as ErpError).code).toBe('timeout');
    await new Promise((r) => setTimeout(r, 1_200));
    const resumed = await run('companies', 'push', { runId });
    expect(resumed.total).toBe(1);
    const made = [...(fake.sets.get(COMPANIES)?.values() ?? [])].filter((o) => o.Комментарий === 'gw:companies:c9');
    expect(made).toHaveLength(1);
    const view = await get(`/api/v1/erp/sync/${runId}`);
    expect(view).toMatchObject({ status: 'completed', attempts: 2 });
    expect((view.items as { action: string }[])[0]?.action).toBe('linked');
  });

  it('an outage in the middle of a pull: resumed from the last committed page, nothing appended twice', async () => {
    const seeded = fake.seed(
      'Catalog_ТранспортныеСредства',
      Array.from({ length: 23 }, (_, i) => ({ Description: `А${100 + i}ВС77` })),
    );
    const engine = engineFor(store.sql, api.log, onecPort(fake));
    const runId = randomUUID();
    fake.downAfter(2);
    await expect(engine.run({ runId, entity: 'vehicles', direction: 'pull', trigger: 'schedule' })).rejects.toThrow(/503/);
    fake.down = false;
    await api.caughtUp();
    expect((await get(`/api/v1/erp/sync/${runId}`)).status).toBe('failed');
    expect(await engine.unfinishedRun('vehicles', 'pull')).toBe(runId);
    const done = await engine.run({ runId, entity: 'vehicles', direction: 'pull', trigger: 'schedule' });
    await api.caughtUp();
    expect(done.total).toBe(23 - 10);
    const upserts = (await events(api.log, 'evt.record.>')).filter(
      (e) => e.type === 'record.upserted' && (e.data as { type: string }).type === 'vehicles',
    );
    expect(upserts).toHaveLength(23);
    expect(new Set(upserts.map((e) => (e.data as { id: string }).id)).size).toBe(23);
    for (const o of seeded) expect((await record('vehicles', `erp-${o.Ref_Key}`))?.fields.plate).toBe(o.Description);
    const view = await get(`/api/v1/erp/sync/${runId}`);
    expect(view).toMatchObject({ status: 'completed', attempts: 2, total: 13 });
    const failed = (await events(api.log, 'evt.erp.runs')).filter((e) => e.type === 'erp.sync_failed');
    expect(failed.some((e) => (e.data as { runId: string }).runId === runId)).toBe(true);
  });

  it("1C's -1 on posting fails the item, not the run; the status summary shows runs and backlog", async () => {
    await crmWrites(api.log, 'applications', [
      { id: 'a2', version: 1, kind: 'delivery', status: 'new', createdAt: '2026-11-02T08:00:00+03:00' },
      { id: 'a3', version: 1, kind: 'delivery', status: 'new', createdAt: '2026-11-02T09:00:00+03:00' },
    ]);
    await api.caughtUp();
    fake.failNextPost();
    const r = await run('applications', 'push', { pageSize: 1 });
    expect(r).toMatchObject({ total: 2, ok: 1, failed: 1 });
    const failedRun = (await get('/api/v1/erp/sync?entity=applications&status=completed')).items as {
      id: string;
      failed: number;
    }[];
    expect(failedRun[0]?.failed).toBe(1);
    const detail = await get(`/api/v1/erp/sync/${failedRun[0]?.id}`);
    expect((detail.items as { error: string }[])[0]?.error).toMatch(/code -1/);
    const status = await get('/api/v1/erp/status');
    expect((status.backlog as Record<string, number>).applications).toBe(1);
    expect((status.lastSuccessful as { entity: string }[]).map((x) => x.entity)).toContain('drivers');
  });
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
    const made = [...(fake.sets.get('Catalog_Контрагенты')?.values() ?? [])].map((o) => o.Комментарий);
    expect(made.filter((c) => c === 'gw:companies:501')).toHaveLength(1);
    expect(made).not.toContain('gw:companies:502');
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
