import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { erpRoutes } from '../../api/routes/erp.js';
import { recordRoutes } from '../../api/routes/records.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import { silentLogger } from '../../core/logger.js';
import { appendRecordEvents, deletedEvent } from '../../core/records/events.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { customErp } from '../../handlers/erp/custom.js';
import { buildErpHandlers } from '../../handlers/erp/index.js';
import { CUSTOM_MAPPING } from '../../schemas/erp/mapping.js';
import { paymentSubject } from '../../schemas/events/payment.js';
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
let runner: HandlerRunner | undefined;

const COMPANIES = 'Catalog_Контрагенты';
const PAYMENTS = 'Document_ПоступлениеБезналичныхДенежныхСредств';

beforeAll(async () => {
  fake = await startFakeOneC({ user: ONEC_USER, password: ONEC_PASSWORD, sets: ONEC_SETS });
  custom = await startFakeCustomErp({ apiKey: 'k-123', paths: Object.values(CUSTOM_MAPPING).map((m) => m.set) });
  store = await freshPglite();
  api = await startRoutes(store, (d) => [...recordRoutes(d), ...erpRoutes(d)], {
    ERP_TEST_MODE: 'false',
    ERP_API_URL: fake.url,
    ERP_API_USER: ONEC_USER,
    ERP_API_PASSWORD: ONEC_PASSWORD,
  });
  key = await api.key(['records', 'erp']);
  // The default for a configured ERP: push on change on (no option given), batches closed after 200 ms.
  const [handler] = buildErpHandlers(
    { config: api.config, logger: silentLogger(), log: api.log, sql: store.sql },
    { changes: { maxDelayMs: 200 } },
  );
  if (handler) runner = await startHandler(api.log, handler);
}, 60_000);
afterAll(async () => {
  await runner?.stop();
  await api?.close();
  await store?.close();
  await fake?.close();
  await custom?.close();
});

const call = (method: string, path: string, body?: unknown) =>
  fetch(`${api.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
const inOneC = (set: string, gwKey: string) => [...(fake.sets.get(set)?.values() ?? [])].filter((o) => o.Комментарий === gwKey);
const changeRuns = async () =>
  (await events(api.log, 'evt.erp.runs')).filter(
    (e) => e.type === 'erp.sync_started' && (e.data as { trigger: string }).trigger === 'change',
  ) as unknown as { data: { entity: string; ids?: string[]; runId: string } }[];

describe('ERP push on change', () => {
  it('a record written through /api/v1/records reaches 1C with no sync request; its change follows', async () => {
    expect(
      (await call('PUT', '/api/v1/records/companies/k1', { version: 1, name: 'ООО «Вектор»', inn: '7701112233' })).status,
    ).toBe(201);
    const [made] = await until(async () => {
      const o = inOneC(COMPANIES, 'gw:companies:k1');
      return o.length > 0 ? o : undefined;
    });
    expect(made).toMatchObject({ Description: 'ООО «Вектор»', ИНН: '7701112233' });
    expect((await events(api.log, 'evt.erp.cmd.>')).filter((e) => e.type === 'erp.requested')).toHaveLength(0);
    expect((await changeRuns()).some((r) => r.data.entity === 'companies' && r.data.ids?.includes('k1'))).toBe(true);

    expect((await call('PUT', '/api/v1/records/companies/k1', { version: 2, name: 'ООО «Вектор-2»' })).status).toBe(200);
    await until(async () => (inOneC(COMPANIES, 'gw:companies:k1')[0]?.Description === 'ООО «Вектор-2»' ? true : undefined));
    expect(inOneC(COMPANIES, 'gw:companies:k1')).toHaveLength(1);
    // Shown in erp_sync_log as runs of their own.
    await api.caughtUp();
    const listed = (await (await call('GET', '/api/v1/erp/sync?entity=companies&status=completed')).json()) as {
      items: { trigger: string; total: number }[];
    };
    expect(listed.items.filter((i) => i.trigger === 'change').length).toBeGreaterThanOrEqual(2);
  });

  it('a record pulled from 1C is not pushed back', async () => {
    const [seeded] = fake.seed(COMPANIES, [{ Description: 'Из 1С', ИНН: '7709998877' }]);
    const ref = seeded?.Ref_Key as string;
    const pulled = await engineFor(store.sql, api.log, onecPort(fake)).run({
      runId: randomUUID(),
      entity: 'companies',
      direction: 'pull',
      trigger: 'request',
    });
    expect(pulled.ok).toBeGreaterThanOrEqual(1);
    await api.caughtUp();
    const requestsAfterPull = fake.requests.length;
    // A CRM write after the pull: once it reached 1C, the pull's events (earlier in the log) were seen too.
    await call('PUT', '/api/v1/records/companies/marker', { version: 1, name: 'Маркер' });
    await until(async () => (inOneC(COMPANIES, 'gw:companies:marker').length > 0 ? true : undefined));
    const touched = fake.requests
      .slice(requestsAfterPull)
      .filter((r) => r.method !== 'GET' && decodeURIComponent(r.rawUrl).includes(ref));
    expect(touched).toEqual([]);
    expect((await changeRuns()).some((r) => r.data.ids?.includes(`erp-${ref}`))).toBe(false);
    expect(fake.sets.get(COMPANIES)?.get(ref)?.Комментарий).toBeUndefined();
  });

  it('a CRM delete marks the 1C object deleted; a later pull leaves the record deleted', async () => {
    await call('PUT', '/api/v1/records/companies/k2', { version: 1, name: 'На удаление' });
    const [made] = await until(async () => {
      const o = inOneC(COMPANIES, 'gw:companies:k2');
      return o.length > 0 ? o : undefined;
    });
    expect(made?.DeletionMark).toBe(false);
    expect((await call('DELETE', '/api/v1/records/companies/k2')).status).toBe(200);
    await until(async () => (fake.sets.get(COMPANIES)?.get(made?.Ref_Key as string)?.DeletionMark === true ? true : undefined));
    // One object, marked; the link is gone with it.
    expect(inOneC(COMPANIES, 'gw:companies:k2')).toHaveLength(1);
    await until(async () => {
      const rows = await store.sql`SELECT 1 FROM erp_links WHERE entity = 'companies' AND crm_id = 'k2'`;
      return rows.length === 0 ? true : undefined;
    });
    await engineFor(store.sql, api.log, onecPort(fake)).run({
      runId: randomUUID(),
      entity: 'companies',
      direction: 'pull',
      trigger: 'request',
    });
    await api.caughtUp();
    const [k2] = await store.sql<{ deleted: boolean }[]>`SELECT deleted FROM companies WHERE id = 'k2'`;
    expect(k2?.deleted).toBe(true);
    const revived = await store.sql`SELECT 1 FROM companies WHERE id = ${`erp-${made?.Ref_Key}`}`;
    expect(revived).toHaveLength(0);
  });

  it('a push that fails while 1C is down is not lost: the backlog sends it on the next push', async () => {
    fake.down = true;
    try {
      await call('PUT', '/api/v1/records/companies/k3', { version: 1, name: 'Во время сбоя' });
      await until(async () => {
        const runs = (await changeRuns()).filter((r) => r.data.ids?.includes('k3'));
        const failed = (await events(api.log, 'evt.erp.runs')).filter(
          (e) => e.type === 'erp.sync_failed' && runs.some((r) => r.data.runId === (e.data as { runId: string }).runId),
        );
        return failed.length > 0 ? true : undefined;
      });
    } finally {
      fake.down = false;
    }
    expect(inOneC(COMPANIES, 'gw:companies:k3')).toHaveLength(0);
    const next = await engineFor(store.sql, api.log, onecPort(fake)).run({
      runId: randomUUID(),
      entity: 'companies',
      direction: 'push',
      trigger: 'schedule',
    });
    expect(next.ok).toBeGreaterThanOrEqual(1);
    expect(inOneC(COMPANIES, 'gw:companies:k3')).toHaveLength(1);
  });

  it("a captured payment is sent as 1C's incoming payment; a refund sends the net sum again", async () => {
    const paymentId = randomUUID();
    const subject = paymentSubject(paymentId);
    const fact = (type: string, data: Record<string, unknown>) =>
      newEvent({ type: type as 'payment.created', subject, source: 'test/provider', data: data as never });
    const provider = { provider: 'yookassa', providerPaymentId: 'yk-1', source: 'webhook' };
    await api.log.append(
      subject,
      fact('payment.created', {
        paymentId,
        ...provider,
        confirmationUrl: 'https://pay.example/1',
        orderId: 'order-77',
        amountMinor: 250_000,
        currency: 'RUB',
        capture: true,
        testMode: false,
        description: 'Оплата поездки',
      }),
    );
    await api.log.append(
      subject,
      fact('payment.succeeded', { paymentId, ...provider, capturedMinor: 250_000, paidAt: '2026-12-01T09:00:00Z' }),
    );
    const gw = `gw:payments:${paymentId}`;
    // Created unposted, then posted: wait for the posting.
    const [doc] = await until(async () => {
      const o = inOneC(PAYMENTS, gw);
      return o[0]?.Posted ? o : undefined;
    });
    expect(doc).toMatchObject({ СуммаДокумента: 2500, Posted: true, Date: '2026-12-01T12:00:00' });
    await api.log.append(
      subject,
      fact('payment.refund_succeeded', {
        paymentId,
        refundId: randomUUID(),
        provider: 'yookassa',
        providerRefundId: 'yk-r-1',
        amountMinor: 50_000,
        source: 'webhook',
      }),
    );
    await until(async () => (inOneC(PAYMENTS, gw)[0]?.СуммаДокумента === 2000 ? true : undefined));
    expect(inOneC(PAYMENTS, gw)).toHaveLength(1);
  });
});

describe('custom ERP deletes', () => {
  it('a CRM delete is sent as DELETE /<path>/<id>; the ERP keeps it soft-deleted', async () => {
    const port = customErp({ baseUrl: custom.url, apiKey: 'k-123', paging: 'offset', timeoutMs: 5_000 });
    const engine = engineFor(store.sql, api.log, port, { mapping: CUSTOM_MAPPING });
    await crmWrites(api.log, 'vehicles', [{ id: 'cv1', version: 1, plate: 'К101КК77' }]);
    await api.caughtUp();
    await engine.run({ runId: randomUUID(), entity: 'vehicles', direction: 'push', trigger: 'request', ids: ['cv1'] });
    const held = [...(custom.collections.get('vehicles')?.values() ?? [])].find((o) => o.external_id === 'gw:vehicles:cv1');
    expect(held?.deleted).toBe(false);
    await appendRecordEvents(api.log, 'vehicles', [deletedEvent('vehicles', 'cv1', 'crm')]);
    await api.caughtUp();
    const before = custom.requests.length;
    const r = await engine.run({ runId: randomUUID(), entity: 'vehicles', direction: 'push', trigger: 'request' });
    expect(r).toMatchObject({ ok: 1, failed: 0 });
    expect(custom.requests.slice(before).filter((q) => q.method === 'DELETE')).toEqual([
      { method: 'DELETE', url: `/api/vehicles/${held?.id}` },
    ]);
    expect(held?.deleted).toBe(true);
    // Sent once: the next push finds nothing to do.
    expect(await engine.run({ runId: randomUUID(), entity: 'vehicles', direction: 'push', trigger: 'request' })).toMatchObject({
      total: 0,
    });
  });
});
