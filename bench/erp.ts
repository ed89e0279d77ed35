/**
 * ERP sync (issue 17): a full pull of N objects (default 100,000) from the fake 1C OData server
 * into record.upserted events, and a push of N CRM records into it (create + gateway key), both
 * through the real sync engine (handlers/erp/sync.ts) with its links, cursors and the embedded
 * event log on the machine's Postgres. Figures: objects/s each way, the share of the wall time
 * with an ERP call in flight ("waiting on the fake"), peak RSS. Target: ≥ 2,000 objects/s each
 * way, RSS < 400 MiB. The fake runs in a child process (bench/erpFakeProcess.ts): the RSS figures
 * are the gateway side's own, the fake's reported beside them. The push runs once per in-flight
 * count asked for (`--concurrency=32,64,128`), each from an empty 1C, and the best is the figure.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { embeddedEventLog } from '../core/eventlog/embedded.js';
import { silentLogger } from '../core/logger.js';
import { migrate } from '../core/stores/migrate.js';
import { openPostgres } from '../core/stores/postgres.js';
import { oneCErp } from '../handlers/erp/onec.js';
import type { ErpPort } from '../handlers/erp/port.js';
import { erpSync } from '../handlers/erp/sync.js';
import { ONEC_MAPPING } from '../schemas/erp/mapping.js';
import type { FakeAnswer, FakeCommand } from './erpFakeProcess.js';
import { type BenchFigure, type BenchResult, judge } from './results.js';
import { createScratchDatabase, fmtInt, table } from './support.js';

const raw = (args: string[], name: string) => args.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3);
const opt = (args: string[], name: string, def: number) => {
  const a = raw(args, name);
  return a ? Number(a) : def;
};

type Ask = { type: 'seed'; set: string; count: number; description: string } | { type: 'clear'; set: string } | { type: 'close' };

/** The fake 1C in its own process, driven over IPC. */
const startFakeProcess = async (user: string, password: string, sets: string[]) => {
  const child: ChildProcess = fork(new URL('./erpFakeProcess.js', import.meta.url), [user, password, ...sets], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let next = 0;
  const waiting = new Map<number, (a: FakeAnswer) => void>();
  const ready = new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the fake 1C process exited (${code})`)));
    child.on('message', (a: FakeAnswer) => {
      if (a.type === 'ready') return resolve(a.url);
      waiting.get(a.id)?.(a);
      waiting.delete(a.id);
    });
  });
  const ask = <A extends FakeAnswer>(c: Ask | { type: 'stats'; set: string }) =>
    new Promise<A>((resolve) => {
      const id = next++;
      waiting.set(id, resolve as (a: FakeAnswer) => void);
      child.send({ ...c, id } as FakeCommand);
    });
  const url = await ready;
  return {
    url,
    ask: (c: Ask) => ask(c),
    stats: (set: string) => ask<Extract<FakeAnswer, { type: 'stats' }>>({ type: 'stats', set }),
    kill: () => child.kill(),
  };
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
    markDeleted: wrap(port.markDeleted.bind(port)),
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

export const runErpBench = async (args: string[]): Promise<BenchResult> => {
  const count = opt(args, 'count', 100_000);
  const pageSize = opt(args, 'page', 1_000);
  const pushConcurrency = (raw(args, 'concurrency') ?? '32,64,128').split(',').map(Number);
  const startedAt = new Date();
  const db = await createScratchDatabase('fg_bench_erp');
  const store = await openPostgres({ databaseUrl: db.url, pgliteDir: '', poolMax: 8 });
  const fake = await startFakeProcess(
    'Администратор',
    'bench',
    Object.values(ONEC_MAPPING).map((m) => m.set),
  );
  const log = embeddedEventLog(store.sql, { pollMs: 50 });
  const figures: BenchFigure[] = [];
  const rows: (string | number)[][] = [];
  let correct = true;
  const notes: string[] = [];
  try {
    await migrate({ postgres: store, gpsRetentionDays: 90 });
    const meter = waitMeter(oneCErp({ baseUrl: fake.url, user: 'Администратор', password: 'bench', timeoutMs: 30_000 }));
    const engineWith = (concurrency: number) =>
      erpSync({
        port: meter.port,
        sql: store.sql,
        log,
        logger: silentLogger(),
        mapping: ONEC_MAPPING,
        timeZone: 'Europe/Moscow',
        pageSize,
        concurrency,
      });

    interface Phase {
      name: string;
      perS: number;
      figures: BenchFigure[];
      row: (string | number)[];
    }
    const phase = async (
      name: string,
      set: string,
      run: () => Promise<{ total: number; failed: number }>,
      expected: number,
    ): Promise<Phase> => {
      global.gc?.();
      meter.reset();
      const before = await fake.stats(set);
      const rss = rssPeak();
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await run();
      const seconds = (performance.now() - t0) / 1000;
      const peak = rss.stop() / 2 ** 20;
      const cpu = process.cpuUsage(cpu0);
      const after = await fake.stats(set);
      // CPU per object is what a loaded machine does not change much; objects/s falls with the load.
      const gwCpuPerK = ((cpu.user + cpu.system) / 1000 / Math.max(1, r.total)) * 1000;
      const fakeCpuPerK = ((after.cpuMs - before.cpuMs) / Math.max(1, r.total)) * 1000;
      const fakePeak = after.rssPeak / 2 ** 20;
      const perS = r.total / seconds;
      const waitShare = (100 * meter.waitedMs()) / (seconds * 1000);
      const fakeShare = (100 * (after.busyMs - before.busyMs)) / (seconds * 1000);
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
          label: `${name}: peak RSS of the gateway side (bench process, fake apart)`,
          value: peak,
          unit: 'MiB',
          target: { kind: 'bound', atMost: 400, text: '< 400 MiB' },
        },
        { key: `erp.${name}.fake_rss_peak`, label: `${name}: peak RSS of the fake 1C process`, value: fakePeak, unit: 'MiB' },
        {
          key: `erp.${name}.gateway_cpu_ms_per_1000`,
          label: `${name}: gateway-side CPU per 1,000 objects`,
          value: gwCpuPerK,
          unit: 'ms',
        },
        {
          key: `erp.${name}.fake_cpu_ms_per_1000`,
          label: `${name}: fake 1C CPU per 1,000 objects`,
          value: fakeCpuPerK,
          unit: 'ms',
        },
      ];
      for (const x of f) {
        const met = judge(x);
        if (met !== undefined) x.met = met;
      }
      const row = [
        name,
        fmtInt(r.total),
        seconds.toFixed(1),
        fmtInt(perS),
        waitShare.toFixed(0),
        fakeShare.toFixed(0),
        fmtInt(peak),
        fmtInt(fakePeak),
        fmtInt(gwCpuPerK),
        fmtInt(fakeCpuPerK),
      ];
      rows.push(row);
      return { name, perS, figures: f, row };
    };

    // Pull: N drivers made in 1C, none known to the gateway: every page fetched whole and appended.
    await fake.ask({ type: 'seed', set: ONEC_MAPPING.drivers.set, count, description: 'Водитель' });
    figures.push(
      ...(
        await phase(
          'pull',
          ONEC_MAPPING.drivers.set,
          () => engineWith(8).run({ runId: randomUUID(), entity: 'drivers', direction: 'pull', trigger: 'request' }),
          count,
        )
      ).figures,
    );

    // Push: N companies in the CRM's read model, none in 1C yet: each one created with its gateway key.
    // Once per in-flight count, each from an empty 1C and no links; the best is the push figure.
    const companies = ONEC_MAPPING.companies.set;
    const pushes: Phase[] = [];
    for (const c of pushConcurrency) {
      await fake.ask({ type: 'clear', set: companies });
      await store.sql`DELETE FROM erp_links WHERE entity = 'companies'`;
      await store.sql`DELETE FROM companies`;
      await store.sql`INSERT INTO companies (id, version, name, fields, source, occurred_at, changed_at, last_seq)
        SELECT 'c' || g, 1, 'Компания ' || g, jsonb_build_object('name', 'ООО Компания ' || g, 'inn', (7700000000 + g)::text),
               'crm', now(), now(), 0
        FROM generate_series(1, ${count}) AS g`;
      const p = await phase(
        `push×${c}`,
        companies,
        () => engineWith(c).run({ runId: randomUUID(), entity: 'companies', direction: 'push', trigger: 'request' }),
        count,
      );
      pushes.push(p);
      const made = (await fake.stats(companies)).size;
      if (made !== count) {
        correct = false;
        notes.push(`push×${c}: 1C holds ${made} companies, expected ${count} (a duplicate or a loss)`);
      }
    }
    const best = pushes.reduce((a, b) => (b.perS > a.perS ? b : a));
    figures.push(
      ...best.figures.map((f) => ({
        ...f,
        key: f.key.replace(/^erp\.push×\d+\./, 'erp.push.'),
        label: f.label.replace(/^push×(\d+)/, 'push (best, $1 in flight)'),
      })),
    );
    notes.push(`push runs: ${pushes.map((p) => `${p.name} ${fmtInt(p.perS)}/s`).join(', ')}; best ${best.name}`);
  } finally {
    await log.close();
    await fake.ask({ type: 'close' }).catch(() => undefined);
    fake.kill();
    await store.close();
    await db.drop();
  }
  console.log(
    `\nERP sync, ${fmtInt(count)} objects each way, pages of ${pageSize}; push at ${pushConcurrency.join(', ')} calls in flight\n`,
  );
  console.log(
    table(
      [
        'phase',
        '>objects',
        '>s',
        '>objects/s',
        '>% waiting on 1C',
        '>% fake busy',
        '>gateway RSS MiB',
        '>fake RSS MiB',
        '>gateway CPU ms/1k',
        '>fake CPU ms/1k',
      ],
      rows,
    ),
  );
  // objects/s depend on what else runs on the machine's cores; CPU per object much less.
  notes.push(`1-minute load average at the end: ${loadavg()[0]?.toFixed(1)}`);
  for (const n of notes) console.log(`! ${n}`);
  const result: BenchResult = {
    bench: 'erp',
    seed: 0,
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    options: { count, page: pageSize, concurrency: pushConcurrency.join(',') },
    figures,
    series: [],
    notes: [
      'The fake 1C runs in a child process: gateway RSS is the bench process alone; both share the 2 cores.',
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
  return result;
};
