/**
 * Small helpers shared by the benchmarks. The throw-away nats-server and temp directories are the
 * tests' own (test/support), compiled into dist/ with the benchmarks.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import postgres from 'postgres';

export { freePort, startNatsServer } from '../test/support/natsServer.js';
export { tempDir } from '../test/support/stores.js';

// ---------------------------------------------------------------------------------------------
// Postgres

export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** A fresh, empty database on the machine's Postgres; `drop` removes it (and its connections). */
export const createScratchDatabase = async (prefix: string) => {
  const name = `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(PG_ADMIN_URL, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(`CREATE DATABASE ${name}`);
  } catch (e) {
    await admin.end({ timeout: 1 });
    throw e;
  }
  return {
    name,
    url: PG_ADMIN_URL.replace(/\/[^/]*$/, `/${name}`),
    drop: async () => {
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await admin.end({ timeout: 5 });
      }
    },
  };
};

// ---------------------------------------------------------------------------------------------
// Measuring

/** Runs `fn(0..n-1)` with at most `concurrency` calls in flight. */
export const pool = async (n: number, concurrency: number, fn: (i: number) => Promise<unknown>) => {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, n)) }, worker));
};

/** Event-loop sampling interval (ms): delays are reported as lateness beyond it. */
export const LOOP_RESOLUTION_MS = 5;

export interface LoopDelay {
  /** Lateness of the sampling timer beyond its interval, in ms. */
  p50: number;
  p99: number;
  max: number;
  samples: number;
}

/** Starts sampling the event loop; the returned function stops and summarises. */
export const watchLoop = (): (() => LoopDelay) => {
  const h = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  h.enable();
  return () => {
    h.disable();
    const late = (ns: number) => (h.count === 0 ? 0 : Math.max(0, ns / 1e6 - LOOP_RESOLUTION_MS));
    return { p50: late(h.percentile(50)), p99: late(h.percentile(99)), max: late(h.max), samples: h.count };
  };
};

/** With BENCH_CPU_PROFILE=<dir>, every timed phase also writes <dir>/<label>.cpuprofile. */
const profileDir = process.env.BENCH_CPU_PROFILE;

const startProfile = async (label: string | undefined) => {
  if (!profileDir || !label) return async () => {};
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await mkdir(profileDir, { recursive: true });
    await writeFile(join(profileDir, `${label.replace(/[^\w.-]+/g, '_')}.cpuprofile`), JSON.stringify(profile));
  };
};

/** Times `fn` while sampling the event loop and this process's CPU time (100% = one core busy). */
export const timed = async <T>(
  fn: () => Promise<T>,
  label?: string,
): Promise<{ value: T; seconds: number; loop: LoopDelay; cpuPercent: number }> => {
  const stopProfile = await startProfile(label);
  const stop = watchLoop();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  try {
    const value = await fn();
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { value, seconds, loop: stop(), cpuPercent: seconds > 0 ? (cpu.user + cpu.system) / 1e4 / seconds : 0 };
  } catch (e) {
    stop();
    throw e;
  } finally {
    await stopProfile();
  }
};

// ---------------------------------------------------------------------------------------------
// Output

export const fmtInt = (n: number | undefined) =>
  n === undefined || !Number.isFinite(n) ? '' : Math.round(n).toLocaleString('en-US');
export const fmtMs = (n: number | undefined) =>
  n === undefined || !Number.isFinite(n) ? '' : n < 10 ? n.toFixed(1) : Math.round(n).toString();

/** A plain text table; columns whose header starts with '>' are right-aligned. */
export const table = (headers: string[], rows: (string | number)[][]): string => {
  const right = headers.map((h) => h.startsWith('>'));
  const head = headers.map((h) => h.replace(/^>/, ''));
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (right[i] ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
};

// Prometheus text from a gateway's /metrics

/** The values of the samples of `name` (any label set containing `labels`) in the Prometheus text. */
const samples = (text: string, name: string, labels = '') =>
  text.split('\n').flatMap((line) => {
    if (!line.startsWith(name) || !(line[name.length] === ' ' || line[name.length] === '{')) return [];
    if (labels && !line.slice(name.length).includes(labels)) return [];
    return [Number(line.slice(line.lastIndexOf(' ') + 1))];
  });

/** Sums of the samples of one metric (all label sets matching `labels`) in the Prometheus text. */
export const metric = (text: string, name: string, labels = '') => samples(text, name, labels).reduce((a, b) => a + b, 0);

/** The largest value among the lines of `name` (one per thread: the event-loop delay of the worst). */
export const metricMax = (text: string, name: string) => Math.max(0, ...samples(text, name));

/** Cumulative bucket counts of a histogram (`le` → count) for the lines that carry `labels`. */
export const buckets = (text: string, name: string, labels: string) => {
  const out = new Map<number, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`) || !line.includes(labels)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    if (le) out.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
};

/** The upper bound of the bucket holding quantile `q` of what was observed between two scrapes. */
const bucketQuantile = (before: Map<number, number>, after: Map<number, number>, q: number) => {
  const les = [...after.keys()].sort((a, b) => a - b);
  const total = (after.get(Number.POSITIVE_INFINITY) ?? 0) - (before.get(Number.POSITIVE_INFINITY) ?? 0);
  if (total <= 0) return Number.NaN;
  for (const le of les) if ((after.get(le) ?? 0) - (before.get(le) ?? 0) >= q * total) return le;
  return Number.POSITIVE_INFINITY;
};

/** The gateway's own share of an ack over one phase: `fleetgate_gps_durable_seconds` p50/p99 (bucket bounds) in ms. */
export const durableShare = (before: Map<number, number>, after: Map<number, number>) => ({
  durableP50Ms: bucketQuantile(before, after, 0.5) * 1000,
  durableP99Ms: bucketQuantile(before, after, 0.99) * 1000,
});

export const fmtDurable = (s: { durableP50Ms: number; durableP99Ms: number }) =>
  `queued→durable p50/p99 ≤ ${fmtMs(s.durableP50Ms)} / ${fmtMs(s.durableP99Ms)} ms`;

/** `node --cpu-prof` arguments writing `DIR/NAME.cpuprofile` (the ingest thread adds its own, `NAME-ingest`), or none. */
export const cpuProfileArgs = (dir: string | undefined, name: string): string[] =>
  dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}.cpuprofile`] : [];

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU-seconds (user + system) process `pid` has used so far, from /proc/<pid>/stat. */
export const processCpuSeconds = (pid: number) => {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
};

/** Processes whose /proc/<pid>/comm is `comm` and whose command line contains the argument `arg`. */
export const findPids = (comm: string, arg?: string) =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm) return false;
        return arg === undefined || readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(arg);
      } catch {
        return false;
      }
    });

/**
 * The Postgres backends serving database `db`: a backend's title (its /proc cmdline) reads
 * `postgres: <user> <db> <client> <state>`. The machine's Postgres is shared with other work, so
 * only these are counted as the gateway's; the WAL writer and checkpointer are not.
 */
export const pgBackendPids = (db: string) =>
  findPids('postgres').filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
        .split(/[\s\0]+/)
        .includes(db);
    } catch {
      return false;
    }
  });

/**
 * CPU-seconds used by named groups of processes between this call and the returned function's:
 * each group's pids are listed again at the end, so a process that started in between counts all
 * of its CPU (one that exited in between is lost).
 */
export const cpuMeter = (groups: Record<string, () => number[]>) => {
  const t0 = performance.now();
  const cpuOf = (pid: number) => {
    try {
      return processCpuSeconds(pid);
    } catch {
      return Number.NaN; // exited
    }
  };
  const start = new Map<number, number>();
  for (const list of Object.values(groups)) for (const pid of list()) start.set(pid, cpuOf(pid));
  return (): { seconds: number; cpu: Record<string, number> } => {
    const seconds = (performance.now() - t0) / 1000;
    const cpu: Record<string, number> = {};
    for (const [name, list] of Object.entries(groups)) {
      let sum = 0;
      for (const pid of list()) {
        const now = cpuOf(pid);
        if (Number.isNaN(now)) continue;
        const before = start.get(pid);
        sum += now - (before === undefined || Number.isNaN(before) ? 0 : before);
      }
      cpu[name] = sum;
    }
    return { seconds, cpu };
  };
};

/** µs of CPU per unit of work. */
export const usPer = (cpuSeconds: number | undefined, units: number) =>
  cpuSeconds === undefined || units <= 0 ? Number.NaN : (cpuSeconds * 1e6) / units;

/** A load process at ≥ 90 % of a core measured the load as much as the server. */
export const LOAD_SATURATED_SHARE = 0.9;
