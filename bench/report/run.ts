/** One `npm run bench` run as written to `bench/results/<date>.json`: the machine and every scenario's outcome. */
import type { BenchResult } from '../results.js';
import type { GateFailure } from './gate.js';
import type { MachineFacts } from './machine.js';

export interface ScenarioOutcome {
  name: string;
  /**
   * ok: the bench returned a BenchResult; exit-code: it returned only an exit code (not converted
   * to BenchResult yet: its figures are in its printed output); failed: it threw, crashed or timed
   * out; missing: not in this checkout.
   */
  status: 'ok' | 'exit-code' | 'failed' | 'missing';
  args: string[];
  durationS: number;
  exitCode?: number;
  result?: BenchResult;
  error?: string;
  /** Where the bench's printed output was kept, relative to the run's JSON. */
  log?: string;
  /**
   * The end of its standard output (its printed tables), kept when the bench returned no
   * BenchResult, so the report still shows its figures.
   */
  outputTail?: string;
}

export interface BenchRun {
  kind: 'fleetgate-bench-run';
  /** full: every scenario at its default sizes; quick: small sizes, gated; single: one scenario. */
  mode: 'full' | 'quick' | 'single';
  startedAt: string;
  finishedAt: string;
  durationS: number;
  seed: number;
  machine: MachineFacts;
  scenarios: ScenarioOutcome[];
  /** What the run left out or changed (skipped scenarios, given options), printed under the report's header. */
  notes?: string[];
  /**
   * --quick only: the figures below half their target (the run exits non-zero when any), and the
   * known misses the committed baseline (`baseline`: its run's startedAt) already had.
   */
  gate?: { threshold: number; failures: GateFailure[]; knownMisses?: GateFailure[]; baseline?: string };
}

/** A file-name-safe UTC timestamp, e.g. 2026-12-04T17-35-02Z. */
export const runStamp = (d: Date) =>
  d
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');
