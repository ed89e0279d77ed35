/**
 * The `--quick` gate: a gross regression is a ratio to a ceiling measured in the same run at less
 * than half its target (a throughput share below half the required one, a cost per unit above
 * twice the allowed multiple), or a bench that lost or doubled work. Absolute bounds (a p99 in ms,
 * events/s) are reported but not gated: on a shared machine they measure the machine's load as
 * much as the code, while a same-run ratio largely cancels it. Load-saturated and not-judged
 * figures are never counted.
 *
 * A figure that already sat below half its target in the committed baseline (`bench/baseline-quick.json`,
 * a quick run on a quiet machine) is a known miss: it fails the gate only when it falls to below half
 * of its baseline share again, so the gate tells a regression from a target never met, and a known
 * miss still cannot silently get much worse. Every known miss is printed and kept in the report.
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

/** The committed reference for the gate: each gated figure's share of its target in one quick run. */
export interface GateBaseline {
  kind: 'fleetgate-bench-baseline';
  /** The quick run it was taken from (its startedAt) and the commit it measured. */
  from: string;
  commit?: string;
  shares: Record<string, { share: number; label: string; target: string }>;
}

export interface GateVerdict {
  failures: GateFailure[];
  /** Below half their target here and in the baseline too: reported, failed only when halved again. */
  knownMisses: GateFailure[];
}

const figureId = (bench: string, key: string) => `${bench}/${key}`;
const pct = (share: number) => `${(share * 100).toFixed(0)}%`;

/** Each gated figure's share of its target, for a new baseline. */
export const baselineShares = (results: readonly BenchResult[]): GateBaseline['shares'] =>
  Object.fromEntries(
    results.flatMap((r) =>
      r.figures.flatMap((f) => {
        const share = f.target?.kind === 'ratio' ? shareOfTarget(f) : undefined;
        return share === undefined ? [] : [[figureId(r.bench, f.key), { share, label: f.label, target: f.target?.text ?? '' }]];
      }),
    ),
  );

/** Everything in the run that falls below half its target (see the baseline rule above), or was incorrect. */
export const grossRegressions = (results: readonly BenchResult[], threshold = 0.5, baseline?: GateBaseline): GateVerdict => {
  const verdict: GateVerdict = { failures: [], knownMisses: [] };
  for (const r of results) {
    if (!r.correct)
      verdict.failures.push({ bench: r.bench, key: '(correctness)', why: 'the bench lost or doubled work, or failed' });
    for (const f of r.figures) {
      const share = f.target?.kind === 'ratio' ? shareOfTarget(f) : undefined;
      if (share === undefined || share >= threshold) continue;
      const before = baseline?.shares[figureId(r.bench, f.key)]?.share;
      const stated = `${f.label}: ${pct(share)} of its target (${f.target?.text})`;
      if (before !== undefined && before < threshold) {
        if (share >= before * threshold)
          verdict.knownMisses.push({ bench: r.bench, key: f.key, why: `${stated}; baseline ${pct(before)}` });
        else verdict.failures.push({ bench: r.bench, key: f.key, why: `${stated}: under half the baseline's ${pct(before)}` });
      } else verdict.failures.push({ bench: r.bench, key: f.key, why: stated });
    }
  }
  return verdict;
};
