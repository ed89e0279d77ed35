import { readdir } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { legacyRoutes } from '../../api/legacy/index.js';
import { exportRoutes } from '../../api/routes/exports.js';
import { silentLogger } from '../../core/logger.js';
import type { HandlerRunner } from '../../core/runners/handlerRunner.js';
import type { PostgresStore } from '../../core/stores/postgres.js';
import { exportHandler } from '../../handlers/export/handler.js';
import { postgresSource, type RowSource } from '../../handlers/export/source.js';
import type { ApiHarness } from '../support/apiServer.js';
import { eventsCausedBy, startHandler } from '../support/handlers.js';
import { startRoutes } from '../support/routesServer.js';
import { freshPostgresDb, tempDir } from '../support/stores.js';
import { until } from '../support/until.js';

let store: PostgresStore;
let api: ApiHarness;
let runner: HandlerRunner;
let handler: ReturnType<typeof exportHandler>;
let files: { dir: string; remove(): Promise<unknown> };
let key: string;
let otherKey: string;
let clock = Date.now();
/** Fails the first attempt of a job whose filters say so, after some rows: a crash mid-file. */
let crashOnce = true;

const payments = [
  ['Оплата поездки, Москва', 123456, '2026-10-25T00:30:00Z'],
  ['He said "hi"\nthen paid', 5, '2026-10-25T01:30:00Z'],
  ['=1+2', 100, '2026-10-26T09:00:00Z'],
] as const;

beforeAll(async () => {
  store = await freshPostgresDb();
  files = await tempDir('fg-exports-');
  api = await startRoutes(store, (d) => [...exportRoutes(d), ...legacyRoutes(d)], {
    EXPORT_PATH: files.dir,
    EXPORT_MAX_ROWS: '5',
    EXPORT_TTL: '3600',
  });
  const pg = postgresSource(store.sql);
  const flaky: RowSource = {
    count: (plan) => pg.count(plan),
    async *rows(plan, limit) {
      let n = 0;
      for await (const batch of pg.rows(plan, limit)) {
        if (plan.filters.some((f) => f.value === 'crash') && crashOnce && ++n > 0) {
          crashOnce = false;
          throw new Error('connection lost mid-export');
        }
        yield batch;
      }
    },
  };
  handler = exportHandler({
    settings: api.config.exports,
    log: api.log,
    sql: store.sql,
    logger: silentLogger(),
    sources: { postgres: flaky },
    now: () => new Date(clock),
  });
  runner = await startHandler(api.log, handler as never);
  key = await api.key(['exports']);
  otherKey = await api.key(['exports']);
  let i = 0;
  for (const [description, amount, at] of payments) {
    await store.sql`INSERT INTO payment_transactions (id, order_id, provider, amount_minor, currency, status, description, created_at, updated_at, last_seq)
      VALUES (${`00000000-0000-4000-8000-00000000000${++i}`}, ${`A-${i}`}, 'yookassa', ${amount}, 'RUB', 'succeeded', ${description}, ${at}, ${at}, 1)`;
  }
  for (let j = 0; j < 4; j++) {
    await store.sql`INSERT INTO sms_log (id, recipient, message, status, provider, created_at, updated_at, last_seq)
      VALUES (${`00000000-0000-4000-8000-0000000001${j}0`}, '+79990000000', ${`сообщение ${j}`}, 'sent', 'crash', now(), now(), 1)`;
  }
  for (let j = 0; j < 7; j++) {
    await store.sql`INSERT INTO applications (id, version, status, name, source, occurred_at, changed_at, last_seq)
      VALUES (${`app-${j}`}, 1, 'new', ${`Заявка ${j}`}, 'crm', now(), now(), 1)`;
  }
}, 60_000);
afterAll(async () => {
  await runner?.stop();
  await api?.close();
  await store?.close();
  await files?.remove();
});

const call = (path: string, init: { method?: string; body?: unknown; key?: string; headers?: Record<string, string> } = {}) =>
  fetch(`${api.url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.key ?? key}`,
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });

const create = async (body: object, as = key) => {
  const r = await call('/api/v1/exports', { method: 'POST', body, key: as });
  expect(r.status, await r.clone().text()).toBe(202);
  return ((await r.json()) as { id: string }).id;
};

const settled = (id: string, as = key) =>
  until(
    async () => {
      const job = (await (await call(`/api/v1/exports/${id}`, { key: as })).json()) as Record<string, unknown>;
      return ['completed', 'failed'].includes(job.status as string) && job;
    },
    { what: `export ${id} settled` },
  );

describe('exports as jobs', () => {
  it('CSV job: status, progress, streamed download with a readable file name, Range', async () => {
    const id = await create({
      entity: 'payments',
      format: 'csv',
      columns: ['description', 'amount', 'created_at'],
      timeZone: 'Europe/Berlin',
      separator: ';',
    });
    const job = await settled(id);
    expect(job).toMatchObject({
      status: 'completed',
      rows_total: 3,
      rows_written: 3,
      progress_percent: 100,
      truncated: false,
      attempt: 1,
    });
    expect(job.size_bytes).toBeGreaterThan(0);
    expect(job.download_url).toBe(`/api/v1/exports/${id}/download`);
    const r = await call(`/api/v1/exports/${id}/download`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    const disposition = r.headers.get('content-disposition') ?? '';
    expect(disposition).toMatch(/^attachment; filename="payments-\d{4}-\d\d-\d\d\.csv"; filename\*=UTF-8''/);
    expect(decodeURIComponent(disposition.split("UTF-8''")[1] as string)).toMatch(/^Платежи \d{4}-\d\d-\d\d\.csv$/);
    const bytes = Buffer.from(await r.arrayBuffer());
    expect(bytes.length).toBe(job.size_bytes);
    expect(parse(bytes, { bom: true, delimiter: ';' })).toEqual([
      ['Описание', 'Сумма', 'Создан'],
      ['Оплата поездки, Москва', '1234.56', '2026-10-25 02:30:00'],
      ['He said "hi"\nthen paid', '0.05', '2026-10-25 02:30:00'],
      ["'=1+2", '1.00', '2026-10-26 10:00:00'],
    ]);
    const part = await call(`/api/v1/exports/${id}/download`, { headers: { range: 'bytes=3-12' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 3-12/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(3, 13));
    const tail = await call(`/api/v1/exports/${id}/download`, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 5));
    const outside = await call(`/api/v1/exports/${id}/download`, { headers: { range: `bytes=${bytes.length}-` } });
    expect(outside.status).toBe(416);
    expect(((await outside.json()) as { code: string }).code).toBe('GW_ERR_RANGE_NOT_SATISFIABLE');
  });

  it('refuses unknown columns and filters with 400 naming the field', async () => {
    for (const [body, field] of [
      [{ entity: 'payments', format: 'csv', columns: ['password'] }, 'columns'],
      [{ entity: 'payments', format: 'csv', filters: { colour: 'red' } }, 'filters'],
      [{ entity: 'payments', format: 'csv', filters: { date_from: 'yesterday' } }, 'filters'],
      [{ entity: 'payments', format: 'csv', timeZone: 'Mars/Olympus' }, 'timeZone'],
      [{ entity: 'planets', format: 'csv' }, 'entity'],
      [{ entity: 'payments', format: 'docx' }, 'format'],
    ] as const) {
      const r = await call('/api/v1/exports', { method: 'POST', body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      const problem = (await r.json()) as { code: string; errors: { field: string }[] };
      expect(problem.code).toBe('GW_ERR_VALIDATION');
      expect(problem.errors.map((e) => e.field)).toContain(field);
    }
  });

  it('another key’s job and a key without the scope are refused; the list holds only the key’s own jobs', async () => {
    const id = await create({ entity: 'payments', format: 'json' });
    await settled(id);
    expect((await call(`/api/v1/exports/${id}`, { key: otherKey })).status).toBe(403);
    expect((await call(`/api/v1/exports/${id}/download`, { key: otherKey })).status).toBe(403);
    const noScope = await api.key(['sms']);
    expect((await call(`/api/v1/exports/${id}/download`, { key: noScope })).status).toBe(403);
    const mine = (await (await call('/api/v1/exports')).json()) as { items: { id: string }[] };
    expect(mine.items.map((j) => j.id)).toContain(id);
    const theirs = (await (await call('/api/v1/exports', { key: otherKey })).json()) as { items: unknown[] };
    expect(theirs.items).toEqual([]);
    const arr = JSON.parse(await (await call(`/api/v1/exports/${id}/download`)).text());
    expect(arr.map((p: { amount: number }) => p.amount)).toEqual([1234.56, 0.05, 1]);
  });

  it('refunds: one row per refund with the order of its payment, filtered by status', async () => {
    const at = new Date('2026-11-02T09:00:00Z');
    for (const [n, amount, status] of [
      [1, 50_000, 'succeeded'],
      [2, 10_000, 'failed'],
    ] as const) {
      await store.sql`INSERT INTO payment_refunds (id, payment_id, provider, amount_minor, currency, status, reason, created_at, updated_at, last_seq)
        VALUES (${`refund-${n}`}, '00000000-0000-4000-8000-000000000001', 'yookassa', ${amount}, 'RUB', ${status}, 'возврат, частичный', ${at}, ${at}, 1)`;
    }
    const id = await create({ entity: 'refunds', format: 'ndjson', filters: { status: 'succeeded' } });
    expect(await settled(id)).toMatchObject({ status: 'completed', rows_total: 1 });
    const rows = (await (await call(`/api/v1/exports/${id}/download`)).text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows).toEqual([
      expect.objectContaining({
        id: 'refund-1',
        order_id: 'A-1',
        amount: 500,
        status: 'succeeded',
        reason: 'возврат, частичный',
      }),
    ]);
  });

  it('over EXPORT_MAX_ROWS: fails before writing, or truncates when asked (flagged)', async () => {
    const failed = await settled(await create({ entity: 'applications', format: 'ndjson' }));
    expect(failed).toMatchObject({ status: 'failed', error_code: 'TOO_MANY_ROWS', download_url: null });
    expect(failed.error_message).toMatch(/7 rows match, over EXPORT_MAX_ROWS \(5\)/);
    const id = await create({ entity: 'applications', format: 'ndjson', truncate: true });
    const cut = await settled(id);
    expect(cut).toMatchObject({ status: 'completed', rows_total: 5, truncated: true });
    const r = await call(`/api/v1/exports/${id}/download`);
    expect(r.headers.get('content-disposition')).toContain('truncated');
    expect((await r.text()).trimEnd().split('\n')).toHaveLength(5);
  });

  it('a job that breaks mid-file restarts from the first row into a new file; no partial file stays', async () => {
    const id = await create({ entity: 'sms', format: 'csv', filters: { provider: 'crash' } });
    const job = await settled(id);
    expect(job).toMatchObject({ status: 'completed', attempt: 2, rows_total: 4, rows_written: 4 });
    const events = await eventsCausedBy(api.log, id);
    expect(events.filter((e) => e.type === 'export.started').map((e) => (e.data as { attempt: number }).attempt)).toEqual([1, 2]);
    expect(events.map((e) => e.type)).toContain('export.attempt_failed');
    expect((await readdir(files.dir)).filter((n) => n.endsWith('.part'))).toEqual([]);
    const rows = parse(Buffer.from(await (await call(`/api/v1/exports/${id}/download`)).arrayBuffer()), { bom: true });
    expect(rows).toHaveLength(5);
  });

  it('the legacy route’s link works; once expired the file is deleted and the download answers 410', async () => {
    const r = await call('/api/export.php?type=payments&format=excel', {
      method: 'POST',
      body: { filters: { status: 'succeeded' } },
    });
    const created = (await r.json()) as { id: string; download_url: string };
    await settled(created.id);
    const status = (await (await call(`/api/export.php?action=status&id=${created.id}`)).json()) as Record<string, unknown>;
    expect(status).toMatchObject({ success: true, status: 'completed', rows: 3, download_url: created.download_url });
    const file = await call(created.download_url);
    expect(file.status).toBe(200);
    expect(
      Buffer.from(await file.arrayBuffer())
        .subarray(0, 2)
        .toString(),
    ).toBe('PK');
    const before = await readdir(files.dir);
    expect(before).toContain(`${created.id}.xlsx`);
    clock += 3_601_000;
    await handler.sweep();
    await api.caughtUp();
    expect(await readdir(files.dir)).not.toContain(`${created.id}.xlsx`);
    const gone = await call(created.download_url);
    expect(gone.status).toBe(410);
    expect(((await gone.json()) as { code: string }).code).toBe('GW_ERR_GONE');
    const job = (await (await call(`/api/v1/exports/${created.id}`)).json()) as Record<string, unknown>;
    expect(job.status).toBe('expired');
  });
});
