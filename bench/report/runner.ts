/**
 * Runs scenarios one after another, each in a child process of its own (`node
 * dist/bench/index.js <name>`): a bench's memory, chdb session or crash stays its own, and the
 * next one starts on a clean process. Shows progress (i/N, elapsed, ETA), then writes
 * `bench/results/<date>.json` and the Markdown report with its charts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { packageRoot } from '../../core/paths.js';
import type { BenchResult } from '../results.js';
import { baselineShares, type GateBaseline, grossRegressions } from './gate.js';
import { loadAverage, machineFacts } from './machine.js';
import { writeReport } from './markdown.js';
import { type BenchRun, runStamp, type ScenarioOutcome } from './run.js';

export const RESULTS_DIR = join(packageRoot, 'bench', 'results');
const ENTRY = join(packageRoot, 'dist', 'bench', 'index.js');
/** A scenario taking this many times its usual duration is stuck: stopped and reported failed. */
const STUCK_FACTOR = 4;
const MIN_TIMEOUT_S = 120;
/** Enough of a bench's standard output for its final tables. */
const OUTPUT_TAIL_CHARS = 12_000;
const tailLines = (text: string, n = 60) => text.split('\n').slice(-n).join('\n').trim();

/** What the child writes to BENCH_RESULT_FILE for the parent. */
export interface ChildReport {
  exitCode: number;
  result?: BenchResult;
  error?: string;
}

export interface PlannedScenario {
  name: string;
  args: string[];
  /** Usual duration on this machine, for the ETA and the stuck timeout. */
  expectS: number;
  /** Not in this checkout yet (another issue's bench): reported, skipped. */
  missing?: boolean;
}

const mmss = (s: number) => `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}`;

/** Runs one scenario in a child process; its output goes to the terminal and to `logPath`. */
const runChild = async (p: PlannedScenario, seed: number, logPath: string): Promise<ScenarioOutcome> => {
  const resultFile = `${logPath}.result.json`;
  const log = createWriteStream(logPath);
  const t0 = performance.now();
  const timeoutS = Math.max(MIN_TIMEOUT_S, p.expectS * STUCK_FACTOR);
  // Its own process group, so a stuck bench is stopped with the gateways and load processes it started.
  const child = spawn(process.execPath, [ENTRY, p.name, ...p.args], {
    env: { ...process.env, BENCH_RESULT_FILE: resultFile, BENCH_SEED: String(seed) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => {
    process.stdout.write(d);
    log.write(d);
    stdout = (stdout + d.toString()).slice(-OUTPUT_TAIL_CHARS);
  });
  child.stderr.on('data', (d: Buffer) => {
    process.stderr.write(d);
    log.write(d);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      process.kill(-(child.pid as number), 'SIGKILL');
    } catch {}
  }, timeoutS * 1000);
  const code = await new Promise<number>((resolve) => child.on('exit', (c, sig) => resolve(c ?? (sig ? 128 : 1))));
  clearTimeout(timer);
  await new Promise<void>((r) => log.end(r));
  const durationS = (performance.now() - t0) / 1000;
  const base = { name: p.name, args: p.args, durationS, log: relative(RESULTS_DIR, logPath) };
  const outputTail = tailLines(stdout);
  if (timedOut) return { ...base, status: 'failed', exitCode: code, error: `stopped after ${timeoutS} s (stuck?)`, outputTail };
  const report = await readFile(resultFile, 'utf8').then(
    (t) => JSON.parse(t) as ChildReport,
    () => undefined,
  );
  await rm(resultFile, { force: true });
  if (!report) return { ...base, status: 'failed', exitCode: code, error: `exited ${code} without a result`, outputTail };
  if (report.error)
    return { ...base, status: 'failed', exitCode: report.exitCode, error: report.error.split('\n')[0], outputTail };
  if (!report.result) return { ...base, status: 'exit-code', exitCode: report.exitCode, outputTail };
  return { ...base, status: 'ok', exitCode: report.exitCode, result: report.result };
};

export interface RunOptions {
  mode: 'full' | 'quick';
  /** --quick --update-baseline: this run becomes the gate's committed baseline. */
  updateBaseline?: boolean;
  seed: number;
  /** Written under the report's header (what was reduced, why). */
  preface?: string[];
}

/** The gate's committed reference (a quick run on a quiet machine); see gate.ts. */
export const BASELINE_FILE = join(packageRoot, 'bench', 'baseline-quick.json');

const readBaseline = async (): Promise<GateBaseline | undefined> => {
  try {
    const b = JSON.parse(await readFile(BASELINE_FILE, 'utf8')) as GateBaseline;
    return b.kind === 'fleetgate-bench-baseline' ? b : undefined;
  } catch {
    return undefined;
  }
};

const newBaseline = async (run: BenchRun, results: BenchResult[]): Promise<GateBaseline> => {
  const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: packageRoot, encoding: 'utf8' }).stdout?.trim();
  return {
    kind: 'fleetgate-bench-baseline',
    from: run.startedAt,
    ...(commit && { commit }),
    shares: baselineShares(results),
  };
};

/** Runs the plan and writes the JSON and the report; resolves to the run and the process exit code. */
export const runScenarios = async (plan: PlannedScenario[], opts: RunOptions): Promise<{ run: BenchRun; code: number }> => {
  const started = new Date();
  const stamp = `${runStamp(started)}${opts.mode === 'quick' ? '-quick' : ''}`;
  const dir = join(RESULTS_DIR, stamp);
  await mkdir(dir, { recursive: true });
  const machine = await machineFacts();
  console.log(
    `bench: ${plan.length} scenarios (${opts.mode}), ${machine.cpuModel} × ${machine.cores}, load average ${machine.loadBefore.join(' ')}`,
  );
  const t0 = performance.now();
  const scenarios: ScenarioOutcome[] = [];
  let doneExpect = 0;
  for (const [i, p] of plan.entries()) {
    const elapsed = (performance.now() - t0) / 1000;
    const pace = doneExpect > 0 ? elapsed / doneExpect : 1;
    const left = plan.slice(i).reduce((a, q) => a + (q.missing ? 0 : q.expectS), 0) * pace;
    console.log(`\n=== [${i + 1}/${plan.length}] ${p.name} ${p.args.join(' ')} — elapsed ${mmss(elapsed)}, ETA ${mmss(left)}`);
    if (p.missing) {
      console.log(`    ${p.name}: not in this checkout, skipped`);
      scenarios.push({ name: p.name, args: p.args, durationS: 0, status: 'missing' });
      continue;
    }
    const outcome = await runChild(p, opts.seed, join(dir, `${p.name}.log`));
    scenarios.push(outcome);
    doneExpect += p.expectS;
    console.log(`=== [${i + 1}/${plan.length}] ${p.name}: ${outcome.status} in ${mmss(outcome.durationS)}`);
  }
  const finished = new Date();
  const run: BenchRun = {
    kind: 'fleetgate-bench-run',
    mode: opts.mode,
    startedAt: started.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: (finished.getTime() - started.getTime()) / 1000,
    seed: opts.seed,
    machine: { ...machine, loadAfter: loadAverage() },
    scenarios,
    ...(opts.preface?.length && { notes: opts.preface }),
  };
  const results = scenarios.flatMap((s) => (s.result ? [s.result] : []));
  const failed = scenarios.filter((s) => s.status === 'failed');
  if (opts.mode === 'quick') {
    const baseline = await readBaseline();
    const { failures, knownMisses } = grossRegressions(results, 0.5, baseline);
    run.gate = { threshold: 0.5, failures, knownMisses, ...(baseline && { baseline: baseline.from }) };
    if (opts.updateBaseline) {
      if (failed.length || results.some((r) => !r.correct)) console.log('bench: not writing a baseline from a run with failures');
      else {
        await writeFile(BASELINE_FILE, `${JSON.stringify(await newBaseline(run, results), null, 2)}\n`);
        console.log(`bench: wrote ${relative(packageRoot, BASELINE_FILE)} (commit it: --quick compares with it)`);
      }
    }
  }
  const jsonPath = join(RESULTS_DIR, `${stamp}.json`);
  await writeFile(jsonPath, `${JSON.stringify(run, null, 2)}\n`);
  const mdPath = join(RESULTS_DIR, `${stamp}.md`);
  await writeReport(run, mdPath, dir, { chartsHref: stamp });
  console.log(
    `\nbench: ${mmss(run.durationS)} in all; wrote ${relative(packageRoot, jsonPath)} and ${relative(packageRoot, mdPath)}`,
  );
  for (const f of failed) console.log(`bench: ${f.name} failed: ${f.error}`);
  const gateFailures = run.gate?.failures ?? [];
  for (const g of run.gate?.knownMisses ?? []) console.log(`bench --quick: known miss (not a regression): ${g.bench} ${g.why}`);
  for (const g of gateFailures) console.log(`bench --quick: ${g.bench} ${g.key}: ${g.why}`);
  const code = failed.length || gateFailures.length || results.some((r) => !r.correct) ? 1 : 0;
  return { run, code };
};

/** Writes one scenario's run (`npm run bench -- <name>`) as `bench/results/<date>-<name>.json`. */
export const writeSingleRun = async (
  name: string,
  args: string[],
  outcome: ChildReport,
  startedAt: Date,
  machine: Awaited<ReturnType<typeof machineFacts>>,
) => {
  const finished = new Date();
  const run: BenchRun = {
    kind: 'fleetgate-bench-run',
    mode: 'single',
    startedAt: startedAt.toISOString(),
    finishedAt: finished.toISOString(),
    durationS: (finished.getTime() - startedAt.getTime()) / 1000,
    seed: outcome.result?.seed ?? Number(process.env.BENCH_SEED ?? 1),
    machine: { ...machine, loadAfter: loadAverage() },
    scenarios: [
      {
        name,
        args,
        durationS: (finished.getTime() - startedAt.getTime()) / 1000,
        status: outcome.error ? 'failed' : outcome.result ? 'ok' : 'exit-code',
        exitCode: outcome.exitCode,
        ...(outcome.result && { result: outcome.result }),
        ...(outcome.error && { error: outcome.error }),
      },
    ],
  };
  await mkdir(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${runStamp(startedAt)}-${name}.json`);
  await writeFile(path, `${JSON.stringify(run, null, 2)}\n`);
  return path;
};
