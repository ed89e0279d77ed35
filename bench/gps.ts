/**
 * `npm run bench -- gps`: N devices (MQTT 3.1.1 from pre-encoded packets on raw sockets, one
 * connection each) publishing 150-byte JSON points to `v1/devices/{id}/location`, from
 * `--load-procs` separate load processes (dist/bench/gpsLoad.js, default 2), against, in the same run:
 *
 * - `mosquitto`: the machine's Mosquitto on 127.0.0.1:1883 (no persistence, anonymous): the ceiling;
 * - `aedes`: bare Aedes (in-memory persistence, no auth, no hooks) in its own process (bareAedes.ts);
 * - `embedded`: the gateway, `fleetgate start --roles ingest,api,projections` (the api role only
 *   to register the devices), embedded log (PGlite) and chdb;
 * - `jetstream` (only when named in `--only`): the same with a private nats-server and a scratch
 *   database on the machine's Postgres (the MQTT ingest in its worker thread, INGEST_THREAD=auto);
 * - `jetstream-main` (only when named): the same with the ingest on the main thread (INGEST_THREAD=main);
 * - `jetstream-split` (only when named): the same log and database, the gateway running `ingest,api` and a second
 *   process `projections,api` (its own chdb) folding into ClickHouse: the distributed mode's
 *   deployment, where the measured process is the one the devices talk to.
 *
 * Phases per target: QoS 1 closed loop (each device stop-and-wait: it publishes its next point when
 * the PUBACK of the previous one arrives; `--window=N` keeps N in flight instead), QoS 0 closed
 * loop (the next points as soon as the socket takes them, one QoS 1 point after every 16 whose
 * PUBACK the device awaits, so the sockets never hold minutes of points), and QoS 1 at a fixed `--rate` (open loop).
 * For the gateway: publish → visible in ClickHouse, and RSS with `--idle` connected devices
 * (sampled `--idle-settle` seconds, default 30, after the last one connected).
 *
 * Server CPU and RSS come from /proc/<pid>/stat and /proc/<pid>/status (VmRSS every 100 ms) while a
 * phase is timed; 100% CPU = one core. CPU per point (QoS 1 phases): CPU-seconds over the timed
 * span / points PUBACKed in it, for the server process (all its threads), the private nats-server
 * and the Postgres backends of the scratch database, each. The load processes' CPU is reported per
 * process; a phase where one of them reached 90% of a core is flagged `loadSaturated` (its
 * figures measured the load as much as the server) and not judged.
 *
 * Visibility: the load process reports, every 20 ms, how many points of the phase it has
 * published so far; this process polls `SELECT count() FROM fleetgate.gps_tracking` through
 * `POST /api/v1/analytics/query` every 25 ms. The visibility latency of a progress sample (t, n)
 * is the time from t until the first poll answer (its arrival) showing at least base + n rows,
 * where base is the count before the phase. It is therefore publish → queryable through the API
 * of the n-th point, measured conservatively (the poll's own round trip is included).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot } from '../core/paths.js';
import { ADMIN_KEY, startGateway, stop, waitForLine } from './api.js';
import type { LoadConfig, LoadEvent, PhaseCommand, PhaseResult } from './gpsLoad.js';
import { latencyStats, mergeLatency } from './load/latency.js';
import { type BenchFigure, type BenchResult, type BenchSeries, judge } from './results.js';
import {
  buckets,
  cpuMeter,
  cpuProfileArgs,
  processCpuSeconds as cpuSeconds,
  createScratchDatabase,
  durableShare,
  findPids,
  fmtDurable,
  fmtInt,
  fmtMs,
  freePort,
  LOAD_SATURATED_SHARE,
  metric,
  metricMax,
  pgBackendPids,
  pool,
  startNatsServer,
  table,
  tempDir,
  usPer,
} from './support.js';

const MOSQUITTO = { host: '127.0.0.1', port: 1883 };
const DEFAULT_ROLES = 'ingest,api,projections';
const POLL_MS = 25;
const PROGRESS_MS = 20;
/** Connected devices per load process in the idle measurement. */
const IDLE_PER_PROCESS = 5_000;

// ---------------------------------------------------------------------------------------------
// /proc

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

const statusKiB = (pid: number, field: 'VmRSS' | 'VmHWM') => {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : Number.NaN;
};
const rssMiB = (pid: number) => statusKiB(pid, 'VmRSS') / 1024;

/** Busy CPU-seconds of the whole machine so far (all cores; /proc/stat, excluding idle and iowait). */
const machineBusySeconds = () => {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
};

interface ProcStats {
  cpuPercent: number;
  peakRssMiB: number;
  lastRssMiB: number;
}

/** Samples each process's RSS every 100 ms until `stop`, which also gives its CPU% over the span. */
const watchProcs = (pids: Record<string, number | undefined>) => {
  const t0 = performance.now();
  const start: Record<string, number> = {};
  const peak: Record<string, number> = {};
  const last: Record<string, number> = {};
  const live = Object.entries(pids).filter((e): e is [string, number] => e[1] !== undefined);
  const sample = () => {
    for (const [name, pid] of live) {
      try {
        const r = rssMiB(pid);
        last[name] = r;
        peak[name] = Math.max(peak[name] ?? 0, r);
      } catch {} // exited
    }
  };
  for (const [name, pid] of live) {
    try {
      start[name] = cpuSeconds(pid);
    } catch {}
  }
  const busy0 = machineBusySeconds();
  sample();
  const timer = setInterval(sample, 100);
  return (): Record<string, ProcStats> & { machine: ProcStats } => {
    clearInterval(timer);
    sample();
    const secs = (performance.now() - t0) / 1000;
    const machine = { cpuPercent: ((machineBusySeconds() - busy0) / secs) * 100, peakRssMiB: Number.NaN, lastRssMiB: Number.NaN };
    const out: Record<string, ProcStats> & { machine: ProcStats } = { machine };
    for (const [name, pid] of live) {
      let cpu = Number.NaN;
      try {
        cpu = ((cpuSeconds(pid) - (start[name] ?? 0)) / secs) * 100;
      } catch {}
      out[name] = { cpuPercent: cpu, peakRssMiB: peak[name] ?? Number.NaN, lastRssMiB: last[name] ?? Number.NaN };
    }
    return out;
  };
};

// ---------------------------------------------------------------------------------------------
// The load process

type EventOf<T extends LoadEvent['type']> = Extract<LoadEvent, { type: T }>;

class LoadProcess {
  readonly child: ChildProcess;
  private listeners = new Set<(e: LoadEvent) => void>();
  private exitError: Error | undefined;

  constructor(cfg: LoadConfig) {
    this.child = spawn(process.execPath, [join(packageRoot, 'dist/bench/gpsLoad.js'), JSON.stringify(cfg)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let e: LoadEvent;
      try {
        e = JSON.parse(line) as LoadEvent;
      } catch {
        return console.error(`  load: ${line}`);
      }
      if (e.type === 'fatal') console.error(`  load process failed: ${e.message}`);
      for (const l of [...this.listeners]) l(e);
    });
    this.child.once('exit', (code, signal) => {
      this.exitError = new Error(`load process exited (${code ?? signal})`);
      for (const l of [...this.listeners]) l({ type: 'fatal', message: this.exitError.message });
    });
  }

  get pid() {
    return this.child.pid;
  }

  on(fn: (e: LoadEvent) => void) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The next event of `type` (register before causing it). */
  next<T extends LoadEvent['type']>(type: T, timeoutMs: number): Promise<EventOf<T>> {
    return new Promise((resolve, reject) => {
      if (this.exitError) return reject(this.exitError);
      const timer = setTimeout(() => {
        off();
        reject(new Error(`load process: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on((e) => {
        if (e.type === type) {
          clearTimeout(timer);
          off();
          resolve(e as EventOf<T>);
        } else if (e.type === 'fatal') {
          clearTimeout(timer);
          off();
          reject(new Error(e.message));
        }
      });
    });
  }

  send(cmd: PhaseCommand | { cmd: 'quit' }) {
    this.child.stdin?.write(`${JSON.stringify(cmd)}\n`);
  }

  async quit() {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ cmd: 'quit' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

const startLoad = async (cfg: LoadConfig, timeoutMs = 180_000) => {
  const load = new LoadProcess(cfg);
  const connected = await load.next('connected', timeoutMs).catch(async (e: unknown) => {
    load.child.kill('SIGKILL');
    throw e;
  });
  if (connected.failed > 0) console.error(`  ${connected.failed} device(s) could not connect: ${connected.firstError ?? ''}`);
  return { load, connected };
};

/**
 * Several load processes driven as one: commands go to all (an open-loop rate split between
 * them), their events come back merged: `start` once all started (earliest time), `p` with the
 * sums of each one's latest counts, `s` once all sent that second (histograms merged), `end` once
 * all ended (latest time), `result` once all answered (sums; latency from the merged histograms).
 */
class LoadGroup {
  private listeners = new Set<(e: LoadEvent) => void>();
  private starts: EventOf<'start'>[] = [];
  private ends: EventOf<'end'>[] = [];
  private results: PhaseResult[] = [];
  private latest: { sent: number; acked: number }[];
  private seconds = new Map<number, string[]>();

  constructor(readonly procs: LoadProcess[]) {
    this.latest = procs.map(() => ({ sent: 0, acked: 0 }));
    for (const [k, p] of procs.entries()) p.on((e) => this.merge(k, e));
  }

  get pids() {
    return this.procs.map((p) => p.pid).filter((pid): pid is number => pid !== undefined);
  }

  private emit(e: LoadEvent) {
    for (const l of [...this.listeners]) l(e);
  }

  private merge(k: number, e: LoadEvent) {
    const n = this.procs.length;
    if (e.type === 'start') {
      this.latest[k] = { sent: 0, acked: 0 };
      this.starts.push(e);
      if (this.starts.length === n) this.emit({ ...e, t: Math.min(...this.starts.map((x) => x.t)) });
    } else if (e.type === 'p') {
      this.latest[k] = { sent: e.sent, acked: e.acked };
      const sum = this.latest.reduce((a, b) => ({ sent: a.sent + b.sent, acked: a.acked + b.acked }), { sent: 0, acked: 0 });
      this.emit({ type: 'p', t: e.t, ...sum });
    } else if (e.type === 's') {
      const got = [...(this.seconds.get(e.i) ?? []), e.h];
      this.seconds.set(e.i, got);
      if (got.length === n) {
        this.seconds.delete(e.i);
        this.emit({ type: 's', i: e.i, h: '', p99Ms: latencyStats(mergeLatency(got)).p99 });
      }
    } else if (e.type === 'end') {
      this.ends.push(e);
      if (this.ends.length === n) this.emit({ ...e, t: Math.max(...this.ends.map((x) => x.t)) });
    } else if (e.type === 'result') {
      this.results.push(e);
      if (this.results.length === n) {
        const rs = this.results;
        this.starts = [];
        this.ends = [];
        this.results = [];
        this.seconds.clear();
        const sum = (f: (r: PhaseResult) => number) => rs.reduce((a, r) => a + f(r), 0);
        const errored = rs.find((r) => r.firstError);
        const processed = rs.map((r) => r.processedSeconds).filter((x): x is number => x !== undefined);
        this.emit({
          type: 'result',
          name: e.name,
          qos: e.qos,
          seconds: Math.max(...rs.map((r) => r.seconds)),
          sent: sum((r) => r.sent),
          acked: sum((r) => r.acked),
          ackedLate: sum((r) => r.ackedLate),
          unacked: sum((r) => r.unacked),
          fences: sum((r) => r.fences),
          ...(processed.length > 0 ? { processedSeconds: Math.max(...processed) } : {}),
          skipped: sum((r) => r.skipped),
          errors: sum((r) => r.errors),
          disconnects: sum((r) => r.disconnects),
          ...(errored?.firstError ? { firstError: errored.firstError } : {}),
          latency: latencyStats(mergeLatency(rs.map((r) => r.latencyHistogram))),
          payloadBytes: e.payloadBytes,
          cpuPercent: sum((r) => r.cpuPercent),
          loopDelayP99: Math.max(...rs.map((r) => r.loopDelayP99)),
        });
      }
    } else if (e.type === 'fatal') this.emit(e);
  }

  on(fn: (e: LoadEvent) => void) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** The next merged event of `type` (register before causing it). */
  next<T extends LoadEvent['type']>(type: T, timeoutMs: number): Promise<EventOf<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`load processes: no "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on((e) => {
        if (e.type === type || e.type === 'fatal') {
          clearTimeout(timer);
          off();
          if (e.type === 'fatal') reject(new Error(e.message));
          else resolve(e as EventOf<T>);
        }
      });
    });
  }

  send(cmd: PhaseCommand) {
    const n = this.procs.length;
    this.procs.forEach((p, k) => {
      // An open-loop rate is split so that the processes together offer `rate`.
      const rate = cmd.rate ? Math.floor(cmd.rate / n) + (k < cmd.rate % n ? 1 : 0) : undefined;
      p.send({ ...cmd, ...(rate ? { rate } : {}) });
    });
  }

  quit() {
    return Promise.all(this.procs.map((p) => p.quit()));
  }
}

/** `procs` load processes, each with its slice of [0, cfg.count) of the devices. */
const startLoads = async (cfg: LoadConfig, procs: number) => {
  const n = Math.max(1, Math.min(procs, cfg.count));
  const per = Math.ceil(cfg.count / n);
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, k) =>
      startLoad({ ...cfg, from: cfg.from + k * per, count: Math.min(per, cfg.count - k * per) }),
    ),
  );
  const ok = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failure = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failure) {
    await Promise.all(ok.map((l) => l.load.quit()));
    throw failure.reason;
  }
  const connected = {
    devices: ok.reduce((a, l) => a + l.connected.devices, 0),
    ms: Math.max(...ok.map((l) => l.connected.ms)),
  };
  return { load: new LoadGroup(ok.map((l) => l.load)), connected };
};

// ---------------------------------------------------------------------------------------------
// The gateway's side: counts in ClickHouse and metrics

interface Gateway {
  url: string;
  /** The internal listener (METRICS_PORT), where `/metrics` is served. */
  metricsUrl: string;
  child: ChildProcess;
}

const analyticsCount = async (gw: Gateway): Promise<number> => {
  const res = await fetch(`${gw.url}/api/v1/analytics/query`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sql: 'SELECT count() AS n FROM fleetgate.gps_tracking' }),
  });
  const body = (await res.json()) as { rows?: { n: string | number }[] };
  if (!res.ok) throw new Error(`analytics query: ${res.status} ${JSON.stringify(body)}`);
  return Number(body.rows?.[0]?.n ?? 0);
};

interface GatewayCounters {
  accepted: number;
  batches: number;
  batchPoints: number;
  appendSeconds: number;
  pauses: number;
  refusals: number;
  connections: number;
  /** Event-loop delay since the previous scrape (prom-client resets its histogram on each). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
  durableBuckets: Map<number, number>;
}

const counters = async (gw: Gateway): Promise<GatewayCounters> => {
  const text = await (await fetch(`${gw.metricsUrl}/metrics`)).text();
  return {
    accepted: metric(text, 'fleetgate_gps_points_accepted_total', 'source="mqtt"'),
    batches: metric(text, 'fleetgate_gps_batch_points_count', 'source="mqtt"'),
    batchPoints: metric(text, 'fleetgate_gps_batch_points_sum', 'source="mqtt"'),
    appendSeconds: metric(text, 'fleetgate_gps_append_duration_seconds_sum', 'source="mqtt"'),
    pauses: metric(text, 'fleetgate_mqtt_intake_pauses_total'),
    refusals: metric(text, 'fleetgate_mqtt_refusals_total'),
    connections: metric(text, 'fleetgate_mqtt_connections'),
    loopDelayP99Ms: metricMax(text, 'fleetgate_nodejs_eventloop_lag_p99_seconds') * 1000,
    loopDelayMaxMs: metricMax(text, 'fleetgate_nodejs_eventloop_lag_max_seconds') * 1000,
    durableBuckets: buckets(text, 'fleetgate_gps_durable_seconds', 'source="mqtt"'),
  };
};

/** Polls the row count until stopped; returns (arrival time, count) pairs. */
const pollCount = (gw: Gateway) => {
  const polls: { t: number; n: number; rttMs: number }[] = [];
  let running = true;
  let failures = 0;
  const done = (async () => {
    while (running) {
      const t0 = Date.now();
      try {
        const n = await analyticsCount(gw);
        polls.push({ t: Date.now(), n, rttMs: Date.now() - t0 });
      } catch {
        failures++;
      }
      const wait = POLL_MS - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
  return {
    polls,
    latest: () => polls[polls.length - 1]?.n,
    stop: async () => {
      running = false;
      await done;
      return failures;
    },
  };
};

const percentile = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
};

/** For each progress sample (t, sent): ms until a poll that arrived after t showed base + sent rows. */
const visibility = (progress: { t: number; sent: number }[], polls: { t: number; n: number }[], base: number) => {
  const lat: number[] = [];
  let unseen = 0;
  let j = 0;
  for (const p of progress) {
    if (p.sent === 0) continue;
    while (j < polls.length && ((polls[j]?.t ?? 0) < p.t || (polls[j]?.n ?? 0) - base < p.sent)) j++;
    const hit = polls[j];
    if (!hit) {
      unseen++;
      continue;
    }
    lat.push(hit.t - p.t);
  }
  return {
    samples: lat.length,
    unseen,
    p50: percentile(lat, 50),
    p99: unseen > 0 ? Number.POSITIVE_INFINITY : percentile(lat, 99),
    max: unseen > 0 ? Number.POSITIVE_INFINITY : Math.max(...lat),
  };
};

// ---------------------------------------------------------------------------------------------
// Phases

interface Row {
  target: string;
  /** Stable key of the target for figure keys (`mosquitto`, `aedes`, `embedded` …). */
  targetKey: string;
  phase: string;
  qos: 0 | 1;
  rate?: number;
  seconds: number;
  sentPerSec: number;
  /** QoS 1: PUBACKed before the deadline per s; QoS 0: points sent / time until the closing fences were PUBACKed. */
  acceptedPerSec?: number;
  pubackP50?: number;
  pubackP99?: number;
  pubackMax?: number;
  visibleP50?: number;
  visibleP99?: number;
  visibleMax?: number;
  visibleSamples?: number;
  serverCpuPercent: number;
  serverPeakRssMiB: number;
  auxCpuPercent?: number;
  /** The projections process, when they run beside the gateway (`jetstream-split`). */
  projectorCpuPercent?: number;
  /** All load processes together (100 = one core). */
  loadCpuPercent: number;
  /** Each load process's share of a core (0..1) over the timed span. */
  loadCpu: number[];
  /** Some load process at ≥ LOAD_SATURATED_SHARE of a core: the figure measured the load too. */
  loadSaturated: boolean;
  /** Postgres backends of the target's database (JetStream+PG targets). */
  pgCpuPercent?: number;
  /** µs of CPU per point PUBACKed in the timed span: the server (all its threads), nats-server, Postgres backends. */
  cpuUsPerPoint?: { server: number; nats?: number; pg?: number };
  /** Per second of the phase: points PUBACKed (QoS 1) or sent (QoS 0), and publish→PUBACK p99 ms. */
  perSecond: { throughput: [number, number][]; p99: [number, number][] };
  /** Busy CPU of the whole machine minus server, aux and load process: someone else's work. */
  otherCpuPercent: number;
  loadLoopDelayP99: number;
  failed: number;
  payloadBytes: number;
  /** The timed span on the monotonic clock in µs (the clock of `node --cpu-prof` profiles), to slice a profile. */
  monotonicUs: [number, number];
  gateway?: {
    /** Points the gateway counted as accepted (its metric) between start and deadline, per s. */
    acceptedPerSecInWindow: number;
    avgBatchPoints: number;
    avgAppendMs: number;
    intakePauses: number;
    refusals: number;
    loopDelayP99Ms: number;
    /** Inside the gateway, from the points being queued to durable (histogram bucket bounds). */
    durableP50Ms: number;
    durableP99Ms: number;
    loopDelayMaxMs: number;
    pollRttP50: number;
  };
  load: PhaseResult;
}

interface Server {
  pid: number | undefined;
  auxPid?: number | undefined;
  /** The scratch database whose backends are the gateway's (JetStream+PG targets). */
  pgDatabase?: string;
  gateway?: Gateway;
  /** The process running the projections when it is not the gateway (its API answers the ClickHouse polls). */
  projector?: Gateway;
  /** Poll ClickHouse for the points (the gateway or the projector runs the projections). */
  visible?: boolean;
}

const runPhase = async (
  target: string,
  targetKey: string,
  load: LoadGroup,
  server: Server,
  spec: { phase: string; qos: 0 | 1; seconds: number; rate?: number; window?: number; nonce: string },
): Promise<Row> => {
  const gw = server.gateway;
  const progress: { t: number; sent: number; acked: number }[] = [];
  const p99s: [number, number][] = [];
  const off = load.on((e) => {
    if (e.type === 'p') progress.push({ t: e.t, sent: e.sent, acked: e.acked });
    else if (e.type === 's' && e.p99Ms !== undefined) p99s.push([e.i + 1, e.p99Ms]);
  });
  const chGw = server.projector ?? gw;
  const base = chGw && server.visible ? await analyticsCount(chGw) : 0;
  // The ClickHouse polls (an analytics query every 25 ms) cost the gateway a tenth of its CPU in
  // the profiles: only the paced phase, where visibility is judged, polls while timed; the others
  // poll after the deadline (waiting for their points), so their CPU per point is the points' own.
  const pollWhileTimed = spec.rate !== undefined;
  let poller = chGw && server.visible && pollWhileTimed ? pollCount(chGw) : undefined;
  const started = load.next('start', 30_000);
  const ended = load.next('end', spec.seconds * 1000 + 60_000);
  const result = load.next('result', spec.seconds * 1000 + 120_000);
  load.send({
    cmd: 'phase',
    name: spec.phase,
    qos: spec.qos,
    seconds: spec.seconds,
    nonce: spec.nonce,
    ...(spec.rate ? { rate: spec.rate } : {}),
    ...(spec.window ? { window: spec.window } : {}),
  });
  const start = await started;
  // A line every 2 s while the phase runs: what the load saw in the last second.
  let shown = 0;
  const ticker = setInterval(() => {
    const last = progress[progress.length - 1];
    const prev = [...progress].reverse().find((p) => last && p.t <= last.t - 1000);
    if (!last || !prev) return;
    const n = spec.qos === 1 ? last.acked - prev.acked : last.sent - prev.sent;
    shown += 2;
    console.error(
      `    ${target} ${spec.phase}: ${shown} s, ${fmtInt((n * 1000) / (last.t - prev.t))} points/s${p99s.length ? `, p99 ${fmtMs(p99s[p99s.length - 1]?.[1])} ms` : ''}`,
    );
  }, 2_000);
  const mono0 = Number(process.hrtime.bigint() / 1000n);
  const loadPids = load.pids;
  const stopWatch = watchProcs({
    server: server.pid,
    aux: server.auxPid,
    proj: server.projector?.child.pid,
    ...Object.fromEntries(loadPids.map((pid, k) => [`load${k}`, pid])),
  });
  const pgDb = server.pgDatabase;
  const stopCpu = cpuMeter({
    server: () => (server.pid ? [server.pid] : []),
    nats: () => (server.auxPid ? [server.auxPid] : []),
    pg: () => (pgDb ? pgBackendPids(pgDb) : []),
  });
  const c0 = gw ? await counters(gw) : undefined;
  const end = await ended.finally(() => clearInterval(ticker));
  const mono1 = Number(process.hrtime.bigint() / 1000n);
  const procs = stopWatch();
  const cpu = stopCpu();
  const c1 = gw ? await counters(gw) : undefined;
  const r = await result;
  off();

  let vis: ReturnType<typeof visibility> | undefined;
  let pollRtt = Number.NaN;
  if (chGw && server.visible && !poller) poller = pollCount(chGw);
  if (gw && poller) {
    // Wait until every point of the phase is in ClickHouse (or the count stops moving).
    const expected = spec.qos === 1 ? r.acked + r.ackedLate : r.sent + r.fences;
    const deadline = Date.now() + 60_000;
    let stableSince = Date.now();
    let lastN = -1;
    for (;;) {
      const n = poller.latest() ?? base;
      if (n - base >= expected) break;
      if (n !== lastN) {
        lastN = n;
        stableSince = Date.now();
      }
      if (Date.now() - stableSince > 3_000 || Date.now() > deadline) {
        console.error(`  ${target} ${spec.phase}: ${n - base} of ${expected} points visible in ClickHouse`);
        break;
      }
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
    await poller.stop();
    pollRtt = percentile(
      poller.polls.map((p) => p.rttMs),
      50,
    );
    if (spec.qos === 1 && pollWhileTimed)
      vis = visibility(
        progress.filter((p) => p.t <= end.t),
        poller.polls,
        base,
      );
  }
  const seconds = r.seconds;
  // QoS 1: PUBACKed before the deadline. QoS 0: all sent, over the time until the fences were PUBACKed.
  const accepted = spec.qos === 1 ? r.acked / seconds : r.processedSeconds ? r.sent / r.processedSeconds : undefined;
  const loadCpu = loadPids.map((_, k) => (procs[`load${k}`]?.cpuPercent ?? Number.NaN) / 100);
  const loadCpuPercent = loadCpu.reduce((a, b) => a + b, 0) * 100;
  // CPU per point: over the timed span, per point PUBACKed in it (QoS 1; a QoS 0 point's handling
  // may fall after the span, so none is given).
  const cpuUsPerPoint =
    spec.qos === 1 && r.acked > 0
      ? {
          server: usPer(cpu.cpu.server, r.acked),
          ...(server.auxPid ? { nats: usPer(cpu.cpu.nats, r.acked) } : {}),
          ...(pgDb ? { pg: usPer(cpu.cpu.pg, r.acked) } : {}),
        }
      : undefined;
  const t0s = start.t;
  const throughput: [number, number][] = [];
  for (let sec = 1, j = 0, prev = 0; sec <= Math.ceil(spec.seconds); sec++) {
    while (j + 1 < progress.length && (progress[j + 1]?.t ?? 0) <= t0s + sec * 1000) j++;
    const p = progress[j];
    if (!p) break;
    const count = spec.qos === 1 ? p.acked : p.sent;
    throughput.push([sec, count - prev]);
    prev = count;
  }
  const row: Row = {
    target,
    targetKey,
    phase: spec.phase,
    qos: spec.qos,
    ...(spec.rate ? { rate: spec.rate } : {}),
    seconds,
    sentPerSec: r.sent / seconds,
    ...(accepted === undefined ? {} : { acceptedPerSec: accepted }),
    ...(spec.qos === 1 ? { pubackP50: r.latency.p50, pubackP99: r.latency.p99, pubackMax: r.latency.max } : {}),
    ...(vis ? { visibleP50: vis.p50, visibleP99: vis.p99, visibleMax: vis.max, visibleSamples: vis.samples } : {}),
    serverCpuPercent: procs.server?.cpuPercent ?? Number.NaN,
    serverPeakRssMiB: procs.server?.peakRssMiB ?? Number.NaN,
    ...(procs.aux ? { auxCpuPercent: procs.aux.cpuPercent } : {}),
    ...(procs.proj ? { projectorCpuPercent: procs.proj.cpuPercent } : {}),
    loadCpuPercent,
    loadCpu,
    loadSaturated: loadCpu.some((c) => c >= LOAD_SATURATED_SHARE),
    ...(pgDb ? { pgCpuPercent: ((cpu.cpu.pg ?? 0) / cpu.seconds) * 100 } : {}),
    ...(cpuUsPerPoint ? { cpuUsPerPoint } : {}),
    perSecond: { throughput, p99: p99s },
    otherCpuPercent: Math.max(
      0,
      procs.machine.cpuPercent -
        (procs.server?.cpuPercent ?? 0) -
        (procs.aux?.cpuPercent ?? 0) -
        (procs.proj?.cpuPercent ?? 0) -
        ((cpu.cpu.pg ?? 0) / cpu.seconds) * 100 -
        loadCpuPercent,
    ),
    loadLoopDelayP99: r.loopDelayP99,
    failed: r.errors + r.unacked + r.skipped + r.disconnects,
    payloadBytes: r.payloadBytes,
    monotonicUs: [mono0, mono1],
    ...(c0 && c1
      ? {
          gateway: {
            acceptedPerSecInWindow: (c1.accepted - c0.accepted) / ((end.t - start.t) / 1000),
            avgBatchPoints: (c1.batchPoints - c0.batchPoints) / Math.max(1, c1.batches - c0.batches),
            avgAppendMs: ((c1.appendSeconds - c0.appendSeconds) / Math.max(1, c1.batches - c0.batches)) * 1000,
            intakePauses: c1.pauses - c0.pauses,
            refusals: c1.refusals - c0.refusals,
            loopDelayP99Ms: c1.loopDelayP99Ms,
            loopDelayMaxMs: c1.loopDelayMaxMs,
            ...durableShare(c0.durableBuckets, c1.durableBuckets),
            pollRttP50: pollRtt,
          },
        }
      : {}),
    load: r,
  };
  const extra = row.gateway
    ? `, batch ${fmtInt(row.gateway.avgBatchPoints)} pts / append ${fmtMs(row.gateway.avgAppendMs)} ms, pauses ${row.gateway.intakePauses}, event-loop delay p99 ${fmtMs(row.gateway.loopDelayP99Ms)} / max ${fmtMs(row.gateway.loopDelayMaxMs)} ms, ${fmtDurable(row.gateway)}`
    : '';
  console.error(
    `  ${target} ${spec.phase}: ${fmtInt(row.acceptedPerSec ?? row.sentPerSec)} points/s` +
      (spec.qos === 1 ? `, PUBACK p99 ${fmtMs(row.pubackP99)} ms` : '') +
      (vis ? `, visible p99 ${fmtMs(vis.p99)} ms` : '') +
      `, server CPU ${Math.round(row.serverCpuPercent)}%` +
      (cpuUsPerPoint ? ` = ${fmtInt(cpuUsPerPoint.server)} µs/point` : '') +
      (cpuUsPerPoint?.nats !== undefined ? ` (+nats ${fmtInt(cpuUsPerPoint.nats)}` : '') +
      (cpuUsPerPoint?.pg !== undefined
        ? `, +pg ${fmtInt(cpuUsPerPoint.pg)} µs/point)`
        : cpuUsPerPoint?.nats !== undefined
          ? ')'
          : '') +
      `, load CPU ${loadCpu.map((c) => `${Math.round(c * 100)}%`).join('+')}${row.loadSaturated ? ' (SATURATED)' : ''}, other ${Math.round(row.otherCpuPercent)}%, failed ${row.failed}${extra}`,
  );
  if (r.firstError) console.error(`    first error: ${r.firstError}`);
  return row;
};

// ---------------------------------------------------------------------------------------------

const accepts = (host: string, port: number) =>
  new Promise<boolean>((resolve) => {
    const s = tcpConnect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface IdleResult {
  target: string;
  devices: number;
  connected: number;
  failed: number;
  connectSeconds: number;
  /** After start-up and registering the devices, before any load. */
  rssAtReadyMiB: number;
  /** After the load phases, before the idle devices connect. */
  rssBeforeMiB: number;
  /** Right after the last device connected: V8's heap still at the high-water mark of the load phases. */
  rssConnectedMiB: number;
  /** Sampled `idleSettle` seconds later, once V8's memory reducer shrank the heap of an idle process. */
  rssMiB: number;
  peakRssMiB: number;
  hwmMiB: number;
  serverConnections?: number;
  loadProcesses: number;
}

export const runGpsBench = async (args: string[]): Promise<BenchResult> => {
  const opt = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  /** Load processes for the devices (each its own process; 2 keeps each well under a core on this 2-core machine). */
  const loadProcs = Math.max(1, Number(opt('load-procs') ?? 2));
  /** Seeds the point ids (nonces) of the phases: nothing else here is random. */
  const seed = Number(opt('seed') ?? 1);
  let phaseCounter = 0;
  const devices = Number(opt('devices') ?? 2_000);
  const seconds = Number(opt('seconds') ?? 10);
  const warmup = Number(opt('warmup') ?? 2);
  const rate = Number(opt('rate') ?? 10_000);
  const idle = Number(opt('idle') ?? 10_000);
  /** Seconds between the last idle device connecting and the RSS sampling. */
  const idleSettle = Number(opt('idle-settle') ?? 30);
  const window = Number(opt('window') ?? 1);
  const only = opt('only')?.split(',');
  const roles = opt('roles') ?? DEFAULT_ROLES;
  if (!roles.split(',').includes('api') || !roles.split(',').includes('ingest')) {
    throw new Error('--roles needs ingest and api (devices are registered through the API)');
  }
  /** Without the projections role nothing reaches ClickHouse: no visibility measurement. */
  const visible = roles.split(',').includes('projections');
  /** Writes the gateway's CPU profile (node --cpu-prof) into this directory when it exits. */
  const cpuProfDir = opt('cpu-prof');
  const profileArgs = (name: string) => cpuProfileArgs(cpuProfDir, name);
  const want = (n: string) => (only ? only.includes(n) : !n.startsWith('jetstream'));
  const startedAt = new Date();
  const rows: Row[] = [];
  const idles: IdleResult[] = [];
  const errors: { target: string; error: string }[] = [];

  const phases = (withRate: boolean) => [
    { phase: 'QoS 1 max', qos: 1 as const, seconds, window },
    { phase: 'QoS 0 max', qos: 0 as const, seconds },
    ...(withRate && rate > 0 ? [{ phase: `QoS 1 @${fmtInt(rate)}/s`, qos: 1 as const, seconds, rate }] : []),
  ];

  /** Connects the devices, warms up, runs the phases. */
  const drive = async (target: string, key: string, server: Server, cfg: Omit<LoadConfig, 'from' | 'count'>) => {
    const { load, connected } = await startLoads({ ...cfg, from: 0, count: devices, progressMs: PROGRESS_MS }, loadProcs);
    console.error(
      `  ${target}: ${connected.devices} devices connected in ${fmtInt(connected.ms)} ms (${load.procs.length} load processes)`,
    );
    try {
      const nonce = () => ((seed * 65_536 + ++phaseCounter) >>> 0).toString(16).padStart(8, '0');
      if (warmup > 0)
        await runPhase(target, key, load, server, { phase: 'warm-up', qos: 1, seconds: warmup, window, nonce: nonce() });
      for (const p of phases(true)) rows.push(await runPhase(target, key, load, server, { ...p, nonce: nonce() }));
    } finally {
      await load.quit();
    }
  };

  // 1. Mosquitto
  if (want('mosquitto')) {
    const target = 'Mosquitto :1883';
    try {
      if (!(await accepts(MOSQUITTO.host, MOSQUITTO.port))) throw new Error('nothing listens on 127.0.0.1:1883');
      const [pid, ...more] = findPids('mosquitto');
      if (more.length > 0) console.error(`  several mosquitto processes; measuring ${pid}`);
      console.error(`${target} (pid ${pid ?? '?'})`);
      await drive(
        target,
        'mosquitto',
        { pid },
        { host: MOSQUITTO.host, port: MOSQUITTO.port, prefix: `fgbench-${process.pid}-` },
      );
    } catch (e) {
      errors.push({ target, error: (e as Error).message });
      console.error(`  ${target}: ${(e as Error).message}`);
    }
  }

  // 2. Bare Aedes
  if (want('aedes')) {
    const target = 'bare Aedes';
    const child = spawn(process.execPath, [join(packageRoot, 'dist/bench/bareAedes.js')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const port = Number(await waitForLine(child, /^(\d+)\n/m, 10_000));
      console.error(`${target} (pid ${child.pid}, port ${port})`);
      await drive(target, 'aedes', { pid: child.pid }, { host: '127.0.0.1', port, prefix: 'dev-' });
    } catch (e) {
      errors.push({ target, error: (e as Error).message });
      console.error(`  ${target}: ${(e as Error).message}`);
    } finally {
      await stop(child);
    }
  }

  // 3, 4. The gateway
  /** A private nats-server and a scratch database on the machine's Postgres. */
  const jetStreamSetup = async () => {
    const [nats, db, dir] = await Promise.all([
      startNatsServer(),
      createScratchDatabase('fg_bench_gps'),
      tempDir('fg-bench-gps-'),
    ]);
    return {
      env: { DATA_DIR: dir.dir, NATS_URL: nats.url, DATABASE_URL: db.url },
      dir: dir.dir,
      auxPid: () => findPids('nats-server', String(nats.port))[0],
      pgDatabase: db.name,
      cleanup: async () => {
        await nats.stop();
        await db.drop();
        await dir.remove();
      },
    };
  };
  const gatewayTargets: {
    key: string;
    name: string;
    setup: () => Promise<{
      env: Record<string, string>;
      dir: string;
      auxPid?: () => number | undefined;
      pgDatabase?: string;
      cleanup(): Promise<void>;
    }>;
    /** Projections in a second process (`--roles projections,api`, its own DATA_DIR for chdb); the gateway runs the other roles. */
    split?: boolean;
  }[] = [
    {
      key: 'embedded',
      name: 'fleetgate embedded',
      setup: async () => {
        const dir = await tempDir('fg-bench-gps-');
        return { env: { DATA_DIR: dir.dir }, dir: dir.dir, cleanup: dir.remove };
      },
    },
    {
      key: 'jetstream',
      name: 'fleetgate JetStream+PG',
      setup: jetStreamSetup,
    },
    {
      key: 'jetstream-main',
      name: 'fleetgate JetStream+PG, ingest on the main thread',
      setup: async () => {
        const s = await jetStreamSetup();
        return { ...s, env: { ...s.env, INGEST_THREAD: 'main' } };
      },
    },
    {
      key: 'jetstream-split',
      name: 'fleetgate JetStream+PG, projections apart',
      split: true,
      setup: jetStreamSetup,
    },
  ];
  for (const t of gatewayTargets) {
    if (!want(t.key)) continue;
    const target = t.name;
    let setup: Awaited<ReturnType<typeof t.setup>> | undefined;
    let gw: Gateway | undefined;
    let projector: Gateway | undefined;
    let projDirRemove: (() => Promise<void>) | undefined;
    try {
      setup = await t.setup();
      const mqttPort = await freePort();
      const started = performance.now();
      gw = await startGateway(
        {
          ...setup.env,
          MQTT_PORT: String(mqttPort),
          // Every device connects from 127.0.0.1: the per-address connect rate would refuse most.
          MQTT_CONNECTS_PER_IP_PER_MINUTE: '0',
        },
        t.split
          ? roles
              .split(',')
              .filter((r) => r !== 'projections')
              .join(',')
          : roles,
        profileArgs(`gateway-${t.key}`),
      );
      const gateway = gw;
      if (t.split && visible) {
        const projDir = await tempDir('fg-bench-gps-proj-');
        projDirRemove = projDir.remove;
        projector = await startGateway(
          { ...setup.env, DATA_DIR: projDir.dir },
          'projections,api',
          profileArgs(`projector-${t.key}`),
        );
        console.error(`  projections in pid ${projector.child.pid}`);
      }
      let tail = '';
      const keep = (d: Buffer) => {
        tail = (tail + d.toString()).slice(-8000);
      };
      gw.child.stdout?.on('data', keep);
      gw.child.stderr?.on('data', keep);
      console.error(`${target} (pid ${gw.child.pid}, mqtt port ${mqttPort}, ready in ${fmtInt(performance.now() - started)} ms)`);

      // Register the devices (the idle measurement's too) and keep their tokens in a file for the load processes.
      const nDevices = Math.max(devices, idle);
      const creds: { id: string; token: string }[] = new Array(nDevices);
      const r0 = performance.now();
      await pool(nDevices, 32, async (i) => {
        const id = `bench-${i}`;
        const res = await fetch(`${gateway.url}/api/v1/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id }),
        });
        const body = (await res.json()) as { token?: string };
        if (res.status !== 201 || !body.token) throw new Error(`registering ${id}: ${res.status} ${JSON.stringify(body)}`);
        creds[i] = { id, token: body.token };
      });
      console.error(`  registered ${fmtInt(nDevices)} devices in ${fmtInt(performance.now() - r0)} ms`);
      const credentialsFile = join(setup.dir, 'bench-devices.json');
      await writeFile(credentialsFile, JSON.stringify(creds));

      const rssAtReady = rssMiB(gw.child.pid as number);
      console.error(`  gateway RSS after start-up and registration: ${fmtInt(rssAtReady)} MiB`);
      const server: Server = {
        pid: gw.child.pid,
        auxPid: setup.auxPid?.(),
        ...(setup.pgDatabase ? { pgDatabase: setup.pgDatabase } : {}),
        gateway: gw,
        visible,
        ...(projector ? { projector } : {}),
      };
      try {
        await drive(target, t.key, server, { host: '127.0.0.1', port: mqttPort, credentialsFile });
      } catch (e) {
        throw new Error(`${(e as Error).message}\n--- gateway output ---\n${tail}`);
      }

      if (idle > 0) {
        const pid = gw.child.pid as number;
        await sleep(1_000);
        const rssBefore = rssMiB(pid);
        const procs = Math.ceil(idle / IDLE_PER_PROCESS);
        const per = Math.ceil(idle / procs);
        const c0 = performance.now();
        const loads = await Promise.all(
          Array.from({ length: procs }, (_, k) =>
            startLoad(
              {
                host: '127.0.0.1',
                port: mqttPort,
                credentialsFile,
                from: k * per,
                count: Math.min(per, idle - k * per),
                connectConcurrency: 50,
              },
              300_000,
            ),
          ),
        );
        try {
          const connectSeconds = (performance.now() - c0) / 1000;
          const connected = loads.reduce((s, l) => s + l.connected.devices, 0);
          const failed = loads.reduce((s, l) => s + l.connected.failed, 0);
          const rssConnected = rssMiB(pid);
          await sleep(idleSettle * 1000);
          const stopWatch = watchProcs({ server: pid });
          await sleep(3_000);
          const st = stopWatch().server as ProcStats;
          const c = await counters(gw);
          const r: IdleResult = {
            target,
            devices: idle,
            connected,
            failed,
            connectSeconds,
            rssAtReadyMiB: rssAtReady,
            rssBeforeMiB: rssBefore,
            rssConnectedMiB: rssConnected,
            rssMiB: st.lastRssMiB,
            peakRssMiB: st.peakRssMiB,
            hwmMiB: statusKiB(pid, 'VmHWM') / 1024,
            serverConnections: c.connections,
            loadProcesses: procs,
          };
          idles.push(r);
          console.error(
            `  ${target}: ${fmtInt(connected)} idle devices (${procs} load processes, connected in ${connectSeconds.toFixed(1)} s): RSS ${fmtInt(r.rssMiB)} MiB ${idleSettle} s later (before ${fmtInt(rssBefore)} MiB, just connected ${fmtInt(rssConnected)} MiB, lifetime peak ${fmtInt(r.hwmMiB)} MiB)`,
          );
        } finally {
          await Promise.all(loads.map((l) => l.load.quit()));
        }
      }
    } catch (e) {
      errors.push({ target, error: (e as Error).message });
      console.error(`  ${target}: ${(e as Error).message}`);
    } finally {
      if (gw) await stop(gw.child);
      if (projector) await stop(projector.child);
      await projDirRemove?.();
      await setup?.cleanup();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Report
  const totalSeconds = (Date.now() - startedAt.getTime()) / 1000;
  const payload = rows.find((r) => r.payloadBytes > 0)?.payloadBytes ?? 0;
  console.log(
    `\nGPS over MQTT 3.1.1: ${fmtInt(devices)} devices (raw MQTT from ${loadProcs} load process(es)), ~${Math.round(payload)}-byte points, ${seconds} s per phase; ` +
      `QoS 1 max = each device keeps ${window} message(s) in flight (stop-and-wait at 1); QoS 0 max = next points as soon as the socket takes them (a QoS 1 point awaited after every 16), ` +
      'accepted/s = points sent / time until a closing QoS 1 point per device was PUBACKed; ' +
      `@rate = open loop, round-robin over the devices. Gateway roles: ${roles}. CPU: 100% = one core (machine: ${cpus().length} cores); other = the machine's busy CPU not spent by the server, nats-server or the load process.\n`,
  );
  const ms = (n: number | undefined) => (n === Number.POSITIVE_INFINITY ? 'never' : fmtMs(n));
  console.log(
    table(
      [
        'target',
        'phase',
        '>sent/s',
        '>accepted/s',
        '>PUBACK p50',
        '>p99 ms',
        '>visible p50',
        '>p99 ms',
        '>server CPU%',
        '>peak RSS MiB',
        '>load CPU%',
        '>other CPU%',
        '>failed',
      ],
      rows.map((r) => [
        r.target,
        r.phase,
        fmtInt(r.sentPerSec),
        fmtInt(r.acceptedPerSec),
        fmtMs(r.pubackP50),
        fmtMs(r.pubackP99),
        ms(r.visibleP50),
        ms(r.visibleP99),
        fmtInt(r.serverCpuPercent) +
          (r.auxCpuPercent !== undefined ? ` (+nats ${fmtInt(r.auxCpuPercent)})` : '') +
          (r.projectorCpuPercent !== undefined ? ` (+proj ${fmtInt(r.projectorCpuPercent)})` : ''),
        fmtInt(r.serverPeakRssMiB),
        r.loadCpu.map((c) => fmtInt(c * 100)).join('+') + (r.loadSaturated ? ' SAT' : ''),
        fmtInt(r.otherCpuPercent),
        r.failed,
      ]),
    ),
  );
  const busy = rows.filter((r) => r.otherCpuPercent > 25);
  if (busy.length > 0) {
    console.log(
      `\nWARNING: other processes kept ${fmtInt(Math.max(...busy.map((r) => r.otherCpuPercent)))}% CPU busy during ${busy.length} of ${rows.length} phases ` +
        '(column "other CPU%"): on this machine that skews throughput and latency; compare phases with little "other" only.',
    );
  }
  const gwRows = rows.filter((r) => r.gateway);
  if (gwRows.length > 0) {
    console.log('\ngateway internals per phase (from its /metrics):');
    for (const r of gwRows) {
      const g = r.gateway as NonNullable<Row['gateway']>;
      console.log(
        `  ${r.target}, ${r.phase}: ${fmtInt(g.acceptedPerSecInWindow)} points/s accepted before the deadline, ${fmtInt(g.avgBatchPoints)} points per GPS append, ${fmtMs(g.avgAppendMs)} ms per append, ${g.intakePauses} intake pauses, ${g.refusals} refusals, event-loop delay p99 ${fmtMs(g.loopDelayP99Ms)} ms (max ${fmtMs(g.loopDelayMaxMs)}), ${fmtDurable(g)}; analytics poll round trip p50 ${fmtMs(g.pollRttP50)} ms`,
      );
    }
  }
  if (idles.length > 0) {
    console.log(
      `\nidle connected devices (RSS of the gateway: before they connect, right after, and sampled 3 s from ${idleSettle} s after, --idle-settle):`,
    );
    console.log(
      table(
        [
          'target',
          '>devices',
          '>connected',
          '>connect s',
          '>RSS at start MiB',
          '>RSS before MiB',
          '>just connected MiB',
          '>RSS MiB',
          '>peak MiB',
          '>lifetime peak MiB',
        ],
        idles.map((i) => [
          i.target,
          fmtInt(i.devices),
          fmtInt(i.connected),
          i.connectSeconds.toFixed(1),
          fmtInt(i.rssAtReadyMiB),
          fmtInt(i.rssBeforeMiB),
          fmtInt(i.rssConnectedMiB),
          fmtInt(i.rssMiB),
          fmtInt(i.peakRssMiB),
          fmtInt(i.hwmMiB),
        ]),
      ),
    );
  }

  const find = (target: string, phase: string) => rows.find((r) => r.target.startsWith(target) && r.phase === phase);
  const thr = (r: Row | undefined) => r?.acceptedPerSec ?? r?.sentPerSec;
  console.log('\nratios (same run):');
  for (const phase of ['QoS 1 max', 'QoS 0 max']) {
    const mos = thr(find('Mosquitto', phase));
    const aed = thr(find('bare Aedes', phase));
    if (mos && aed) console.log(`  ${phase}: bare Aedes / Mosquitto = ${(aed / mos).toFixed(2)}`);
    for (const g of rows.filter((r) => r.gateway && r.phase === phase)) {
      const v = thr(g) ?? 0;
      const parts = [
        aed ? `${((v / aed) * 100).toFixed(0)}% of bare Aedes` : undefined,
        mos ? `${(v / mos).toFixed(2)}× Mosquitto` : undefined,
      ].filter(Boolean);
      if (parts.length > 0) console.log(`  ${phase}: ${g.target} = ${parts.join(', ')}`);
    }
  }

  const cpuRows = rows.filter((r) => r.cpuUsPerPoint);
  if (cpuRows.length > 0) {
    console.log(
      "\nCPU per point PUBACKed (µs; QoS 1 phases; server = the broker or gateway process with all its threads, pg = the scratch database's backends; load CPU = each load process, % of a core; SAT = a load process at ≥ 90%: not judged):",
    );
    const aedesOf = (phase: string) => rows.find((x) => x.targetKey === 'aedes' && x.phase === phase);
    console.log(
      table(
        ['target', 'phase', '>points/s', '>server µs', '>× bare Aedes', '>nats µs', '>pg µs', '>all-in µs', '>load CPU%'],
        cpuRows.map((r) => {
          const c = r.cpuUsPerPoint as NonNullable<Row['cpuUsPerPoint']>;
          const a = aedesOf(r.phase)?.cpuUsPerPoint?.server;
          return [
            r.target,
            r.phase,
            fmtInt(r.acceptedPerSec),
            fmtInt(c.server),
            a ? (c.server / a).toFixed(2) : '',
            fmtInt(c.nats),
            fmtInt(c.pg),
            fmtInt(c.server + (c.nats ?? 0) + (c.pg ?? 0)),
            r.loadCpu.map((x) => fmtInt(x * 100)).join('+') + (r.loadSaturated ? ' SAT' : ''),
          ];
        }),
      ),
    );
  }

  console.log('\ntargets:');
  let pass = true;
  const check = (ok: boolean | undefined, text: string) => {
    if (ok === undefined) return console.log(`  n/a  ${text}`);
    pass &&= ok;
    console.log(`  ${ok ? 'PASS' : 'MISS'} ${text}`);
  };
  const aedQ1 = find('bare Aedes', 'QoS 1 max')?.acceptedPerSec;
  const mosQ1 = find('Mosquitto', 'QoS 1 max')?.acceptedPerSec;
  for (const t of gatewayTargets) {
    const q1 = rows.find((r) => r.target === t.name && r.phase === 'QoS 1 max');
    if (!q1) continue;
    const v = q1.acceptedPerSec ?? 0;
    check(
      aedQ1 ? v >= 0.5 * aedQ1 : undefined,
      `${t.name}: durable QoS 1 ${fmtInt(v)}/s = ${aedQ1 ? `${((v / aedQ1) * 100).toFixed(0)}%` : '?'} of bare Aedes ${fmtInt(aedQ1)}/s (target >= 50%)`,
    );
    check(
      mosQ1 ? v > mosQ1 : undefined,
      `${t.name}: durable QoS 1 ${fmtInt(v)}/s vs Mosquitto QoS 1 ${fmtInt(mosQ1)}/s (target: above)`,
    );
    const fixed = rows.find((r) => r.target === t.name && r.rate);
    if (fixed) {
      const achieved = fixed.acceptedPerSec ?? 0;
      check(
        (fixed.pubackP99 ?? Number.POSITIVE_INFINITY) < 50 && achieved >= 0.95 * rate,
        `${t.name}: p99 publish→PUBACK ${fmtMs(fixed.pubackP99)} ms at ${fmtInt(achieved)}/s (target < 50 ms at ${fmtInt(rate)}/s)`,
      );
      check(
        (fixed.visibleP99 ?? Number.POSITIVE_INFINITY) < 1000 && achieved >= 0.95 * rate,
        `${t.name}: p99 publish→queryable in ClickHouse ${ms(fixed.visibleP99)} ms at ${fmtInt(achieved)}/s (target < 1,000 ms)`,
      );
    }
    const i = idles.find((x) => x.target === t.name);
    if (i) {
      check(
        i.rssMiB < 600 && i.peakRssMiB < 600 && i.connected >= i.devices,
        `${t.name}: RSS ${fmtInt(i.peakRssMiB)} MiB with ${fmtInt(i.connected)} of ${fmtInt(i.devices)} devices connected (target < 600 MiB with 10,000)`,
      );
    }
  }
  // The same paced load against brokers that store nothing: the floor this machine and load
  // generator put under the PUBACK latency target.
  for (const floor of ['Mosquitto', 'bare Aedes']) {
    const f = rows.find((r) => r.target.startsWith(floor) && r.rate);
    if (f?.pubackP99 !== undefined)
      console.log(
        `  floor for publish→PUBACK: ${f.target} (no persistence) p99 ${fmtMs(f.pubackP99)} ms at ${fmtInt(f.acceptedPerSec ?? 0)}/s under the same paced load`,
      );
  }
  for (const r of rows.filter((x) => x.cpuUsPerPoint && !['mosquitto', 'aedes'].includes(x.targetKey))) {
    const a = rows.find((x) => x.targetKey === 'aedes' && x.phase === r.phase);
    const mine = r.cpuUsPerPoint?.server ?? Number.NaN;
    const theirs = a?.cpuUsPerPoint?.server;
    const saturated = r.loadSaturated || a?.loadSaturated;
    check(
      theirs === undefined || saturated ? undefined : mine <= 2 * theirs,
      `${r.target}, ${r.phase}: ${fmtInt(mine)} µs CPU per durable point in the gateway process = ${theirs ? (mine / theirs).toFixed(2) : '?'}× bare Aedes' ${fmtInt(theirs)} µs (target ≤ 2×)${saturated ? ' — load saturated, not judged' : ''}`,
    );
  }
  for (const e of errors) {
    pass = false;
    console.log(`ERROR ${e.target}: ${e.error.split('\n')[0]}`);
  }

  console.log(pass ? '\nevery judged target met' : '\nsome targets missed (or a target failed to run)');
  const result = gpsResult({
    rows,
    idles,
    errors,
    startedAt,
    totalSeconds,
    seed,
    rate,
    gatewayKeys: gatewayTargets.map((t) => t.key),
  });
  result.options = { devices, seconds, warmup, rate, idle, window, roles, loadProcs, ...(only ? { only: only.join(',') } : {}) };

  const dir = join(packageRoot, 'bench', 'results');
  await mkdir(dir, { recursive: true });
  const file = join(dir, `gps-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(
    file,
    `${JSON.stringify(
      {
        bench: 'gps',
        startedAt: startedAt.toISOString(),
        totalSeconds,
        machine: {
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model,
          memoryBytes: totalmem(),
          node: process.version,
          platform: process.platform,
        },
        settings: { devices, seconds, warmup, rate, idle, window, roles, pollMs: POLL_MS, progressMs: PROGRESS_MS },
        rows,
        idle: idles,
        errors,
        result,
      },
      (_k, v) => (v === Number.POSITIVE_INFINITY ? 'never' : Number.isNaN(v) ? null : v),
      2,
    )}\n`,
  );
  console.log(`\nwrote ${file} (${totalSeconds.toFixed(0)} s)`);
  return result;
};

const PHASE_KEY = (r: Row) => (r.rate ? 'qos1_rate' : r.qos === 1 ? 'qos1' : 'qos0');

/** The run in the shared result shape: figures beside bare Aedes' (the ceiling) from the same run. */
const gpsResult = (run: {
  rows: Row[];
  idles: IdleResult[];
  errors: { target: string; error: string }[];
  startedAt: Date;
  totalSeconds: number;
  seed: number;
  rate: number;
  gatewayKeys: string[];
}): BenchResult => {
  const { rows } = run;
  const figures: BenchFigure[] = [];
  const series: BenchSeries[] = [];
  const aedes = (phase: string) => rows.find((r) => r.targetKey === 'aedes' && r.phase === phase);
  const add = (f: BenchFigure) => {
    const met = judge(f);
    figures.push(met === undefined ? f : { ...f, met });
  };
  for (const r of rows) {
    const key = `gps.${r.targetKey}.${PHASE_KEY(r)}`;
    const isGateway = run.gatewayKeys.includes(r.targetKey);
    const a = r.targetKey === 'aedes' ? undefined : aedes(r.phase);
    const base = { loadSaturated: r.loadSaturated, loadCpu: r.loadCpu };
    const thr = r.acceptedPerSec ?? r.sentPerSec;
    const ceilingThr = a ? (a.acceptedPerSec ?? a.sentPerSec) : undefined;
    add({
      key: `${key}.points_per_s`,
      label: `${r.phase} points/s, ${r.target}`,
      value: thr,
      unit: 'ops/s',
      ...(a && ceilingThr !== undefined
        ? { ceiling: { label: `bare Aedes, ${a.phase}`, value: ceilingThr, loadSaturated: a.loadSaturated } }
        : {}),
      ...(isGateway && r.qos === 1 && !r.rate
        ? { target: { kind: 'ratio' as const, atLeast: 0.5, text: 'durable QoS 1 points/s ≥ 50% of bare Aedes' } }
        : {}),
      ...base,
    });
    if (r.cpuUsPerPoint) {
      const ceilingCpu = a?.cpuUsPerPoint?.server;
      add({
        key: `${key}.cpu_us_per_point`,
        label: `µs CPU per point PUBACKed (${isGateway ? 'gateway process, all threads' : 'broker process'}), ${r.phase}, ${r.target}`,
        value: r.cpuUsPerPoint.server,
        unit: 'µs CPU',
        ...(a && ceilingCpu !== undefined
          ? { ceiling: { label: `bare Aedes, ${a.phase}`, value: ceilingCpu, loadSaturated: a.loadSaturated } }
          : {}),
        ...(isGateway
          ? { target: { kind: 'ratio' as const, atMost: 2, text: "durable GPS point ≤ 2× bare Aedes' CPU per point" } }
          : {}),
        ...base,
      });
      if (r.cpuUsPerPoint.nats !== undefined)
        add({
          key: `${key}.nats_cpu_us_per_point`,
          label: `µs CPU per point in nats-server, ${r.phase}, ${r.target}`,
          value: r.cpuUsPerPoint.nats,
          unit: 'µs CPU',
          ...base,
        });
      if (r.cpuUsPerPoint.pg !== undefined)
        add({
          key: `${key}.pg_cpu_us_per_point`,
          label: `µs CPU per point in Postgres backends, ${r.phase}, ${r.target}`,
          value: r.cpuUsPerPoint.pg,
          unit: 'µs CPU',
          ...base,
        });
    }
    if (r.qos === 1 && r.pubackP99 !== undefined)
      add({
        key: `${key}.puback_p99_ms`,
        label: `p99 publish→PUBACK, ${r.phase}, ${r.target}`,
        value: r.pubackP99,
        unit: 'ms',
        ...(a?.pubackP99 !== undefined
          ? { ceiling: { label: `bare Aedes, ${a.phase}`, value: a.pubackP99, loadSaturated: a.loadSaturated } }
          : {}),
        ...(isGateway && r.rate
          ? { target: { kind: 'bound' as const, atMost: 50, text: `p99 publish→PUBACK < 50 ms at ${fmtInt(run.rate)}/s` } }
          : {}),
        ...base,
      });
    if (r.visibleP99 !== undefined && r.rate)
      add({
        key: `${key}.visible_p99_ms`,
        label: `p99 publish→queryable in ClickHouse, ${r.phase}, ${r.target}`,
        value: r.visibleP99,
        unit: 'ms',
        target: { kind: 'bound', atMost: 1000, text: 'p99 publish→queryable < 1,000 ms' },
        ...base,
      });
    const ceilingSeries = (pick: (x: Row) => [number, number][]) =>
      a ? { ceiling: { label: `bare Aedes, ${a.phase}`, points: pick(a) } } : {};
    series.push({
      key: `${key}.throughput`,
      label: `${r.phase} points/s over time, ${r.target}`,
      unit: 'ops/s',
      points: r.perSecond.throughput,
      ...ceilingSeries((x) => x.perSecond.throughput),
    });
    if (r.perSecond.p99.length > 0)
      series.push({
        key: `${key}.p99`,
        label: `${r.phase} p99 publish→PUBACK over time, ${r.target}`,
        unit: 'ms',
        points: r.perSecond.p99,
        ...ceilingSeries((x) => x.perSecond.p99),
      });
  }
  for (const i of run.idles) {
    const key = rows.find((r) => r.target === i.target)?.targetKey ?? i.target;
    add({
      key: `gps.${key}.idle_rss_mib`,
      label: `RSS with ${fmtInt(i.devices)} idle devices (${fmtInt(i.connected)} connected), ${i.target}`,
      value: Math.max(i.rssMiB, i.peakRssMiB),
      unit: 'MiB',
      target: { kind: 'bound', atMost: 600, text: 'RSS < 600 MiB with 10,000 idle devices' },
    });
  }
  const saturated = rows.filter((r) => r.loadSaturated);
  const notes = [
    ...(saturated.length > 0
      ? [
          `load-bound phases (a load process at ≥ 90% of a core; not judged): ${saturated.map((r) => `${r.target} ${r.phase}`).join('; ')}`,
        ]
      : ['no phase was load-bound (every load process under 90% of a core)']),
    ...run.errors.map((e) => `${e.target} failed: ${e.error.split('\n')[0]}`),
  ];
  return {
    bench: 'gps',
    seed: run.seed,
    startedAt: run.startedAt.toISOString(),
    durationS: run.totalSeconds,
    options: {},
    figures,
    series,
    notes,
    correct: run.errors.length === 0 && rows.every((r) => r.load.unacked === 0),
  };
};
