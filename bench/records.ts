/**
 * `npm run bench -- records`: batched upserts of CRM applications through the API into the read
 * model (`POST /api/v1/records/applications/batch`, 1,000 a request, answered once the read model
 * holds them), against a plain batched `INSERT … ON CONFLICT` of the same rows into the same kind
 * of store and table, in the same run: embedded (PGlite) and JetStream + Postgres.
 */
import { join } from 'node:path';
import { migrate } from '../core/stores/migrate.js';
import { openPostgres, type Sql } from '../core/stores/postgres.js';
import { ADMIN_KEY, startGateway, stop } from './api.js';
import { benchSeed, figure, type Sample, series, sumRateSeries } from './report/figures.js';
import type { BenchFigure, BenchResult, BenchSeries } from './results.js';
import { createScratchDatabase, fmtInt, pool, startNatsServer, table, tempDir } from './support.js';

const STATUSES = ['new', 'assigned', 'in_progress', 'completed', 'cancelled'] as const;

const application = (i: number, version: number) => ({
  id: `a${i}`,
  version,
  kind: i % 4 === 0 ? 'delivery' : 'ride',
  status: STATUSES[i % 5],
  price: { amount: 10_000 + i, currency: 'RUB' },
  companyId: `c${i % 7}`,
  driverId: `d${i % 500}`,
  vehicleId: `v${i % 400}`,
  pickup: { address: `Москва, ул. Ленина, д. ${i}, подъезд 2`, lat: 55.7, lon: 37.6 },
  dropoff: { address: `Москва, Тверская, ${i % 90}` },
  createdAt: new Date(Date.UTC(2026, 9, 1) + i * 60_000).toISOString(),
  attributes: { client_name: 'Иван Петров' },
});
type App = ReturnType<typeof application>;

/** The same row the fold writes, as a plain client would insert it. */
const plainRow = (a: App, seq: number) => {
  const { id, version, attributes, ...fields } = a;
  return {
    id,
    version,
    deleted: false,
    status: a.status,
    company_id: a.companyId,
    driver_id: a.driverId,
    vehicle_id: a.vehicleId,
    name: null,
    phone: null,
    search: `${a.pickup.address} ${a.dropoff.address}`.toLowerCase(),
    fields: fields as unknown as Record<string, never>,
    attributes: attributes as unknown as Record<string, never>,
    source: 'crm',
    occurred_at: new Date(a.createdAt),
    changed_at: new Date(),
    last_seq: seq,
    history: [seq],
  };
};

/** Rows done at each batch's completion (ms since the phase started): rows/s over time. */
const plainInsert = async (sql: Sql, table: string, batches: App[][], concurrency: number, done: Sample[] = []) => {
  const t0 = performance.now();
  await pool(batches.length, concurrency, async (b) => {
    const rows = (batches[b] as App[]).map((a) => plainRow(a, b + 1));
    await sql`
      INSERT INTO ${sql(table)} ${sql(rows)}
      ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status,
        company_id = excluded.company_id, driver_id = excluded.driver_id, vehicle_id = excluded.vehicle_id,
        search = excluded.search, fields = excluded.fields, attributes = excluded.attributes,
        occurred_at = excluded.occurred_at, changed_at = excluded.changed_at, last_seq = excluded.last_seq,
        history = ${sql(table)}.history || excluded.history
      WHERE ${sql(table)}.version < excluded.version`;
    done.push([performance.now() - t0, rows.length]);
  });
  return performance.now() - t0;
};

const apiUpserts = async (url: string, batches: App[][], concurrency: number, done: Sample[] = []) => {
  const t0 = performance.now();
  let failed = 0;
  await pool(batches.length, concurrency, async (b) => {
    const res = await fetch(`${url}/api/v1/records/applications/batch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ records: batches[b] }),
    });
    const body = (await res.json()) as { projected?: boolean; applied?: number };
    if (res.status !== 200 || !body.projected || body.applied !== (batches[b] as App[]).length) failed++;
    else done.push([performance.now() - t0, (batches[b] as App[]).length]);
  });
  return { ms: performance.now() - t0, failed };
};

const arg = (args: string[], name: string, dflt: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? dflt;

export const runRecordsBench = async (args: string[]): Promise<BenchResult> => {
  const startedAt = new Date();
  const rows = Number(arg(args, 'rows', '20000'));
  const batchSize = Number(arg(args, 'batch', '1000'));
  const concurrency = Number(arg(args, 'concurrency', '4'));
  const only = arg(args, 'only', 'embedded,jetstream').split(',');
  const batchesOf = (version: number) =>
    Array.from({ length: Math.ceil(rows / batchSize) }, (_, b) =>
      Array.from({ length: Math.min(batchSize, rows - b * batchSize) }, (_, i) => application(b * batchSize + i, version)),
    );
  const out: (string | number)[][] = [];
  const figures: BenchFigure[] = [];
  const charts: BenchSeries[] = [];
  let failedBatches = 0;

  const measure = async (
    mode: string,
    modeKey: string,
    gatewayEnv: Record<string, string>,
    plain: { sql: Sql; table: string },
  ) => {
    const gw = await startGateway(gatewayEnv, 'api,projections');
    try {
      // Warm-up: JIT, pools, the projection's first batches (ids apart from the measured ones).
      const warm = Array.from({ length: 1_000 }, (_, i) => ({ ...application(i, 1), id: `w${i}` }));
      await apiUpserts(gw.url, [warm, warm.map((a) => ({ ...a, version: 2 }))], 1);
      await plainInsert(plain.sql, plain.table, [warm.map((a) => ({ ...a, id: `w${a.id}` }))], 1);
      for (const [phase, version] of [
        ['insert', 1],
        ['update', 2],
      ] as const) {
        const batches = batchesOf(version);
        const apiDone: Sample[] = [];
        const baseDone: Sample[] = [];
        const api = await apiUpserts(gw.url, batches, concurrency, apiDone);
        const base = await plainInsert(plain.sql, plain.table, batches, concurrency, baseDone);
        const apiRate = (rows / api.ms) * 1000;
        const baseRate = (rows / base) * 1000;
        const ratio = apiRate / baseRate;
        failedBatches += api.failed;
        const key = `records.${modeKey}.${phase}`;
        const f = figure({
          key: `${key}.rows_per_s`,
          label: `${mode}, ${phase}: API rows/s`,
          value: apiRate,
          unit: 'rows/s',
          ceiling: { label: 'plain INSERT … ON CONFLICT', value: baseRate },
          target: { kind: 'ratio', atLeast: 0.5, text: '≥ 50% of the plain INSERT (issue 14)' },
          ...(api.failed > 0 && { note: `${api.failed} batches failed` }),
        });
        figures.push(f);
        charts.push(
          series({
            key: `${key}.rows`,
            label: `${mode}, ${phase}: rows/s through the API`,
            unit: 'rows/s',
            points: sumRateSeries(apiDone, 0),
            ceiling: { label: 'plain INSERT', points: sumRateSeries(baseDone, 0) },
          }),
        );
        out.push([
          `${mode}, ${phase}`,
          fmtInt(apiRate),
          fmtInt(baseRate),
          `${(ratio * 100).toFixed(0)}%`,
          api.failed,
          f.met && api.failed === 0 ? 'PASS' : 'MISS',
        ]);
        console.error(
          `  ${mode} ${phase}: API ${fmtInt(apiRate)} rows/s, plain ${fmtInt(baseRate)} rows/s (${(ratio * 100).toFixed(0)}%)`,
        );
      }
    } finally {
      await stop(gw.child);
    }
  };

  if (only.includes('embedded')) {
    const [dir, plainDir] = await Promise.all([tempDir('fg-bench-records-'), tempDir('fg-bench-records-plain-')]);
    // The baseline: a PGlite of its own in this process, migrated, the same table and indexes.
    const plain = await openPostgres({ pgliteDir: join(plainDir.dir, 'pg'), poolMax: 4 });
    try {
      await migrate({ postgres: plain, gpsRetentionDays: 90 });
      await measure('embedded (PGlite)', 'embedded', { DATA_DIR: dir.dir }, { sql: plain.sql, table: 'applications' });
    } finally {
      await plain.close();
      await dir.remove();
      await plainDir.remove();
    }
  }
  if (only.includes('jetstream')) {
    const [nats, db, dir] = await Promise.all([
      startNatsServer(),
      createScratchDatabase('fg_bench_records'),
      tempDir('fg-bench-records-'),
    ]);
    const pg = await openPostgres({ databaseUrl: db.url, pgliteDir: '', poolMax: concurrency });
    try {
      await migrate({ postgres: pg, gpsRetentionDays: 90 });
      // The baseline writes a copy of the table (same columns and indexes) in the same database.
      await pg.sql`CREATE TABLE applications_plain (LIKE applications INCLUDING ALL)`;
      await measure(
        'JetStream + Postgres',
        'jetstream',
        { DATA_DIR: dir.dir, NATS_URL: nats.url, DATABASE_URL: db.url },
        { sql: pg.sql, table: 'applications_plain' },
      );
    } finally {
      await pg.close();
      await nats.stop();
      await db.drop();
      await dir.remove();
    }
  }
  console.log(
    `\n${fmtInt(rows)} applications, ${batchSize} a request/statement, ${concurrency} in flight; API = until the read model holds them\n`,
  );
  console.log(table(['phase', '>API rows/s', '>plain INSERT rows/s', '>API/plain', '>failed', 'target >= 50%'], out));
  return {
    bench: 'records',
    seed: benchSeed(),
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    options: { rows, batch: batchSize, concurrency, only: only.join(',') },
    figures,
    series: charts,
    notes: [
      `${fmtInt(rows)} applications, ${batchSize} a request/statement, ${concurrency} in flight; API = POST /api/v1/records/applications/batch answered once the read model holds them; the plain INSERT writes the same rows into the same kind of store and table in the same run.`,
    ],
    correct: failedBatches === 0,
  };
};
