/**
 * `npm run bench -- eventlog [--scale=F] [--only=jetstream,embedded-pglite,embedded-postgres,chdb]`
 *
 * Appends/s (single and batched, acknowledged) and consumed/s for each event-log adapter on
 * ~200-byte events, against a raw @nats-io/jetstream baseline measured in the same run, plus
 * event-loop delay under each load and an in-process chdb insert/query phase. Prints a table,
 * checks the targets of the core issue, writes bench/results/eventlog-<timestamp>.json (every
 * row) and resolves to a BenchResult. The events are numbered, not random: the seed is recorded
 * only for the run's shape.
 */
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { type JetStreamClient, jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { embeddedEventLog } from '../core/eventlog/embedded.js';
import { instrumentedEventLog } from '../core/eventlog/instrumented.js';
import { jetStreamEventLog } from '../core/eventlog/jetstream.js';
import { newEvent } from '../core/eventlog/newEvent.js';
import type { EventEnvelope, EventLog } from '../core/eventlog/port.js';
import { silentLogger } from '../core/logger.js';
import { clickhouseMigrationsDir, packageRoot } from '../core/paths.js';
import { type Projection, projectionRunner, readsAll } from '../core/runners/projectionRunner.js';
import { openClickHouse } from '../core/stores/clickhouse.js';
import { migrate, splitStatements } from '../core/stores/migrate.js';
import { openPostgres, type PostgresStore, type Sql } from '../core/stores/postgres.js';
import { benchSeed, figure } from './report/figures.js';
import type { BenchFigure, BenchResult } from './results.js';
import {
  createScratchDatabase,
  fmtInt,
  fmtMs,
  LOOP_RESOLUTION_MS,
  type LoopDelay,
  pool,
  startNatsServer,
  table,
  tempDir,
  timed,
} from './support.js';

type AdapterName = 'jetstream' | 'embedded-pglite' | 'embedded-postgres';
type Section = AdapterName | 'chdb';
const SECTIONS: readonly Section[] = ['jetstream', 'embedded-pglite', 'embedded-postgres', 'chdb'];

interface Row {
  adapter: Section;
  phase: string;
  concurrency?: number;
  eventsPerMessage?: number;
  messages: number;
  events: number;
  seconds: number;
  messagesPerSec: number;
  eventsPerSec: number;
  /** Single appends through the adapter ÷ raw publishing at the same concurrency. */
  ratioToRaw?: number;
  /** The same against raw publishing with `noAsyncTraces` (the adapter's client options). */
  ratioToRawNoTraces?: number;
  loop: LoopDelay;
  /** This process's CPU time over wall time (100 = one core busy). */
  cpuPercent: number;
  note?: string;
  /** Every repetition when the row is a median. */
  runs?: { seconds: number; eventsPerSec: number; loop: LoopDelay; cpuPercent: number }[];
}

interface Target {
  name: string;
  measured: number;
  target: number;
  unit: string;
  pass: boolean;
}

interface Sizes {
  /** Sequential single appends (and raw publishes) per repetition. */
  sequential: number;
  /** Single appends (and raw publishes) with SINGLE_CONCURRENCY in flight, per repetition. */
  concurrent: number;
  /** Repetitions of the single-append phases (raw and adapter alternate; the median is shown). */
  rounds: number;
  /** [events per message, messages] */
  batches: [number, number][];
  /** Messages a durable consumer fetches and acks. */
  durable: number;
}

const SINGLE_CONCURRENCY = 256;
const BATCH_CONCURRENCY = 4;
const CONSUMER_BATCH = 256;
const PHASE_TIMEOUT_MS = 180_000;
/** The runner's production defaults (schemas/config.ts). */
const PROJECTION_BATCH_SIZE = 5_000;
const PROJECTION_BATCH_DELAY_MS = 20;
const CHDB_ROWS = 200_000;
const CHDB_BATCH = 10_000;

const SIZES: Record<AdapterName, Sizes> = {
  jetstream: {
    sequential: 3_000,
    concurrent: 30_000,
    rounds: 3,
    batches: [
      [100, 2_500],
      [1_000, 250],
    ],
    durable: 50_000,
  },
  'embedded-pglite': {
    sequential: 2_000,
    concurrent: 10_000,
    rounds: 1,
    batches: [
      [100, 1_500],
      [1_000, 150],
    ],
    durable: 10_000,
  },
  'embedded-postgres': {
    sequential: 2_000,
    concurrent: 10_000,
    rounds: 1,
    batches: [
      [100, 2_000],
      [1_000, 200],
    ],
    durable: 10_000,
  },
};

const scaled = (s: Sizes, f: number): Sizes => {
  const n = (x: number) => Math.max(1, Math.round(x * f));
  return {
    sequential: n(s.sequential),
    concurrent: n(s.concurrent),
    rounds: s.rounds,
    batches: s.batches.map(([b, m]) => [b, n(m)] as [number, number]),
    durable: n(s.durable),
  };
};

// ---------------------------------------------------------------------------------------------
// Data

const SUBJECTS = 64;
const subjectOf = (kind: 'raw' | 's' | 'b', i: number) => `evt.bench.${kind}.${i % SUBJECTS}`;

/** A ~200-byte event (as JSON), vehicle-position-like. */
const makeEvent = (subject: string, i: number): EventEnvelope =>
  newEvent({
    type: 'fleet.vehicle_moved',
    subject,
    source: 'bench',
    data: {
      vehicleId: `veh-${String(i % 9973).padStart(4, '0')}`,
      lat: Math.round((52.3 + (i % 5000) / 1e4) * 1e4) / 1e4,
      lon: Math.round((13.2 + (i % 7000) / 1e4) * 1e4) / 1e4,
      kmh: i % 130,
    },
  });

const makeEvents = (kind: 'raw' | 's' | 'b', n: number, base = 0) =>
  Array.from({ length: n }, (_, i) => makeEvent(subjectOf(kind, base + i), base + i));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const withTimeout = <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
};

// ---------------------------------------------------------------------------------------------
// Adapters

interface Harness {
  name: AdapterName;
  log: EventLog;
  /** Where projections keep their read model and checkpoint. */
  sql: Sql;
  /**
   * JetStream only: separate raw clients on the same server, for the baseline: one with the
   * client's default options, one with `noAsyncTraces` (as the adapter connects).
   */
  raw?: { js: JetStreamClient; jsNoTraces: JetStreamClient };
  close(): Promise<void>;
}

/** Runs every cleanup in reverse order, even if some fail. */
const closer = () => {
  const steps: (() => Promise<unknown>)[] = [];
  return {
    add: (f: () => Promise<unknown>) => steps.push(f),
    run: async () => {
      for (const f of steps.reverse()) await f().catch((e) => console.error('cleanup failed:', e));
      steps.length = 0;
    },
  };
};

const migratedScratchPostgres = async (prefix: string, poolMax: number, c: ReturnType<typeof closer>): Promise<PostgresStore> => {
  const db = await createScratchDatabase(prefix);
  c.add(db.drop);
  const store = await openPostgres({ databaseUrl: db.url, pgliteDir: '', poolMax });
  c.add(store.close);
  await migrate({ postgres: store, gpsRetentionDays: 90 });
  return store;
};

const openHarness = async (name: AdapterName): Promise<Harness> => {
  const c = closer();
  try {
    if (name === 'jetstream') {
      const server = await startNatsServer();
      c.add(server.stop);
      const log = await jetStreamEventLog({
        servers: server.url,
        name: 'fleetgate-bench',
        replicas: 1,
        eventsMaxAgeMs: 0,
        gpsMaxAgeMs: 3_600_000,
        dlqMaxAgeMs: 0,
        // The production defaults (schemas/config.ts): the server tracks every id in the window.
        duplicateWindowMs: 20 * 60_000,
        gpsDuplicateWindowMs: 120_000,
      });
      c.add(log.close);
      const nc = await connect({ servers: server.url, name: 'fleetgate-bench-raw' });
      c.add(() => nc.drain());
      const nc2 = await connect({ servers: server.url, name: 'fleetgate-bench-raw-nt', noAsyncTraces: true });
      c.add(() => nc2.drain());
      // Projections keep their read models in Postgres in distributed mode.
      const store = await migratedScratchPostgres('fg_bench_js', 8, c);
      return {
        name,
        log: instrumentedEventLog(log),
        sql: store.sql,
        raw: { js: jetstream(nc), jsNoTraces: jetstream(nc2) },
        close: c.run,
      };
    }
    if (name === 'embedded-pglite') {
      const dir = await tempDir('fg-bench-pglite-');
      c.add(dir.remove);
      const store = await openPostgres({ pgliteDir: join(dir.dir, 'pg'), poolMax: 1 });
      c.add(store.close);
      await migrate({ postgres: store, gpsRetentionDays: 90 });
      const log = embeddedEventLog(store.sql);
      c.add(log.close);
      return { name, log: instrumentedEventLog(log), sql: store.sql, close: c.run };
    }
    const store = await migratedScratchPostgres('fg_bench_pg', 8, c);
    const log = embeddedEventLog(store.sql);
    c.add(log.close);
    return { name, log: instrumentedEventLog(log), sql: store.sql, close: c.run };
  } catch (e) {
    await c.run();
    throw e;
  }
};

// ---------------------------------------------------------------------------------------------
// Phases

const rate = (n: number, s: number) => (s > 0 ? n / s : 0);

type Run = { seconds: number; loop: LoopDelay; cpuPercent: number };

const singleAppendRow = (adapter: AdapterName, phase: string, concurrency: number, runs: Run[], n: number): Row => {
  const secs = median(runs.map((r) => r.seconds));
  const worst = runs.reduce((a, r) => (r.loop.p99 > a.p99 ? r.loop : a), runs[0]?.loop as LoopDelay);
  return {
    adapter,
    phase,
    concurrency,
    eventsPerMessage: 1,
    messages: n,
    events: n,
    seconds: secs,
    messagesPerSec: rate(n, secs),
    eventsPerSec: rate(n, secs),
    loop: worst,
    cpuPercent: median(runs.map((r) => r.cpuPercent)),
    ...(runs.length > 1 && {
      note: `median of ${runs.length}`,
      runs: runs.map((r) => ({ seconds: r.seconds, eventsPerSec: rate(n, r.seconds), loop: r.loop, cpuPercent: r.cpuPercent })),
    }),
  };
};

/**
 * Raw baselines (JetStream only) and single appends through the adapter, in rotating order
 * round by round, so that drift (a growing stream and dedupe window) hits each alike.
 */
const singleAppends = async (h: Harness, sizes: Sizes, rows: Row[]) => {
  type Variant = 'raw' | 'rawNoTraces' | 'adapter';
  const variants: Variant[] = h.raw ? ['raw', 'rawNoTraces', 'adapter'] : ['adapter'];
  for (const [concurrency, n] of [
    [1, sizes.sequential],
    [SINGLE_CONCURRENCY, sizes.concurrent],
  ] as const) {
    const runs: Record<Variant, Run[]> = { raw: [], rawNoTraces: [], adapter: [] };
    // Round -1 warms up (JIT, connections, server) and is not counted.
    for (let round = -1; round < sizes.rounds; round++) {
      const m = round < 0 ? Math.min(n, Math.max(concurrency * 4, 500)) : n;
      const record = (v: Variant, r: Run) => {
        if (round >= 0) runs[v].push(r);
      };
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(Math.max(0, round) + k) % variants.length] as Variant;
        if (v === 'adapter') {
          const events = makeEvents('s', m);
          record(
            v,
            await timed(
              () => pool(m, concurrency, (i) => h.log.append(subjectOf('s', i), events[i] as EventEnvelope)),
              `${h.name}-single-x${concurrency}-r${round}`,
            ),
          );
          continue;
        }
        const js = v === 'raw' ? h.raw?.js : h.raw?.jsNoTraces;
        if (!js) continue;
        const events = makeEvents('raw', m);
        const payloads = events.map((e) => JSON.stringify([e]));
        record(
          v,
          await timed(
            () =>
              pool(m, concurrency, (i) =>
                js.publish(subjectOf('raw', i), payloads[i], { msgID: (events[i] as EventEnvelope).id }),
              ),
            `${h.name}-${v}-x${concurrency}-r${round}`,
          ),
        );
      }
    }
    const raw = runs.raw.length ? singleAppendRow(h.name, 'raw js.publish (acked)', concurrency, runs.raw, n) : undefined;
    const rawNt = runs.rawNoTraces.length
      ? singleAppendRow(h.name, 'raw js.publish, noAsyncTraces', concurrency, runs.rawNoTraces, n)
      : undefined;
    const row = singleAppendRow(h.name, 'append single', concurrency, runs.adapter, n);
    if (raw) {
      row.ratioToRaw = row.eventsPerSec / raw.eventsPerSec;
      // The same ratio round by round (each round's runs are back to back).
      const perRound = runs.adapter.map((a, r) => (runs.raw[r] as Run).seconds / a.seconds);
      row.note = `${row.note ?? ''}; per round ${perRound.map((x) => `${(x * 100).toFixed(0)}%`).join(' ')}`;
      if (rawNt) {
        row.ratioToRawNoTraces = row.eventsPerSec / rawNt.eventsPerSec;
        row.note += `; ${(row.ratioToRawNoTraces * 100).toFixed(0)}% of raw noAsyncTraces`;
      }
      rows.push(raw);
      print(raw);
    }
    if (rawNt) {
      rows.push(rawNt);
      print(rawNt);
    }
    rows.push(row);
    print(row);
  }
};

const batchedAppends = async (h: Harness, sizes: Sizes, rows: Row[]) => {
  let base = 0;
  for (const [perMsg, messages] of sizes.batches) {
    const batches = Array.from({ length: messages }, (_, m) => makeEvents('b', perMsg, base + m * perMsg));
    base += messages * perMsg;
    const r = await timed(
      () => pool(messages, BATCH_CONCURRENCY, (i) => h.log.append(subjectOf('b', i), batches[i] as EventEnvelope[])),
      `${h.name}-batch-${perMsg}`,
    );
    const events = messages * perMsg;
    const row: Row = {
      adapter: h.name,
      phase: 'append batch',
      concurrency: BATCH_CONCURRENCY,
      eventsPerMessage: perMsg,
      messages,
      events,
      seconds: r.seconds,
      messagesPerSec: rate(messages, r.seconds),
      eventsPerSec: rate(events, r.seconds),
      loop: r.loop,
      cpuPercent: r.cpuPercent,
    };
    rows.push(row);
    print(row);
  }
};

/** A no-op projection over the batched data, from the start until the checkpoint reaches the end. */
const projectionConsumption = async (h: Harness, sizes: Sizes, runId: string, rows: Row[]) => {
  const expectedEvents = sizes.batches.reduce((a, [b, m]) => a + b * m, 0);
  const expectedMessages = sizes.batches.reduce((a, [, m]) => a + m, 0);
  const last = await h.log.lastSeq('EVENTS');
  let events = 0;
  let batches = 0;
  let reachedEndAt = 0;
  const projection: Projection = {
    kind: 'fold',
    reads: readsAll,
    name: `bench_noop_${h.name.replace(/-/g, '_')}_${runId}`,
    stream: 'EVENTS',
    filterSubject: 'evt.bench.b.>',
    apply: async (_tx, batch) => {
      events += batch.length;
      batches++;
      if ((batch[batch.length - 1]?.seq ?? 0) >= last) reachedEndAt = performance.now();
    },
    reset: async () => {},
  };
  const runner = projectionRunner({
    log: h.log,
    sql: h.sql,
    projection,
    batchSize: PROJECTION_BATCH_SIZE,
    batchDelayMs: PROJECTION_BATCH_DELAY_MS,
    logger: silentLogger(),
  });
  let t0 = 0;
  const r = await timed(async () => {
    t0 = performance.now();
    await runner.start();
    try {
      await runner.caughtUp(PHASE_TIMEOUT_MS);
    } finally {
      await runner.stop();
    }
  }, `${h.name}-projection`);
  const checkpoint = await runner.checkpoint();
  if (checkpoint !== last || events !== expectedEvents) {
    throw new Error(`projection ended at ${checkpoint}/${last} with ${events}/${expectedEvents} events`);
  }
  const row: Row = {
    adapter: h.name,
    phase: 'consume: no-op projection',
    eventsPerMessage: Math.round(expectedEvents / expectedMessages),
    messages: expectedMessages,
    events,
    seconds: r.seconds,
    messagesPerSec: rate(expectedMessages, r.seconds),
    eventsPerSec: rate(events, r.seconds),
    loop: r.loop,
    cpuPercent: r.cpuPercent,
    note: `${batches} transactions; last batch applied at ${((reachedEndAt - t0) / 1000).toFixed(2)} s, caughtUp at ${r.seconds.toFixed(2)} s`,
  };
  rows.push(row);
  print(row);
};

/** A durable consumer over the single-event messages: fetch 256, ack each. */
const durableConsumption = async (h: Harness, sizes: Sizes, runId: string, rows: Row[]) => {
  const singles = (sizes.sequential + sizes.concurrent) * sizes.rounds;
  const want = Math.min(singles, sizes.durable);
  const name = `bench_durable_${runId}`;
  const consumer = await h.log.consumer({
    stream: 'EVENTS',
    name,
    filterSubject: 'evt.bench.s.>',
    ackWaitMs: 60_000,
    maxDeliver: 5,
    deadLetterSubject: null,
  });
  let got = 0;
  let fetches = 0;
  const r = await timed(async () => {
    while (got < want) {
      const ds = await consumer.fetch({ max: Math.min(CONSUMER_BATCH, want - got), expiresMs: 2_000 });
      if (ds.length === 0) throw new Error(`durable consumer stalled at ${got}/${want}`);
      fetches++;
      await Promise.all(ds.map((d) => d.ack()));
      got += ds.length;
    }
  }, `${h.name}-durable`);
  await h.log.deleteConsumer('EVENTS', name);
  const row: Row = {
    adapter: h.name,
    phase: 'consume: durable fetch+ack',
    concurrency: CONSUMER_BATCH,
    eventsPerMessage: 1,
    messages: got,
    events: got,
    seconds: r.seconds,
    messagesPerSec: rate(got, r.seconds),
    eventsPerSec: rate(got, r.seconds),
    loop: r.loop,
    cpuPercent: r.cpuPercent,
    note: `${fetches} fetches`,
  };
  rows.push(row);
  print(row);
};

// ---------------------------------------------------------------------------------------------
// chdb

const gpsRows = (n: number, base: number) => {
  const t0 = Date.UTC(2025, 0, 1);
  return Array.from({ length: n }, (_, k) => {
    const i = base + k;
    const ts = new Date(t0 + i * 1_000).toISOString().replace('T', ' ').slice(0, 23);
    return {
      device_id: `dev-${String(i % 2_000).padStart(5, '0')}`,
      ts,
      lat: 52.3 + (i % 5_000) / 1e4,
      lon: 13.2 + (i % 7_000) / 1e4,
      speed: i % 130,
      heading: i % 360,
      altitude: 34.5,
      accuracy: 5,
      battery: 100 - (i % 100),
      satellites: 9,
      source: 'bench',
      received_at: ts,
      log_seq: i + 1,
      event_id: `e-${i}`,
    };
  });
};

const chdbPhase = async (rows: Row[]) => {
  const dir = await tempDir('fg-bench-chdb-');
  const c = closer();
  c.add(dir.remove);
  try {
    const opened = await timed(() => openClickHouse({ chdbDir: join(dir.dir, 'chdb') }));
    const ch = opened.value;
    c.add(ch.close);
    rows.push({
      adapter: 'chdb',
      phase: 'open session (synchronous)',
      messages: 0,
      events: 0,
      seconds: opened.seconds,
      messagesPerSec: 0,
      eventsPerSec: 0,
      loop: opened.loop,
      cpuPercent: opened.cpuPercent,
    });
    for (const f of (await readdir(clickhouseMigrationsDir)).filter((f) => f.endsWith('.sql')).sort()) {
      const text = (await readFile(join(clickhouseMigrationsDir, f), 'utf8')).replaceAll('{retention_days}', '3650');
      for (const statement of splitStatements(text)) await ch.client.command({ query: statement });
    }
    const batches = Array.from({ length: Math.ceil(CHDB_ROWS / CHDB_BATCH) }, (_, b) =>
      gpsRows(Math.min(CHDB_BATCH, CHDB_ROWS - b * CHDB_BATCH), b * CHDB_BATCH),
    );
    let slowest = 0;
    const ins = await timed(async () => {
      for (const values of batches) {
        const t = performance.now();
        await ch.client.insert({ table: 'fleetgate.gps_tracking', values, format: 'JSONEachRow' });
        slowest = Math.max(slowest, performance.now() - t);
      }
    }, 'chdb-insert');
    const insRow: Row = {
      adapter: 'chdb',
      phase: 'insert JSONEachRow',
      eventsPerMessage: CHDB_BATCH,
      messages: batches.length,
      events: CHDB_ROWS,
      seconds: ins.seconds,
      messagesPerSec: rate(batches.length, ins.seconds),
      eventsPerSec: rate(CHDB_ROWS, ins.seconds),
      loop: ins.loop,
      cpuPercent: ins.cpuPercent,
      note: `rows; slowest insert ${slowest.toFixed(0)} ms`,
    };
    rows.push(insRow);
    print(insRow);
    for (const [query, scanned] of [
      ['SELECT sum(number) AS s FROM numbers(200000000)', 200_000_000],
      ['SELECT sum(sipHash64(number)) AS s FROM numbers(50000000)', 50_000_000],
    ] as const) {
      const heavy = await timed(async () => (await ch.client.query({ query, format: 'JSONEachRow' })).json<{ s: string }>());
      const heavyRow: Row = {
        adapter: 'chdb',
        phase: `query ${query
          .replace(/^SELECT (.*) AS s FROM (.*)$/, '$1 FROM $2')
          .replace('200000000', '2e8')
          .replace('50000000', '5e7')}`,
        messages: 1,
        events: scanned,
        seconds: heavy.seconds,
        messagesPerSec: 0,
        eventsPerSec: rate(scanned, heavy.seconds),
        loop: heavy.loop,
        cpuPercent: heavy.cpuPercent,
        note: 'rows scanned',
      };
      rows.push(heavyRow);
      print(heavyRow);
    }
    const back = await timed(async () => {
      const rs = await ch.client.query({ query: 'SELECT * FROM fleetgate.gps_tracking', format: 'JSONEachRow' });
      return (await rs.json<Record<string, unknown>>()).length;
    });
    const backRow: Row = {
      adapter: 'chdb',
      phase: 'query all rows as JSON',
      messages: 1,
      events: back.value,
      seconds: back.seconds,
      messagesPerSec: 0,
      eventsPerSec: rate(back.value, back.seconds),
      loop: back.loop,
      cpuPercent: back.cpuPercent,
      note: 'rows returned',
    };
    rows.push(backRow);
    print(backRow);
  } finally {
    await c.run();
  }
};

// ---------------------------------------------------------------------------------------------
// Output

const HEADERS = [
  'adapter',
  'phase',
  '>in flight',
  '>ev/msg',
  '>messages',
  '>events',
  '>seconds',
  '>msgs/s',
  '>events/s',
  '>vs raw',
  '>loop p99 ms',
  '>loop max ms',
  '>cpu %',
  'note',
];

const cells = (r: Row) => [
  r.adapter,
  r.phase,
  r.concurrency ?? '',
  r.eventsPerMessage ?? '',
  fmtInt(r.messages),
  fmtInt(r.events),
  r.seconds.toFixed(2),
  r.messagesPerSec ? fmtInt(r.messagesPerSec) : '',
  r.eventsPerSec ? fmtInt(r.eventsPerSec) : '',
  r.ratioToRaw === undefined ? '' : `${(r.ratioToRaw * 100).toFixed(0)}%`,
  fmtMs(r.loop.p99),
  fmtMs(r.loop.max),
  Math.round(r.cpuPercent),
  r.note ?? '',
];

const print = (r: Row) =>
  console.log(
    `  ${r.adapter} ${r.phase}${r.concurrency ? ` x${r.concurrency}` : ''}${r.eventsPerMessage && r.eventsPerMessage > 1 ? ` (${r.eventsPerMessage}/msg)` : ''}: ` +
      `${fmtInt(r.eventsPerSec)} events/s in ${r.seconds.toFixed(2)} s, loop p99 ${fmtMs(r.loop.p99)} ms` +
      (r.ratioToRaw === undefined ? '' : `, ${(r.ratioToRaw * 100).toFixed(0)}% of raw`),
  );

const evaluate = (rows: Row[]): Target[] => {
  const out: Target[] = [];
  for (const r of rows) {
    if (r.adapter === 'jetstream' && r.phase === 'append single' && r.ratioToRaw !== undefined) {
      out.push({
        name: `jetstream single appends x${r.concurrency} ≥ 80% of raw acked publishing`,
        measured: r.ratioToRaw,
        target: 0.8,
        unit: 'ratio',
        pass: r.ratioToRaw >= 0.8,
      });
    }
    if (r.adapter === 'jetstream' && r.phase === 'append single' && r.ratioToRawNoTraces !== undefined) {
      out.push({
        name: `  same, against raw publishing with the adapter's client options (noAsyncTraces)`,
        measured: r.ratioToRawNoTraces,
        target: 0.8,
        unit: 'ratio',
        pass: r.ratioToRawNoTraces >= 0.8,
      });
    }
  }
  for (const r of rows) {
    if (r.phase === 'append batch') {
      out.push({
        name: `${r.adapter} batched appends (${r.eventsPerMessage}/msg) ≥ 100k events/s`,
        measured: r.eventsPerSec,
        target: 100_000,
        unit: 'events/s',
        pass: r.eventsPerSec >= 100_000,
      });
    }
  }
  for (const r of rows) {
    if (r.phase === 'consume: no-op projection') {
      out.push({
        name: `${r.adapter} consumption into a no-op projection ≥ 100k events/s`,
        measured: r.eventsPerSec,
        target: 100_000,
        unit: 'events/s',
        pass: r.eventsPerSec >= 100_000,
      });
    }
  }
  return out;
};

// ---------------------------------------------------------------------------------------------

const parseArgs = (args: string[]) => {
  let scale = 1;
  let only: Section[] = [...SECTIONS];
  for (const a of args) {
    const [k, v = ''] = a.replace(/^--/, '').split('=');
    if (k === 'scale' && Number(v) > 0) scale = Number(v);
    else if (k === 'only') {
      const wanted = v.split(',').filter(Boolean);
      const bad = wanted.filter((w) => !SECTIONS.includes(w as Section));
      if (bad.length) throw new RangeError(`unknown section(s) ${bad.join(', ')}; choose from ${SECTIONS.join(', ')}`);
      only = wanted as Section[];
    } else throw new RangeError(`unknown option ${a} (use --scale=F, --only=${SECTIONS.join(',')})`);
  }
  return { scale, only };
};

/** The rows as figures: each target of the core issue beside its measured figure, CPU per event, event-loop delay. */
const figuresOf = (rows: Row[]): BenchFigure[] => {
  const out: BenchFigure[] = [];
  const keyOf = (r: Row, what: string) =>
    `eventlog.${r.adapter}.${r.phase.replace(/\W+/g, '_')}${r.concurrency ? `.x${r.concurrency}` : ''}${r.eventsPerMessage && r.eventsPerMessage > 1 ? `.b${r.eventsPerMessage}` : ''}.${what}`;
  const loopNote = (r: Row) =>
    `event-loop delay p99 ${fmtMs(r.loop.p99)} ms; ${Math.round(r.cpuPercent)}% CPU${r.note ? `; ${r.note}` : ''}`;
  for (const r of rows) {
    if (r.adapter === 'chdb') {
      if (r.events > 0)
        out.push({
          key: keyOf(r, 'loop_p99_ms'),
          label: `chdb ${r.phase}: event-loop delay p99`,
          value: r.loop.p99,
          unit: 'ms',
          note: `max ${fmtMs(r.loop.max)} ms; ${fmtInt(r.eventsPerSec)} rows/s${r.note ? ` (${r.note})` : ''}`,
        });
      continue;
    }
    if (r.phase.startsWith('raw')) continue;
    const raw = rows.find(
      (x) => x.adapter === r.adapter && x.phase === 'raw js.publish (acked)' && x.concurrency === r.concurrency,
    );
    const label = `${r.adapter} ${r.phase}${r.concurrency ? ` ×${r.concurrency}` : ''}${r.eventsPerMessage && r.eventsPerMessage > 1 ? ` (${r.eventsPerMessage}/msg)` : ''}`;
    const base = {
      key: keyOf(r, 'events_per_s'),
      label: `${label}: events/s`,
      value: r.eventsPerSec,
      unit: 'events/s',
      note: loopNote(r),
    };
    if (r.phase === 'append single' && raw)
      out.push(
        figure({
          ...base,
          ceiling: { label: 'raw js.publish (acked)', value: raw.eventsPerSec },
          target: { kind: 'ratio', atLeast: 0.8, text: '≥ 80% of raw acked publishing (issue 2)' },
        }),
      );
    else if (r.phase === 'append batch')
      out.push(figure({ ...base, target: { kind: 'bound', atLeast: 100_000, text: '≥ 100k events/s acked (issue 2)' } }));
    else if (r.phase === 'consume: no-op projection')
      out.push(figure({ ...base, target: { kind: 'bound', atLeast: 100_000, text: '≥ 100k events/s (issue 2)' } }));
    else out.push(base);
    if (r.phase.startsWith('append') && r.events > 0)
      out.push({
        key: keyOf(r, 'cpu_us_per_event'),
        label: `${label}: CPU per event (bench process)`,
        value: ((r.cpuPercent / 100) * r.seconds * 1e6) / r.events,
        unit: 'µs CPU',
      });
  }
  return out;
};

export const runEventLogBench = async (args: string[]): Promise<BenchResult> => {
  const { scale, only } = parseArgs(args);
  const startedAt = new Date();
  const runId = startedAt.toISOString().replace(/\D/g, '').slice(0, 14);
  const sample = JSON.stringify(makeEvent(subjectOf('s', 4242), 4242));
  console.log(
    `event-log bench: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Node ${process.version}, event ≈ ${sample.length} bytes as JSON, scale ${scale}, ` +
      `loop delay = lateness of a ${LOOP_RESOLUTION_MS} ms timer`,
  );
  const rows: Row[] = [];
  const errors: { section: Section; error: string }[] = [];
  const sizes: Partial<Record<AdapterName, Sizes>> = {};
  const t0 = performance.now();

  for (const section of only) {
    console.log(`\n[${section}]`);
    try {
      if (section === 'chdb') {
        await withTimeout(chdbPhase(rows), PHASE_TIMEOUT_MS, 'chdb');
        continue;
      }
      const s = scaled(SIZES[section], scale);
      sizes[section] = s;
      const h = await openHarness(section);
      try {
        await withTimeout(singleAppends(h, s, rows), PHASE_TIMEOUT_MS, `${section} single appends`);
        await withTimeout(batchedAppends(h, s, rows), PHASE_TIMEOUT_MS, `${section} batched appends`);
        await withTimeout(projectionConsumption(h, s, runId, rows), PHASE_TIMEOUT_MS, `${section} projection`);
        await withTimeout(durableConsumption(h, s, runId, rows), PHASE_TIMEOUT_MS, `${section} durable consumer`);
      } finally {
        await h.close();
      }
    } catch (e) {
      const error = e instanceof Error ? (e.stack ?? e.message) : String(e);
      errors.push({ section, error });
      console.error(`  ${section} failed: ${error}`);
    }
  }
  const totalSeconds = (performance.now() - t0) / 1000;

  console.log(`\nResults (${totalSeconds.toFixed(0)} s in all)\n`);
  console.log(table(HEADERS, rows.map(cells)));

  const targets = evaluate(rows);
  console.log('\nTargets (measured in this run)\n');
  console.log(
    table(
      ['', 'target', '>measured', '>required', '>measured/required'],
      targets.map((t) => [
        t.pass ? 'PASS' : 'FAIL',
        t.name,
        t.unit === 'ratio' ? `${(t.measured * 100).toFixed(0)}%` : fmtInt(t.measured),
        t.unit === 'ratio' ? `${(t.target * 100).toFixed(0)}%` : fmtInt(t.target),
        (t.measured / t.target).toFixed(2),
      ]),
    ),
  );
  for (const e of errors) console.log(`ERROR ${e.section}: ${e.error.split('\n')[0]}`);

  const dir = join(packageRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `eventlog-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        bench: 'eventlog',
        startedAt: startedAt.toISOString(),
        totalSeconds,
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model,
          memoryBytes: totalmem(),
          node: process.version,
          platform: process.platform,
        },
        eventBytes: sample.length,
        loopResolutionMs: LOOP_RESOLUTION_MS,
        scale,
        sizes,
        settings: {
          singleConcurrency: SINGLE_CONCURRENCY,
          batchConcurrency: BATCH_CONCURRENCY,
          consumerBatch: CONSUMER_BATCH,
          projectionBatchSize: PROJECTION_BATCH_SIZE,
          projectionBatchDelayMs: PROJECTION_BATCH_DELAY_MS,
          chdbRows: CHDB_ROWS,
          chdbBatch: CHDB_BATCH,
        },
        rows,
        targets,
        errors,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nwrote ${file}`);
  return {
    bench: 'eventlog',
    seed: benchSeed(),
    startedAt: startedAt.toISOString(),
    durationS: totalSeconds,
    options: { scale, only: only.join(',') },
    figures: figuresOf(rows),
    series: [],
    notes: [
      `~${sample.length}-byte events; single appends ${SINGLE_CONCURRENCY} in flight (and 1), batches ${BATCH_CONCURRENCY} in flight; the raw JetStream baseline is measured in the same run, rounds alternating.`,
      "CPU and event-loop delay are the bench process's (the adapters run in it; nats-server and Postgres are apart).",
      `Every row: ${file.slice(packageRoot.length + 1)}.`,
      ...errors.map((e) => `ERROR ${e.section}: ${e.error.split('\n')[0]}`),
    ],
    correct: errors.length === 0,
  };
};
