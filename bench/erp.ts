/**
 * ERP sync (issue 17): a full pull of N objects (default 100,000) from the fake 1C OData server
 * into record.upserted events, and a push of N CRM records into it (create + gateway key), both
 * through the real sync engine (handlers/erp/sync.ts) with its links, cursors and the embedded
 * event log on the machine's Postgres. Figures: objects/s each way, the share of the wall time
 * with an ERP call in flight ("waiting on the fake"), peak RSS. Target: ≥ 2,000 objects/s each
 * way, RSS < 400 MiB. The fake runs in this process: its own CPU is part of both figures.
 */
import { randomUUID } from 'node:crypto';
import { embeddedEventLog } from '../core/eventlog/embedded.js';
import { silentLogger } from '../core/logger.js';
import { migrate } from '../core/stores/migrate.js';
import { openPostgres } from '../core/stores/postgres.js';
import { oneCErp } from '../handlers/erp/onec.js';
import type { ErpPort } from '../handlers/erp/port.js';
import { erpSync } from '../handlers/erp/sync.js';
import { ONEC_MAPPING } from '../schemas/erp/mapping.js';
import { startFakeOneC } from '../test/fakes/onec.js';
import { type BenchFigure, type BenchResult, exitCodeOf, judge } from './results.js';
import { createScratchDatabase, fmtInt, table } from './support.js';

const opt = (args: string[], name: string, def: number) => {
  const a = args.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.slice(name.length + 3)) : def;
};

/** Wraps every port call: the time at least one call was in flight. */
const waitMeter = (port: ErpPort) => {
  let inFlight = 0;
  let since = 0;
  let waitedMs = 0;
  const wrap =
    <A extends unknown[], R>(fn: (...a: A) => Promise<R>) =>
    async (...a: A): Promise<R> => {
      if (inFlight++ === 0) since = performance.now();
      try {
        return await fn(...a);
      } finally {
        if (--inFlight === 0) waitedMs += performance.now() - since;
      }
    };
  const metered: ErpPort = {
    kind: port.kind,
    list: wrap(port.list.bind(port)),
    getMany: wrap(port.getMany.bind(port)),
    findByAttribute: wrap(port.findByAttribute.bind(port)),
    create: wrap(port.create.bind(port)),
    update: wrap(port.update.bind(port)),
    post: wrap(port.post.bind(port)),
    health: wrap(port.health.bind(port)),
  };
  return {
    port: metered,
    reset: () => {
      waitedMs = 0;
    },
    waitedMs: () => waitedMs,
  };
};

const rssPeak = () => {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  return {
    stop: () => {
      clearInterval(t);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
};

export const runErpBench = async (args: string[]): Promise<number> => {
  const count = opt(args, 'count', 100_000);
  const pageSize = opt(args, 'page', 1_000);
  const concurrency = opt(args, 'concurrency', 32);
  const startedAt = new Date();
  const db = await createScratchDatabase('fg_bench_erp');
  const store = await openPostgres({ databaseUrl: db.url, pgliteDir: '', poolMax: 8 });
  const fake = await startFakeOneC({
    user: 'Администратор',
    password: 'bench',
    sets: Object.values(ONEC_MAPPING).map((m) => m.set),
  });
  const log = embeddedEventLog(store.sql, { pollMs: 50 });
  const figures: BenchFigure[] = [];
  const rows: (string | number)[][] = [];
  let correct = true;
  const notes: string[] = [];
  try {
    await migrate({ postgres: store, gpsRetentionDays: 90 });
    const meter = waitMeter(oneCErp({ baseUrl: fake.url, user: 'Администратор', password: 'bench', timeoutMs: 30_000 }));
    const engine = erpSync({
      port: meter.port,
      sql: store.sql,
      log,
      logger: silentLogger(),
      mapping: ONEC_MAPPING,
      timeZone: 'Europe/Moscow',
      pageSize,
      concurrency,
    });

    const phase = async (name: 'pull' | 'push', run: () => Promise<{ total: number; failed: number }>, expected: number) => {
      global.gc?.();
      meter.reset();
      const busy0 = fake.busyMs;
      const rss = rssPeak();
      const t0 = performance.now();
      const r = await run();
      const seconds = (performance.now() - t0) / 1000;
      const peak = rss.stop() / 2 ** 20;
      const perS = r.total / seconds;
      const waitShare = (100 * meter.waitedMs()) / (seconds * 1000);
      const fakeShare = (100 * (fake.busyMs - busy0)) / (seconds * 1000);
      if (r.total !== expected || r.failed !== 0) {
        correct = false;
        notes.push(`${name}: ${r.total} objects synced (${r.failed} failed), expected ${expected}`);
      }
      const f: BenchFigure[] = [
        {
          key: `erp.${name}.objects_per_s`,
          label: `${name}: objects/s`,
          value: perS,
          unit: 'ops/s',
          target: { kind: 'bound', atLeast: 2_000, text: '≥ 2,000 objects/s' },
        },
        { key: `erp.${name}.wait_share`, label: `${name}: wall time with a 1C call in flight`, value: waitShare, unit: '%' },
        { key: `erp.${name}.fake_busy_share`, label: `${name}: fake's own handler time / wall`, value: fakeShare, unit: '%' },
        {
          key: `erp.${name}.rss_peak`,
          label: `${name}: peak RSS (gateway side and fake)`,
          value: peak,
          unit: 'MiB',
          target: { kind: 'bound', atMost: 400, text: '< 400 MiB' },
        },
      ];
      for (const x of f) {
        const met = judge(x);
        if (met !== undefined) x.met = met;
      }
      figures.push(...f);
      rows.push([
        name,
        fmtInt(r.total),
        seconds.toFixed(1),
        fmtInt(perS),
        waitShare.toFixed(0),
        fakeShare.toFixed(0),
        fmtInt(peak),
      ]);
    };

    // Pull: N drivers made in 1C, none known to the gateway: every page fetched whole and appended.
    fake.seed(
      ONEC_MAPPING.drivers.set,
      Array.from({ length: count }, (_, i) => ({ Description: `Водитель ${i}`, Комментарий: '' })),
    );
    await phase(
      'pull',
      () => engine.run({ runId: randomUUID(), entity: 'drivers', direction: 'pull', trigger: 'request' }),
      count,
    );

    // Push: N companies in the CRM's read model, none in 1C yet: each one created with its gateway key.
    await store.sql`INSERT INTO companies (id, version, name, fields, source, occurred_at, changed_at, last_seq)
      SELECT 'c' || g, 1, 'Компания ' || g, jsonb_build_object('name', 'ООО Компания ' || g, 'inn', (7700000000 + g)::text),
             'crm', now(), now(), 0
      FROM generate_series(1, ${count}) AS g`;
    await phase(
      'push',
      () => engine.run({ runId: randomUUID(), entity: 'companies', direction: 'push', trigger: 'request' }),
      count,
    );
    const made = fake.sets.get(ONEC_MAPPING.companies.set)?.size ?? 0;
    if (made !== count) {
      correct = false;
      notes.push(`push: 1C holds ${made} companies, expected ${count} (a duplicate or a loss)`);
    }
  } finally {
    await log.close();
    await fake.close();
    await store.close();
    await db.drop();
  }
  console.log(`\nERP sync, ${fmtInt(count)} objects each way, pages of ${pageSize}, ${concurrency} calls in flight (push)\n`);
  console.log(table(['phase', '>objects', '>s', '>objects/s', '>% waiting on 1C', '>% fake busy', '>peak RSS MiB'], rows));
  for (const n of notes) console.log(`! ${n}`);
  const result: BenchResult = {
    bench: 'erp',
    seed: 0,
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    options: { count, page: pageSize, concurrency },
    figures,
    series: [],
    notes: [
      'The fake 1C runs in the bench process: its CPU counts against both directions (one event loop).',
      'Pull appends record.upserted in batches to the embedded log on Postgres; no projection runs during the bench.',
      ...notes,
    ],
    correct,
  };
  console.log(
    `\ntargets: ${figures
      .filter((f) => f.met !== undefined)
      .map((f) => `${f.label} ${f.met ? 'met' : 'MISSED'}`)
      .join('; ')}`,
  );
  return exitCodeOf(result);
};
