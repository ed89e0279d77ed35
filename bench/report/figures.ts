/**
 * Helpers the benches use to build their `BenchResult`: a figure judged as it is made, latency
 * percentiles, and time series bucketed from timestamped samples for the report's charts.
 */
import { type BenchFigure, type BenchSeries, judge } from '../results.js';

/** Judges the figure against its target and records the verdict in `met`. */
export const figure = (f: BenchFigure): BenchFigure => {
  const met = judge(f);
  return met === undefined ? f : { ...f, met };
};

/** The p-th percentile (nearest rank) of `xs`; NaN when empty. */
export const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] as number;
};

/** A timestamped observation: when it completed (ms, same clock as `t0`) and its value. */
export type Sample = [atMs: number, value: number];

/** Completed samples per second in windows of `windowS`, from `t0` (ms). */
export const rateSeries = (samples: readonly Sample[], t0: number, windowS = 1): [number, number][] =>
  windows(samples, t0, windowS).map(([t, vs]) => [t, vs.length / windowS]);

/** The sum of the values per second in windows of `windowS` (rows/s from per-batch samples), from `t0` (ms). */
export const sumRateSeries = (samples: readonly Sample[], t0: number, windowS = 1): [number, number][] =>
  windows(samples, t0, windowS).map(([t, vs]) => [t, vs.reduce((a, b) => a + b, 0) / windowS]);

/** The p-th percentile of the values in windows of `windowS`, from `t0` (ms); empty windows left out. */
export const percentileSeries = (samples: readonly Sample[], t0: number, p: number, windowS = 1): [number, number][] =>
  windows(samples, t0, windowS)
    .filter(([, vs]) => vs.length > 0)
    .map(([t, vs]) => [t, percentile(vs, p)]);

const windows = (samples: readonly Sample[], t0: number, windowS: number): [number, number[]][] => {
  if (samples.length === 0) return [];
  const last = Math.max(...samples.map(([at]) => at));
  const n = Math.max(1, Math.ceil((last - t0) / 1000 / windowS));
  const out: [number, number[]][] = Array.from({ length: n }, (_, i) => [(i + 1) * windowS, []]);
  for (const [at, v] of samples) {
    const i = Math.min(n - 1, Math.max(0, Math.floor((at - t0) / 1000 / windowS)));
    (out[i] as [number, number[]])[1].push(v);
  }
  return out;
};

/** A series, rounded so the JSON stays readable. */
export const series = (s: Omit<BenchSeries, 'points'> & { points: [number, number][] }): BenchSeries => ({
  ...s,
  points: s.points.map(([t, v]) => [round(t), round(v)]),
});

const round = (x: number) => (Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 1000) / 1000);

/** Samples this process's RSS (MiB) every `everyMs` until the returned function is called. */
export const rssSampler = (everyMs = 250) => {
  const t0 = performance.now();
  const points: [number, number][] = [[0, process.memoryUsage.rss() / 2 ** 20]];
  const timer = setInterval(() => points.push([(performance.now() - t0) / 1000, process.memoryUsage.rss() / 2 ** 20]), everyMs);
  return () => {
    clearInterval(timer);
    points.push([(performance.now() - t0) / 1000, process.memoryUsage.rss() / 2 ** 20]);
    return points;
  };
};

/** The seed of a bench's pseudo-random choices: `BENCH_SEED` when the runner sets it, else fixed. */
export const benchSeed = (): number => {
  const s = Number(process.env.BENCH_SEED);
  return Number.isInteger(s) ? s : 1;
};

/** A small deterministic PRNG (mulberry32), so a seeded run makes the same choices every time. */
export const seededRandom = (seed: number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};
