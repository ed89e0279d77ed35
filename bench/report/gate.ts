/**
 * The `--quick` gate: a gross regression is a ratio to a ceiling measured in the same run at less
 * than half its target (a throughput share below half the required one, a cost per unit above
 * twice the allowed multiple), or a bench that lost or doubled work. Absolute bounds (a p99 in ms,
 * events/s) are reported but not gated: on a shared machine they measure the machine's load as
 * much as the code, while a same-run ratio largely cancels it. Load-saturated and not-judged
 * figures are never counted.
 */
import { type BenchFigure, type BenchResult, judge } from '../results.js';

/** How the figure stands against its target: 1 = exactly on it, < 1 short of it; undefined when not judged. */
export const shareOfTarget = (f: BenchFigure): number | undefined => {
  if (judge(f) === undefined || !f.target) return undefined;
  const v = f.target.kind === 'ratio' ? f.value / (f.ceiling?.value as number) : f.value;
  const shares: number[] = [];
  if (f.target.atLeast !== undefined) shares.push(f.target.atLeast === 0 ? Number.POSITIVE_INFINITY : v / f.target.atLeast);
  if (f.target.atMost !== undefined) shares.push(v <= 0 ? Number.POSITIVE_INFINITY : f.target.atMost / v);
  return shares.length ? Math.min(...shares) : undefined;
};

export interface GateFailure {
  bench: string;
  key: string;
  why: string;
}

/** Everything in the run that falls below half its target, or was incorrect. */
export const grossRegressions = (results: readonly BenchResult[], threshold = 0.5): GateFailure[] =>
  results.flatMap((r) => [
    ...(r.correct ? [] : [{ bench: r.bench, key: '(correctness)', why: 'the bench lost or doubled work, or failed' }]),
    ...r.figures.flatMap((f) => {
      const share = f.target?.kind === 'ratio' ? shareOfTarget(f) : undefined;
      return share !== undefined && share < threshold
        ? [{ bench: r.bench, key: f.key, why: `${f.label}: ${(share * 100).toFixed(0)}% of its target (${f.target?.text})` }]
        : [];
    }),
  ]);
