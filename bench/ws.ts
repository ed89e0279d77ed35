/**
 * `npm run bench -- ws`: N phone connections (default 5,000) on `/v1/ws/driver` sending points,
 * from a separate load process (dist/bench/wsLoad.js), against in the same run a bare uWS server
 * that only parses the JSON and acks (dist/bench/bareWs.js): the ceiling. Phases: closed loop
 * (each connection keeps `window` messages in flight) for the maximum rate, then an open loop at
 * `--rate` points/s in total (default 20,000) with bursts (`locations` batches) and one
 * `/v1/ws/live` subscriber measuring ack → seen live. Server RSS from /proc. The gateway runs
 * embedded (PGlite log) and with JetStream + the machine's Postgres (`--targets=embedded,jetstream`,
 * the default; either alone). `jetstream-split` (only when named): the same, with the projections
 * in a second process, so the phones' event loop runs beside them instead of between them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../core/paths.js';
import { ADMIN_KEY, startGateway, stop, waitForLine } from './api.js';
import { latencyStats, mergeLatency } from './load/latency.js';
import { type BenchFigure, type BenchResult, type BenchSeries, judge } from './results.js';
import {
  buckets,
  cpuMeter,
  cpuProfileArgs,
  createScratchDatabase,
  durableShare,
  findPids,
  fmtDurable,
  fmtInt,
  fmtMs,
  LOAD_SATURATED_SHARE,
  metricMax,
  pgBackendPids,
  pool,
  startNatsServer,
  table,
  tempDir,
  usPer,
} from './support.js';
import type { WsLoadConfig, WsLoadResult } from './wsLoad.js';

const rssMiB = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

interface LoadRun extends WsLoadResult {
  /** CPU-seconds between every phone connected and the acks drained: the server, nats-server, Postgres backends. */
  cpu: { server: number; nats?: number; pg?: number };
  /** Each load process's share of a core while sending. */
  loadCpu: number[];
  loadSaturated: boolean;
  /** Per second: acks, and send → ack p99 ms (merged over the load processes). */
  series: { acked: [number, number][]; p99: [number, number][] };
}

let loads = 0;
/** One load process for phones [cfg.from, cfg.from + cfg.connections); resolves once connected, `go` starts it. */
const startLoadProcess = (cfg: WsLoadConfig) =>
  new Promise<{ go: () => void; drained: Promise<void>; result: Promise<WsLoadResult> }>((ready, fail) => {
    const file = join(tmpdir(), `fg-wsload-${process.pid}-${++loads}.json`);
    writeFileSync(file, JSON.stringify({ ...cfg, handshake: true }));
    const child = spawn(process.execPath, [join(packageRoot, 'dist/bench/wsLoad.js'), file], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let drainedResolve: () => void = () => {};
    const drained = new Promise<void>((r) => {
      drainedResolve = r;
    });
    let resultResolve: (r: WsLoadResult) => void = () => {};
    let resultReject: (e: Error) => void = () => {};
    const result = new Promise<WsLoadResult>((res, rej) => {
      resultResolve = res;
      resultReject = rej;
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as { type?: string } & WsLoadResult;
      if (m.type === 'connected') ready({ go: () => child.stdin.write('go\n'), drained, result });
      else if (m.type === 'drained') drainedResolve();
      else resultResolve(m);
    });
    child.once('exit', (code) => {
      rmSync(file, { force: true });
      const e = new Error(`load exited ${code}`);
      drainedResolve();
      if (code !== 0) {
        fail(e);
        resultReject(e);
      }
    });
  });

/**
 * Phones split over `procs` load processes; the server's CPU (and nats-server's, the Postgres
 * backends') is measured from the moment every phone is connected until the acks drained.
 */
const load = async (
  cfg: WsLoadConfig,
  procs: number,
  pids: { server: number; nats?: number; pgDatabase?: string },
): Promise<LoadRun> => {
  const n = Math.max(1, Math.min(procs, cfg.connections));
  const per = Math.ceil(cfg.connections / n);
  const slices = Array.from({ length: n }, (_, k) => ({
    from: k * per,
    count: Math.min(per, cfg.connections - k * per),
  })).filter((x) => x.count > 0);
  const started = await Promise.all(
    slices.map((x, k) =>
      startLoadProcess({
        ...cfg,
        from: x.from,
        connections: x.count,
        ...(cfg.tokens ? { tokens: cfg.tokens.slice(x.from, x.from + x.count) } : {}),
        // An open-loop rate is per connection already; the live subscriber runs in the first process only.
        ...(k === 0 || !cfg.live ? {} : { live: undefined }),
        seed: (cfg.seed ?? 1) * 1000 + k,
      }),
    ),
  );
  const stopCpu = cpuMeter({
    server: () => [pids.server],
    nats: () => (pids.nats ? [pids.nats] : []),
    pg: () => (pids.pgDatabase ? pgBackendPids(pids.pgDatabase) : []),
  });
  for (const s of started) s.go();
  await Promise.all(started.map((s) => s.drained));
  const { cpu } = stopCpu();
  const rs = await Promise.all(started.map((s) => s.result));
  const sum = (f: (r: WsLoadResult) => number) => rs.reduce((a, r) => a + f(r), 0);
  const ack = latencyStats(mergeLatency(rs.map((r) => r.ackHistogram)));
  const live = latencyStats(mergeLatency(rs.map((r) => r.liveHistogram)));
  const errorCodes: Record<string, number> = {};
  for (const r of rs) for (const [k, v] of Object.entries(r.errorCodes)) errorCodes[k] = (errorCodes[k] ?? 0) + v;
  const seconds = Math.max(...rs.map((r) => r.seconds));
  const loadCpu = rs.map((r) => (r.loadCpuSeconds ?? 0) / cfg.seconds);
  const secs = Math.max(...rs.map((r) => r.perSecond?.length ?? 0));
  const series: LoadRun['series'] = { acked: [], p99: [] };
  for (let i = 0; i < secs; i++) {
    series.acked.push([i + 1, rs.reduce((a, r) => a + (r.perSecond?.[i]?.acked ?? 0), 0)]);
    const h = latencyStats(mergeLatency(rs.map((r) => r.perSecond?.[i]?.h)));
    if (h.count > 0) series.p99.push([i + 1, h.p99]);
  }
  return {
    connected: sum((r) => r.connected),
    sent: sum((r) => r.sent),
    acked: sum((r) => r.acked),
    errors: sum((r) => r.errors),
    errorCodes,
    closed: sum((r) => r.closed),
    seconds,
    ackP50: ack.count ? ack.p50 : Number.NaN,
    ackP99: ack.count ? ack.p99 : Number.NaN,
    liveSeen: live.count,
    liveP99: live.count ? live.p99 : Number.NaN,
    cpu: {
      server: cpu.server ?? Number.NaN,
      ...(pids.nats ? { nats: cpu.nats } : {}),
      ...(pids.pgDatabase ? { pg: cpu.pg } : {}),
    },
    loadCpu,
    loadSaturated: loadCpu.some((c) => c >= LOAD_SATURATED_SHARE),
    series,
  };
};

/** Runs `phase` while sampling the server's peak RSS. */
const sampled = async <T>(pid: number, phase: () => Promise<T>) => {
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssMiB(pid));
  }, 200);
  try {
    return { result: await phase(), peakRss: peak };
  } finally {
    clearInterval(timer);
  }
};

/**
 * Runs a phase between two scrapes of the gateway's /metrics: its own share of send → ack (points
 * queued → durable, `fleetgate_gps_durable_seconds{source="ws"}`) and its worst event-loop delay.
 */
const withInternals = async <T>(metricsUrl: string, phase: () => Promise<T>) => {
  const scrape = async () => (await fetch(`${metricsUrl}/metrics`)).text();
  const before = buckets(await scrape(), 'fleetgate_gps_durable_seconds', 'source="ws"');
  const result = await phase();
  const text = await scrape();
  const after = buckets(text, 'fleetgate_gps_durable_seconds', 'source="ws"');
  return {
    result,
    /** One line for the report. */
    line: (phase: string) =>
      `  ${phase}: ${fmtDurable(durableShare(before, after))}, event-loop delay p99 ${fmtMs(metricMax(text, 'fleetgate_nodejs_eventloop_lag_p99_seconds') * 1000)} ms`,
  };
};

const TARGET_NAMES: Record<string, string> = {
  embedded: 'fleetgate embedded',
  jetstream: 'fleetgate JetStream+PG',
  'jetstream-split': 'fleetgate JetStream+PG, projections apart',
};

interface Phase {
  /** `bare`, `embedded`, `jetstream` … */
  target: string;
  name: string;
  kind: 'max' | 'rate';
  run: LoadRun;
  peakRss: number;
}

export const runWsBench = async (args: string[]): Promise<BenchResult> => {
  const opt = (k: string, d: number) => Number(args.find((a) => a.startsWith(`--${k}=`))?.split('=')[1] ?? d);
  const connections = opt('connections', 5_000);
  const seconds = opt('seconds', 10);
  const rate = opt('rate', 20_000);
  /** Load processes for the phones (2 keeps each well under a core on this 2-core machine). */
  const loadProcs = Math.max(1, opt('load-procs', 2));
  const seed = opt('seed', 1);
  const targets = (args.find((a) => a.startsWith('--targets='))?.split('=')[1] ?? 'embedded,jetstream').split(',');
  /** Writes the gateway's CPU profile (node --cpu-prof) into this directory when it exits. */
  const cpuProfDir = args.find((a) => a.startsWith('--cpu-prof='))?.split('=')[1];
  const startedAt = new Date();
  const phases: Phase[] = [];
  let nonces = 0;
  const nonce = () => ((seed * 65_536 + ++nonces) >>> 0).toString(16).padStart(8, '0');
  const record = (p: Phase) => {
    phases.push(p);
    const r = p.run;
    console.error(
      `  ${p.name}: ${fmtInt(r.acked / r.seconds)} acks/s, p99 ${fmtMs(r.ackP99)} ms, errors ${r.errors} ${JSON.stringify(r.errorCodes ?? {})}, closed ${r.closed}, ` +
        `server ${fmtInt(usPer(r.cpu.server, r.acked))} µs CPU/point` +
        (r.cpu.nats !== undefined
          ? ` (+nats ${fmtInt(usPer(r.cpu.nats, r.acked))}, +pg ${fmtInt(usPer(r.cpu.pg, r.acked))})`
          : '') +
        `, load CPU ${r.loadCpu.map((c) => `${Math.round(c * 100)}%`).join('+')}${r.loadSaturated ? ' (SATURATED)' : ''}`,
    );
  };

  const bare: ChildProcess = spawn(process.execPath, [join(packageRoot, 'dist/bench/bareWs.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const barePort = await waitForLine(bare, /^(\d+)\n/m, 10_000);
  try {
    const pids = { server: bare.pid as number };
    console.error(`bare uWS WS (pid ${pids.server})`);
    const url = `ws://127.0.0.1:${barePort}/`;
    const s = await sampled(pids.server, () =>
      load({ url, connections, seconds, perSecond: 0, window: 4, nonce: nonce(), seed }, loadProcs, pids),
    );
    record({ target: 'bare', name: 'bare uWS (parse + ack), closed loop', kind: 'max', run: s.result, peakRss: s.peakRss });
    // The same paced load as the gateway's latency phase: what this machine and load generator
    // measure for a server that does no work (the floor under the p99 send→ack target).
    const paced = await sampled(pids.server, () =>
      load({ url, connections, seconds, perSecond: rate / connections, burstShare: 0.05, nonce: nonce(), seed }, loadProcs, pids),
    );
    record({
      target: 'bare',
      name: `bare uWS (parse + ack) at ${fmtInt(rate)} points/s + bursts`,
      kind: 'rate',
      run: paced.result,
      peakRss: paced.peakRss,
    });
  } finally {
    await stop(bare);
  }

  /** Lines on the gateway's own share of each phase (from its /metrics). */
  const inside: string[] = [];
  for (const target of targets) {
    const dir = await tempDir('fg-bench-ws-');
    const distributed = target === 'jetstream' || target === 'jetstream-split';
    const [nats, db] = distributed
      ? await Promise.all([startNatsServer(), createScratchDatabase('fg_bench_ws')])
      : [undefined, undefined];
    const env = {
      DATA_DIR: dir.dir,
      WS_MAX_MESSAGES_PER_SECOND: '1000',
      ...(nats && db ? { NATS_URL: nats.url, DATABASE_URL: db.url } : {}),
    };
    const split = target === 'jetstream-split';
    const gw = await startGateway(
      env,
      split ? 'ingest,api' : 'ingest,api,projections',
      cpuProfileArgs(cpuProfDir, `gateway-ws-${target}`),
    );
    const name = TARGET_NAMES[target] ?? target;
    let projDir: Awaited<ReturnType<typeof tempDir>> | undefined;
    let projector: Awaited<ReturnType<typeof startGateway>> | undefined;
    try {
      if (split) {
        projDir = await tempDir('fg-bench-ws-proj-');
        projector = await startGateway(
          { ...env, DATA_DIR: projDir.dir },
          'projections,api',
          cpuProfileArgs(cpuProfDir, `projector-ws-${target}`),
        );
      }
      const tokens: string[] = [];
      await pool(connections, 32, async (n) => {
        const res = await fetch(`${gw.url}/api/v1/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id: `phone-${n}`, kind: 'phone' }),
        });
        tokens[n] = ((await res.json()) as { token: string }).token;
      });
      const url = `${gw.url.replace('http', 'ws')}/v1/ws/driver`;
      const pid = gw.child.pid as number;
      const pids = {
        server: pid,
        ...(nats ? { nats: findPids('nats-server', String(nats.port))[0] } : {}),
        ...(db ? { pgDatabase: db.name } : {}),
      };
      console.error(`${name} (pid ${pid})`);
      const maxRun = await withInternals(gw.metricsUrl, () =>
        sampled(pid, () =>
          load({ url, tokens, connections, seconds, perSecond: 0, window: 4, nonce: nonce(), seed }, loadProcs, pids),
        ),
      );
      record({ target, name: `${name}, closed loop`, kind: 'max', run: maxRun.result.result, peakRss: maxRun.result.peakRss });
      inside.push(maxRun.line(`${name}, closed loop`));
      const atRun = await withInternals(gw.metricsUrl, () =>
        sampled(pid, () =>
          load(
            {
              url,
              tokens,
              connections,
              seconds,
              perSecond: rate / connections,
              burstShare: 0.05,
              live: { url: `${gw.url.replace('http', 'ws')}/v1/ws/live?key=${ADMIN_KEY}` },
              nonce: nonce(),
              seed,
            },
            loadProcs,
            pids,
          ),
        ),
      );
      record({
        target,
        name: `${name} at ${fmtInt(rate)} points/s + bursts, live subscriber`,
        kind: 'rate',
        run: atRun.result.result,
        peakRss: atRun.result.peakRss,
      });
      inside.push(atRun.line(`${name} at ${fmtInt(rate)} points/s`));
    } finally {
      if (projector) await stop(projector.child);
      await projDir?.remove();
      await stop(gw.child);
      await dir.remove();
      await nats?.stop();
      await db?.drop();
    }
  }

  console.log(
    `\n${fmtInt(connections)} phone connections from ${loadProcs} raw-socket load process(es), ${seconds} s per phase (acks only after the durable append); ` +
      "CPU µs per point acked (server = all its threads; pg = the scratch database's backends); load CPU % of a core per process (SAT = ≥ 90%: not judged)\n",
  );
  console.log(
    table(
      [
        'phase',
        '>acks/s',
        '>p50 ms',
        '>p99 ms',
        '>errors',
        '>closed',
        '>live p99 ms',
        '>peak RSS MiB',
        '>server µs',
        '>nats µs',
        '>pg µs',
        '>load CPU%',
      ],
      phases.map(({ name, run: r, peakRss }) => [
        name,
        fmtInt(r.acked / r.seconds),
        fmtMs(r.ackP50),
        fmtMs(r.ackP99),
        fmtInt(r.errors),
        fmtInt(r.closed),
        fmtMs(r.liveP99),
        fmtInt(peakRss),
        fmtInt(usPer(r.cpu.server, r.acked)),
        r.cpu.nats === undefined ? '' : fmtInt(usPer(r.cpu.nats, r.acked)),
        r.cpu.pg === undefined ? '' : fmtInt(usPer(r.cpu.pg, r.acked)),
        r.loadCpu.map((c) => fmtInt(c * 100)).join('+') + (r.loadSaturated ? ' SAT' : ''),
      ]),
    ),
  );
  if (inside.length > 0) console.log(`\ngateway internals per phase (from its /metrics):\n${inside.join('\n')}`);
  const result = wsResult(phases, { seed, startedAt, rate });
  result.options = { connections, seconds, rate, loadProcs, targets: targets.join(',') };
  console.log('\ntargets:');
  for (const f of result.figures.filter((x) => x.target))
    console.log(
      `  ${f.met === undefined ? 'n/a ' : f.met ? 'PASS' : 'MISS'} ${f.label}: ${f.unit === 'ms' ? fmtMs(f.value) : fmtInt(f.value)} ${f.unit}` +
        (f.ceiling ? ` = ${(f.value / f.ceiling.value).toFixed(2)}× ${f.ceiling.label} (${fmtInt(f.ceiling.value)})` : '') +
        ` (target: ${f.target?.text})${f.loadSaturated || f.ceiling?.loadSaturated ? ' — load saturated, not judged' : ''}`,
    );
  const floor = phases.find((p) => p.target === 'bare' && p.kind === 'rate')?.run;
  if (floor)
    console.log(
      `  floor for send→ack: bare uWS (stores nothing) p99 ${fmtMs(floor.ackP99)} ms at ${fmtInt(floor.acked / floor.seconds)}/s under the same paced load`,
    );
  return result;
};

const wsResult = (phases: Phase[], run: { seed: number; startedAt: Date; rate: number }): BenchResult => {
  const figures: BenchFigure[] = [];
  const series: BenchSeries[] = [];
  const add = (f: BenchFigure) => {
    const met = judge(f);
    figures.push(met === undefined ? f : { ...f, met });
  };
  const bareOf = (kind: 'max' | 'rate') => phases.find((p) => p.target === 'bare' && p.kind === kind);
  for (const p of phases) {
    const r = p.run;
    const isBare = p.target === 'bare';
    const key = `ws.${p.target}.${p.kind}`;
    const ceil = isBare ? undefined : bareOf(p.kind);
    const base = { loadSaturated: r.loadSaturated, loadCpu: r.loadCpu };
    const ceiling = (value: number) =>
      ceil ? { ceiling: { label: ceil.name, value, loadSaturated: ceil.run.loadSaturated } } : {};
    add({
      key: `${key}.acks_per_s`,
      label: `${p.name}: acks/s`,
      value: r.acked / r.seconds,
      unit: 'ops/s',
      ...ceiling(ceil ? ceil.run.acked / ceil.run.seconds : Number.NaN),
      ...(!isBare && p.kind === 'max'
        ? { target: { kind: 'ratio' as const, atLeast: 0.25, text: 'durable acks/s ≥ 25% of the bare uWS ceiling' } }
        : {}),
      ...base,
    });
    add({
      key: `${key}.cpu_us_per_point`,
      label: `${p.name}: µs CPU per phone location (${isBare ? 'bare uWS process' : 'gateway process, all threads'})`,
      value: usPer(r.cpu.server, r.acked),
      unit: 'µs CPU',
      ...ceiling(ceil ? usPer(ceil.run.cpu.server, ceil.run.acked) : Number.NaN),
      ...base,
    });
    if (r.cpu.nats !== undefined)
      add({
        key: `${key}.nats_cpu_us_per_point`,
        label: `${p.name}: µs CPU per location in nats-server`,
        value: usPer(r.cpu.nats, r.acked),
        unit: 'µs CPU',
        ...base,
      });
    if (r.cpu.pg !== undefined)
      add({
        key: `${key}.pg_cpu_us_per_point`,
        label: `${p.name}: µs CPU per location in Postgres backends`,
        value: usPer(r.cpu.pg, r.acked),
        unit: 'µs CPU',
        ...base,
      });
    add({
      key: `${key}.ack_p99_ms`,
      label: `${p.name}: p99 send→ack`,
      value: r.ackP99,
      unit: 'ms',
      ...(!isBare && p.kind === 'rate'
        ? { target: { kind: 'bound' as const, atMost: 50, text: `p99 send→ack < 50 ms at ${fmtInt(run.rate)} points/s` } }
        : {}),
      ...base,
    });
    if (!isBare && p.kind === 'rate')
      add({
        key: `${key}.live_p99_ms`,
        label: `${p.name}: p99 ack→seen by a /v1/ws/live subscriber (${fmtInt(r.liveSeen)} seen)`,
        value: r.liveP99,
        unit: 'ms',
        target: { kind: 'bound', atMost: 250, text: 'live subscriber sees a point < 250 ms p99 after its ack' },
        ...base,
      });
    add({ key: `${key}.peak_rss_mib`, label: `${p.name}: server peak RSS`, value: p.peakRss, unit: 'MiB' });
    series.push({
      key: `${key}.throughput`,
      label: `${p.name}: acks/s over time`,
      unit: 'ops/s',
      points: r.series.acked,
      ...(ceil ? { ceiling: { label: ceil.name, points: ceil.run.series.acked } } : {}),
    });
    series.push({
      key: `${key}.p99`,
      label: `${p.name}: p99 send→ack over time`,
      unit: 'ms',
      points: r.series.p99,
      ...(ceil ? { ceiling: { label: ceil.name, points: ceil.run.series.p99 } } : {}),
    });
  }
  const saturated = phases.filter((p) => p.run.loadSaturated);
  return {
    bench: 'ws',
    seed: run.seed,
    startedAt: run.startedAt.toISOString(),
    durationS: (Date.now() - run.startedAt.getTime()) / 1000,
    options: {},
    figures,
    series,
    notes: [
      saturated.length > 0
        ? `load-bound phases (not judged): ${saturated.map((p) => p.name).join('; ')}`
        : 'no phase was load-bound (every load process under 90% of a core)',
      'No target is set on CPU per phone location; it is reported beside bare uWS for sizing.',
      ...phases.filter((p) => p.run.closed > 0).map((p) => `${p.name}: ${p.run.closed} phone connection(s) closed by the server`),
    ],
    // Every ack names a point sent once: more acks than points sent would be doubled work.
    correct: phases.every((p) => p.run.acked <= p.run.sent),
  };
};
