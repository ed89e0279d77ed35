/**
 * What a bench measured, in one shape for every scenario, so `npm run bench` can write
 * `bench/results/<date>.json` and the Markdown report, and `--quick` can fail on a ratio that fell
 * below half its target. A bench's `run` resolves to a `BenchResult`; its exit code is derived
 * from it (`exitCodeOf`).
 */

/** A target as the issues state it: a ratio to the ceiling measured in the same run, or a bound. */
export type BenchTarget =
  /** figure / ceiling must be ≥ (throughput) or ≤ (cost, latency) this ratio */
  | { kind: 'ratio'; atLeast?: number; atMost?: number; text: string }
  /** the figure itself must stay within these bounds (same unit as the figure) */
  | { kind: 'bound'; atLeast?: number; atMost?: number; text: string };

export interface BenchFigure {
  /** Stable key used across runs and by `--quick`, e.g. `gps.embedded.qos1.points_per_s`. */
  key: string;
  /** What a reader sees, e.g. "QoS 1 points/s, embedded". */
  label: string;
  value: number;
  /** 'ops/s', 'ms', 'µs CPU', 'MiB', 'rows/s', '%' … */
  unit: string;
  /** The same quantity for the ceiling measured in this run (bare Aedes, Mosquitto, bare uWS …). */
  ceiling?: { label: string; value: number; loadSaturated?: boolean };
  target?: BenchTarget;
  /** Set by the bench when a target exists: met or not, judged on this run's figures. */
  met?: boolean;
  /**
   * The load processes were at their limit during this phase (≥ 90 % of a core each, or as the
   * bench defines): the figure measured the load as much as the server. Reported, never judged.
   */
  loadSaturated?: boolean;
  /** CPU the load processes used in this phase, as a share of one core each (0..1 per process). */
  loadCpu?: number[];
  note?: string;
  /**
   * The target is stated but cannot be judged by this bench (e.g. peak RSS while chdb shares the
   * process): the report shows the figure beside its target with this reason, never met or missed.
   */
  notJudged?: string;
}

/** A time series for the report's charts: throughput or p99 over time, RSS over time … */
export interface BenchSeries {
  key: string;
  label: string;
  unit: string;
  /** seconds since the phase started, value */
  points: [number, number][];
  /** The ceiling's series in the same run, drawn beside it when present. */
  ceiling?: { label: string; points: [number, number][] };
}

export interface BenchResult {
  bench: string;
  /** Seed of the bench's pseudo-random choices (fixed by default so runs compare). */
  seed: number;
  startedAt: string;
  durationS: number;
  /** The options the bench ran with, as given and as defaulted. */
  options: Record<string, string | number | boolean>;
  figures: BenchFigure[];
  series: BenchSeries[];
  /** Free text the report prints under the bench: load-bound phases, what a figure means … */
  notes: string[];
  /** false when the bench found a correctness problem (lost or doubled work), whatever the speed. */
  correct: boolean;
}

/** Judges a figure against its target; undefined when it has none or the phase was load-bound. */
export const judge = (f: BenchFigure): boolean | undefined => {
  if (!f.target || f.notJudged || f.loadSaturated || f.ceiling?.loadSaturated) return undefined;
  const v = f.target.kind === 'ratio' ? (f.ceiling && f.ceiling.value !== 0 ? f.value / f.ceiling.value : Number.NaN) : f.value;
  if (Number.isNaN(v)) return undefined;
  if (f.target.atLeast !== undefined && v < f.target.atLeast) return false;
  if (f.target.atMost !== undefined && v > f.target.atMost) return false;
  return true;
};

/** 0 when the bench was correct; 1 when it lost or doubled work. Missed targets are reported, not failed (but see `--quick`). */
export const exitCodeOf = (r: BenchResult): number => (r.correct ? 0 : 1);
