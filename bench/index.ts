/**
 * Benchmarks.
 *
 *   npm run bench                      every scenario in order, each in a process of its own; writes
 *                                      bench/results/<date>.json and <date>.md with SVG charts in <date>/
 *   npm run bench -- --quick           every scenario at small sizes; exits non-zero when a judged ratio
 *                                      to a same-run ceiling falls below half its target
 *   npm run bench -- <name> [options]  one scenario; writes bench/results/<date>-<name>.json
 *   npm run bench -- --list            the scenarios and their options
 *
 * Each bench is loaded only when asked for.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { machineFacts } from './report/machine.js';
import { writeReport } from './report/markdown.js';
import type { BenchRun } from './report/run.js';
import { type ChildReport, type PlannedScenario, runScenarios, writeSingleRun } from './report/runner.js';
import type { BenchResult } from './results.js';

interface Bench {
  description: string;
  /** A BenchResult, or (a bench not converted yet) only its exit code. */
  run(args: string[]): Promise<BenchResult | number>;
  /** Options for `--quick`: small sizes, one target where there are several. Without them --quick skips the bench. */
  quick?: string[];
  /** Usual seconds on this machine, full and quick: the ETA, and when a scenario counts as stuck. */
  expectS: { full: number; quick: number };
}

export const benches: Record<string, Bench> = {
  cluster: {
    description:
      "a 3-node JetStream cluster (R3) with one, then two gateway processes behind HAProxy: durable MQTT QoS 1 points/s and POST /api/v1/sms commands/s, then the time from the EVENTS leader's SIGKILL to a command accepted and a point acknowledged again. Options: --seconds=N (10), --devices=N (50), --points=N (10 per message), --http=N (32)",
    run: async (args) => (await import('./cluster.js')).runClusterBench(args),
    // No --quick sizes: three nats-server nodes, HAProxy and two gateways take a minute to stand up.
    expectS: { full: 180, quick: 0 },
  },
  eventlog: {
    description:
      'appends/s (single and batched, acked) and consumed/s for each event-log adapter, against raw JetStream; event-loop delay; chdb insert/query stalls. Options: --scale=F, --only=jetstream,embedded-pglite,embedded-postgres,chdb',
    run: async (args) => (await import('./eventlog.js')).runEventLogBench(args),
    quick: ['--scale=0.1', '--only=jetstream,embedded-postgres'],
    expectS: { full: 420, quick: 20 },
  },
  api: {
    description:
      'POST /api/v1/sms req/s, p50/p99 and CPU µs per request (gateway, nats-server, Postgres) at 100 connections against a bare uWS endpoint, embedded and JetStream+Postgres; load from wrk (or autocannon) in its own process, its CPU reported. Options: --seconds=N, --only=embedded,jetstream, --roles=api (default api,projections), --connections=N, --rate=N (5000), --load=wrk|autocannon, --load-threads=N (wrk, 1), --compare-tools=0 (skip the other tool against bare uWS), --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./api.js')).runApiBench(args),
    quick: ['--seconds=2', '--only=embedded', '--compare-tools=0'],
    expectS: { full: 120, quick: 20 },
  },
  gps: {
    description:
      'MQTT GPS points/s (QoS 1 and 0), p50/p99 publish→PUBACK, p99 publish→visible in ClickHouse, CPU µs per point (gateway, nats-server, Postgres), RSS, from raw-socket load processes (their CPU reported), against Mosquitto :1883 and bare Aedes; RSS with idle devices. Options: --devices=N, --seconds=N, --rate=N, --idle=N, --window=N, --warmup=N, --load-procs=N (2), --seed=N, --only=mosquitto,aedes,embedded,jetstream,jetstream-split (default all but the JetStream ones), --roles=R (default ingest,api,projections), --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./gps.js')).runGpsBench(args),
    quick: ['--only=aedes,embedded', '--devices=200', '--seconds=2', '--warmup=1', '--idle=0', '--rate=2000'],
    expectS: { full: 420, quick: 25 },
  },
  ws: {
    description:
      'phones on /v1/ws/driver (default 5,000) from raw-socket load processes (their CPU reported): acks/s, p99 send→ack and CPU µs per location (gateway, nats-server, Postgres) against a bare uWS JSON ceiling, a fixed-rate phase with bursts, live-feed latency, server RSS. Options: --connections=N, --seconds=N, --rate=N, --load-procs=N (2), --seed=N, --targets=embedded,jetstream, --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./ws.js')).runWsBench(args),
    quick: ['--connections=200', '--seconds=2', '--rate=2000', '--targets=embedded'],
    expectS: { full: 180, quick: 15 },
  },
  notify: {
    description:
      'mixed notifications (SMS.ru, Twilio, e-mail, push, Telegram) through the queue to fakes in this process: p50/p99 request→provider call at a fixed rate, then N at once: sent/s, queue depth over time, duplicates/missing; embedded and JetStream+Postgres. Options: --count=N (10000), --rate=N (200), --seconds=N (10), --warmup=N (500 at 100/s), --http-concurrency=N (64), --handler-concurrency=N (256, the most HANDLER_CONCURRENCY allows), --users=N (300), --chats=N (2000), --kinds=smsru,twilio,email-template,email-plain,push,telegram (narrow the mix), --only=embedded,jetstream,jetstream-split (jetstream-split: handlers in a second process), --env=NAME=VALUE (gateway tuning, repeatable), --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./notify.js')).runNotifyBench(args),
    quick: ['--only=embedded', '--count=300', '--rate=100', '--seconds=2', '--warmup=200'],
    expectS: { full: 300, quick: 15 },
  },
  records: {
    description:
      'CRM records: POST /api/v1/records/applications/batch (answered once the read model holds them) rows/s against a plain batched INSERT … ON CONFLICT of the same rows, first insert and then update, embedded and JetStream+Postgres. Options: --rows=N (20000), --batch=N (1000), --concurrency=N (4), --only=embedded,jetstream',
    run: async (args) => (await import('./records.js')).runRecordsBench(args),
    quick: ['--rows=2000', '--batch=500', '--only=embedded'],
    expectS: { full: 180, quick: 12 },
  },
  payments: {
    description:
      'payments created (Prefer: wait) and completed by YooKassa webhooks against its fake, through the gateway process: p50/p99 request→link and webhook→GET succeeded, lost/doubled, gateway CPU per payment. Options: --count=N (5000), --rate=N (100), --idle=0 (skip the 7 s idle-cost window), --cpu-prof=DIR (gateway profile)',
    run: async (args) => (await import('./payments.js')).runPaymentsBench(args),
    quick: ['--count=100', '--rate=50', '--idle=0'],
    expectS: { full: 150, quick: 15 },
  },
  export: {
    description:
      "exports: 1,000,000 GPS rows (chdb) to CSV, NDJSON and XLSX and 100,000 applications to PDF: rows/s, peak RSS, ClickHouse's own CSVWithNames of the same query, GET /api/v1/exports p99 during each export. Options: --gps-rows=N, --pdf-rows=N",
    run: async (args) => (await import('./export.js')).runExportBench(args),
    quick: ['--gps-rows=50000', '--pdf-rows=1000'],
    expectS: { full: 240, quick: 12 },
  },
  'idle-memory': {
    description:
      "where the embedded gateway's RSS goes with idle MQTT devices (PGlite WASM, chdb, V8 heap, malloc), sampled ready / registered / connected / settled. Options: --devices=N (10000), --settle=S (30), --env=NAME=VALUE (gateway variables, repeatable)",
    run: async (args) => (await import('./idleMemory.js')).runIdleMemoryBench(args),
    // No --quick sizes: registering 10,000 devices alone takes minutes.
    expectS: { full: 400, quick: 0 },
  },
  telegram: {
    description:
      'Telegram bot: linked chats sending commands through /webhooks/telegram to the gateway process (bot against the Bot API fake): p50/p99 update → reply, missing/extra replies. Options: --chats=N (200), --rate=N (100), --seconds=N (30)',
    run: async (args) => (await import('./telegram.js')).runTelegramBench(args),
    quick: ['--chats=20', '--rate=50', '--seconds=3'],
    expectS: { full: 60, quick: 12 },
  },
  erp: {
    description:
      'ERP / 1C sync: a full pull of 100,000 objects from the fake 1C OData server (in a child process) and a push of 100,000 CRM records to it through the sync engine, once per push in-flight count: objects/s each way, share of time waiting on the fake, peak RSS of the gateway side and of the fake. Options: --count=N (100000), --page=N (1000), --concurrency=N[,N…] (32,64,128; the best is the figure)',
    run: async (args) => (await import('./erp.js')).runErpBench(args),
    quick: ['--count=5000', '--concurrency=32'],
    expectS: { full: 300, quick: 20 },
  },
};

/**
 * The order of a full run: the event log first (the other benches stand on it), then ingest and
 * the API, then the features, the export (the heaviest on memory) last. A name no bench answers
 * to yet (another issue's) is reported as missing and skipped.
 */
export const ORDER = ['eventlog', 'api', 'gps', 'ws', 'notify', 'records', 'payments', 'telegram', 'erp', 'export'];

/** Fixed unless BENCH_SEED says otherwise, so runs compare. */
const SEED = Number.isInteger(Number(process.env.BENCH_SEED)) && process.env.BENCH_SEED ? Number(process.env.BENCH_SEED) : 1;

const usage = () => {
  console.log(
    'usage: npm run bench                      every scenario, report in bench/results/<date>.md\n' +
      '       npm run bench -- --quick           every scenario at small sizes; fails when a ratio is below half its target\n' +
      '                                          (a known miss of bench/baseline-quick.json: when under half its baseline share)\n' +
      '       npm run bench -- --quick --update-baseline\n' +
      '                                          the same, and this run becomes the committed baseline\n' +
      '       npm run bench -- [--quick] [--only=a,b] [--set=name:--option=v ...]\n' +
      '                                          a run of some scenarios, or with options for one\n' +
      '       npm run bench -- <name> [options]  one scenario\n' +
      '       npm run bench -- --report=RUN.json --to=FILE.md [--note=TEXT ...]\n' +
      '                                          the report of a run again, elsewhere (charts in FILE/)\n' +
      '       npm run bench -- --list            this list\n\nbenches:',
  );
  for (const [name, b] of Object.entries(benches)) console.log(`  ${name.padEnd(10)} ${b.description}`);
};

const plan = (quick: boolean): { scenarios: PlannedScenario[]; skipped: string[] } => {
  const names = [...ORDER, ...Object.keys(benches).filter((n) => !ORDER.includes(n))];
  const skipped: string[] = [];
  const scenarios = names.flatMap((name): PlannedScenario[] => {
    const b = Object.hasOwn(benches, name) ? benches[name] : undefined;
    if (!b) return [{ name, args: [], expectS: 0, missing: true }];
    if (quick && !b.quick) {
      skipped.push(`${name} (no --quick sizes)`);
      return [];
    }
    return [{ name, args: quick ? (b.quick ?? []) : [], expectS: quick ? b.expectS.quick : b.expectS.full }];
  });
  return { scenarios, skipped };
};

/** One scenario in this process; in a run's child, its outcome goes to BENCH_RESULT_FILE for the parent. */
const runOne = async (name: string, bench: Bench, args: string[]): Promise<number> => {
  const startedAt = new Date();
  const resultFile = process.env.BENCH_RESULT_FILE;
  const machine = resultFile ? undefined : await machineFacts();
  let report: ChildReport;
  try {
    const r = await bench.run(args);
    report = typeof r === 'number' ? { exitCode: r } : { exitCode: r.correct ? 0 : 1, result: r };
  } catch (e) {
    console.error(e);
    report = { exitCode: 1, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  if (resultFile) await writeFile(resultFile, JSON.stringify(report));
  else if (machine) console.log(`\nwrote ${await writeSingleRun(name, args, report, startedAt, machine)}`);
  return report.exitCode;
};

const main = async (): Promise<number> => {
  const [name, ...args] = process.argv.slice(2);
  if (name === '--help' || name === '-h' || name === '--list') {
    usage();
    return 0;
  }
  if (name?.startsWith('--report=')) {
    // Re-renders a run's report elsewhere (docs/benchmarks.md: charts in docs/benchmarks/).
    const to = args.find((a) => a.startsWith('--to='))?.slice('--to='.length);
    if (!to) {
      console.error('--report=<run.json> needs --to=<file.md> (charts go beside it, in a folder of its name)');
      return 2;
    }
    const run = JSON.parse(await readFile(name.slice('--report='.length), 'utf8')) as BenchRun;
    const preface = args.filter((a) => a.startsWith('--note=')).map((a) => a.slice('--note='.length));
    await writeReport(run, to, to.replace(/\.md$/, ''), { chartsHref: basename(to).replace(/\.md$/, ''), preface });
    console.log(`wrote ${to} and its charts in ${to.replace(/\.md$/, '')}/`);
    return 0;
  }
  if (name === undefined || name.startsWith('--')) {
    const flags = process.argv.slice(2);
    const quick = flags.includes('--quick');
    const only = flags
      .find((f) => f.startsWith('--only='))
      ?.slice('--only='.length)
      .split(',');
    // `--set=<name>:<option>` (repeatable) gives one scenario an option, e.g. smaller sizes for a shorter run.
    const extra = new Map<string, string[]>();
    for (const f of flags.filter((x) => x.startsWith('--set='))) {
      const [bench = '', option = ''] = [f.slice(6, f.indexOf(':')), f.slice(f.indexOf(':') + 1)];
      if (f.indexOf(':') > 6 && option) extra.set(bench, [...(extra.get(bench) ?? []), option]);
    }
    const unknown = flags.filter(
      (f) =>
        f !== '--quick' &&
        !(f === '--update-baseline' && quick) &&
        !f.startsWith('--only=') &&
        !(f.startsWith('--set=') && f.includes(':')),
    );
    if (unknown.length) {
      console.error(`unknown option(s) ${unknown.join(' ')}\n`);
      usage();
      return 2;
    }
    const planned = plan(quick);
    // Given options come first: the benches take the first of a repeated option.
    const scenarios = (only ? planned.scenarios.filter((p) => only.includes(p.name)) : planned.scenarios).map((p) => ({
      ...p,
      args: [...(extra.get(p.name) ?? []), ...p.args],
    }));
    const skipped = only
      ? [...planned.skipped, ...planned.scenarios.filter((p) => !only.includes(p.name)).map((p) => `${p.name} (not in --only)`)]
      : planned.skipped;
    const preface = skipped.length ? [`Skipped: ${skipped.join(', ')}.`] : [];
    const { code } = await runScenarios(scenarios, {
      mode: quick ? 'quick' : 'full',
      seed: SEED,
      preface,
      updateBaseline: flags.includes('--update-baseline'),
    });
    return code;
  }
  const bench = Object.hasOwn(benches, name) ? benches[name] : undefined;
  if (!bench) {
    console.error(`unknown bench "${name}"\n`);
    usage();
    return 2;
  }
  return runOne(name, bench, args);
};

main().then(
  (code) => {
    process.exitCode = code;
    // Every connection, server and timer is closed by now; if something still holds the loop,
    // say what and leave anyway rather than hang.
    setTimeout(() => {
      const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
      console.error(
        `bench: ${handles.length} handle(s) still open after 10 s, exiting:`,
        handles.map((h) => (h as object)?.constructor?.name),
      );
      process.exit(code);
    }, 10_000).unref();
  },
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
