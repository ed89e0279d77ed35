/**
 * The Markdown report of a run: the machine and its load, every target beside its measured
 * figure (met / missed / load-bound / not judged), then each scenario with its figures, charts
 * and notes. Charts are SVG files in a folder beside the report.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { type BenchFigure, type BenchResult, judge } from '../results.js';
import { figuresChart, seriesChart, svgOf } from './charts.js';
import type { BenchRun, ScenarioOutcome } from './run.js';

export interface Chart {
  file: string;
  title: string;
  svg: string;
}

/** What the report says of a figure against its target. */
export const verdictOf = (f: BenchFigure): string => {
  if (!f.target) return '';
  if (f.notJudged) return `not judged: ${f.notJudged}`;
  if (f.loadSaturated || f.ceiling?.loadSaturated) return 'load-bound (not judged)';
  const met = judge(f);
  return met === undefined ? 'no ceiling measured' : met ? 'met' : '**missed**';
};

export const fmtValue = (v: number | undefined): string => {
  if (v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a >= 1000 || Number.isInteger(v)) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  return v.toFixed(2);
};

const ratioOf = (f: BenchFigure) =>
  f.ceiling && f.ceiling.value !== 0 ? `${((f.value / f.ceiling.value) * 100).toFixed(0)}%` : '';

/** Markdown table cells must not break the row. */
const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

const mdTable = (headers: string[], rows: string[][]) =>
  [
    `| ${headers.map((h) => h.replace(/^>/, '')).join(' | ')} |`,
    `| ${headers.map((h) => (h.startsWith('>') ? '--:' : '---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/µ/g, 'u')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);

const withValue = (f: BenchFigure) => `${fmtValue(f.value)} ${f.unit}`;

const figureRows = (r: BenchResult) =>
  r.figures.map((f) => [
    f.label,
    withValue(f),
    f.ceiling ? `${fmtValue(f.ceiling.value)} (${f.ceiling.label}${f.ceiling.loadSaturated ? ', load-bound' : ''})` : '',
    ratioOf(f),
    f.target?.text ?? '',
    verdictOf(f),
    [f.loadCpu?.length ? `load CPU ${f.loadCpu.map((c) => `${Math.round(c * 100)}%`).join('/')}` : '', f.note ?? '']
      .filter(Boolean)
      .join('; '),
  ]);

const isCpu = (f: BenchFigure) => /cpu/i.test(f.unit);
const isRss = (f: BenchFigure) => f.unit === 'MiB' && /rss/i.test(`${f.key} ${f.label}`);

/** The charts of one scenario: its figures beside their ceilings (per unit), and each series over time. */
const scenarioCharts = (r: BenchResult): { file: string; title: string; spec: TopLevelSpec }[] => {
  const out: { file: string; title: string; spec: TopLevelSpec }[] = [];
  const byUnit = new Map<string, BenchFigure[]>();
  // A figure whose value and target are both zero (0 lost, target 0) draws nothing worth a chart.
  const drawable = (f: BenchFigure) => (f.ceiling || f.target) && !(f.value === 0 && (f.target?.atMost ?? 0) === 0 && !f.ceiling);
  for (const f of r.figures) if (drawable(f)) byUnit.set(f.unit, [...(byUnit.get(f.unit) ?? []), f]);
  for (const [unit, fs] of byUnit) {
    const title = `${r.bench}: ${unit}`;
    out.push({ file: `${r.bench}-${slug(unit) || 'value'}.svg`, title, spec: figuresChart(title, unit, fs) });
  }
  for (const s of r.series) {
    const title = `${r.bench}: ${s.label}`;
    out.push({ file: `${r.bench}-series-${slug(s.key)}.svg`, title, spec: seriesChart(title, s) });
  }
  return out;
};

/** Cross-scenario charts: CPU per unit of work, and RSS, each beside its ceiling and target. */
const overviewCharts = (results: readonly BenchResult[]) => {
  const tagged = results.flatMap((r) => r.figures.map((f) => ({ ...f, bench: r.bench })));
  const out: { file: string; title: string; spec: TopLevelSpec }[] = [];
  const cpu = tagged.filter(isCpu);
  for (const unit of new Set(cpu.map((f) => f.unit))) {
    const title = `CPU per unit of work (${unit})`;
    out.push({
      file: `cpu-per-unit-${slug(unit)}.svg`,
      title,
      spec: figuresChart(
        title,
        unit,
        cpu.filter((f) => f.unit === unit),
      ),
    });
  }
  const rss = tagged.filter(isRss);
  if (rss.length) out.push({ file: 'rss.svg', title: 'RSS', spec: figuresChart('RSS', 'MiB', rss) });
  return out;
};

const scenarioStatus = (s: ScenarioOutcome) => {
  if (s.status === 'ok') return s.result?.correct === false ? '**incorrect** (lost or doubled work)' : 'ok';
  if (s.status === 'exit-code')
    return `exit code ${s.exitCode} (${s.exitCode === 0 ? 'its targets met' : 'a target missed, or a failure'}) and no BenchResult yet: its figures are in its printed output${s.log ? ` (\`bench/results/${s.log}\`)` : ''}`;
  if (s.status === 'missing') return 'not in this checkout';
  return `**failed**: ${s.error ?? `exit code ${s.exitCode}`}`;
};

export interface ReportOptions {
  /** Folder for the SVGs as the Markdown links it (relative to the report). */
  chartsHref: string;
  title?: string;
  /** Free text under the header (e.g. what was reduced). */
  preface?: string[];
}

/** The report's Markdown and its charts (not yet written). */
export const renderReport = async (run: BenchRun, opts: ReportOptions): Promise<{ markdown: string; charts: Chart[] }> => {
  const results = run.scenarios.flatMap((s) => (s.result ? [s.result] : []));
  const charts: Chart[] = [];
  const draw = async (c: { file: string; title: string; spec: TopLevelSpec }) => {
    charts.push({ file: c.file, title: c.title, svg: await svgOf(c.spec) });
    return `![${c.title}](${opts.chartsHref}/${c.file})`;
  };
  const m = run.machine;
  const lines: string[] = [];
  lines.push(`# ${opts.title ?? `fleetgate benchmarks, ${run.startedAt.slice(0, 10)}`}`, '');
  lines.push(
    `Run ${run.mode} (${run.scenarios.map((s) => s.name).join(', ')}), started ${run.startedAt}, ${(run.durationS / 60).toFixed(1)} min in all, seed ${run.seed}.`,
    '',
    `**The machine was shared with other work during the run**: load average (1/5/15 min) ${m.loadBefore.join(' / ')} before and ${m.loadAfter?.join(' / ') ?? '?'} after, on ${m.cores} cores. Absolute figures move with that load; ratios to a ceiling measured in the same run move less.`,
    '',
    mdTable(
      ['machine', ''],
      [
        ['CPU', `${m.cpuModel}, ${m.cores} cores`],
        ['memory', `${fmtValue(m.memoryMiB)} MiB`],
        ['platform', m.platform],
        ['Node', m.node],
        ['nats-server', m.natsServer],
        ['Postgres', m.postgres],
      ],
    ),
    '',
  );
  const preface = [...(opts.preface ?? []), ...(run.notes ?? [])];
  for (const p of preface) lines.push(p, '');

  const targeted = results.flatMap((r) => r.figures.filter((f) => f.target).map((f) => ({ r, f })));
  const count = (pred: (f: BenchFigure) => boolean) => targeted.filter(({ f }) => pred(f)).length;
  lines.push('## Targets', '');
  lines.push(
    `${targeted.length} targets: ${count((f) => judge(f) === true)} met, ${count((f) => judge(f) === false)} missed, ` +
      `${count((f) => !f.notJudged && Boolean(f.loadSaturated || f.ceiling?.loadSaturated))} load-bound, ${count((f) => Boolean(f.notJudged))} not judged here.`,
    '',
  );
  if (targeted.length)
    lines.push(
      mdTable(
        ['bench', 'figure', '>measured', '>ceiling', '>ratio', 'target', 'verdict'],
        targeted.map(({ r, f }) => [
          r.bench,
          f.label,
          withValue(f),
          f.ceiling ? fmtValue(f.ceiling.value) : '',
          ratioOf(f),
          f.target?.text ?? '',
          verdictOf(f),
        ]),
      ),
      '',
    );
  if (run.gate) {
    const known = run.gate.knownMisses ?? [];
    lines.push(
      run.gate.failures.length
        ? `**--quick gate: ${run.gate.failures.length} below ${run.gate.threshold * 100}% of target**: ${run.gate.failures.map((g) => `${g.bench} ${g.why}`).join('; ')}`
        : `--quick gate passed: every judged ratio to a same-run ceiling at ≥ ${run.gate.threshold * 100}% of its target${known.length ? ', but for the known misses below' : ''} (absolute bounds are reported above, not gated).`,
      '',
    );
    if (known.length)
      lines.push(
        `Known misses (below ${run.gate.threshold * 100}% of their target in the committed baseline of ${run.gate.baseline} too; they fail the gate only at under half their baseline share): ${known.map((g) => `${g.bench} ${g.why}`).join('; ')}`,
        '',
      );
  }

  lines.push('## Scenarios', '');
  lines.push(
    mdTable(
      ['bench', '>minutes', 'status', 'options'],
      run.scenarios.map((s) => [s.name, (s.durationS / 60).toFixed(1), scenarioStatus(s), s.args.join(' ')]),
    ),
    '',
  );

  const overview = overviewCharts(results);
  if (overview.length) {
    lines.push('## CPU per unit of work and RSS', '');
    for (const c of overview) lines.push(await draw(c), '');
  }

  for (const s of run.scenarios) {
    lines.push(`## ${s.name}`, '');
    const r = s.result;
    if (!r) {
      lines.push(`${scenarioStatus(s)}.`, '');
      if (s.outputTail) lines.push('Its printed figures (the end of its output):', '', '```text', s.outputTail, '```', '');
      continue;
    }
    const opts = Object.entries(r.options)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    lines.push(`${fmtValue(r.durationS)} s, seed ${r.seed}${opts ? `, ${opts}` : ''}. ${scenarioStatus(s)}.`, '');
    if (r.figures.length)
      lines.push(
        mdTable(['figure', '>measured', 'ceiling (same run)', '>ratio', 'target', 'verdict', 'note'], figureRows(r)),
        '',
      );
    for (const c of scenarioCharts(r)) lines.push(await draw(c), '');
    for (const n of r.notes) lines.push(`- ${n}`);
    if (r.notes.length) lines.push('');
  }
  return { markdown: `${lines.join('\n').trimEnd()}\n`, charts };
};

/** Writes the report to `mdPath` and its charts into `chartsDir`. */
export const writeReport = async (run: BenchRun, mdPath: string, chartsDir: string, opts: ReportOptions) => {
  const { markdown, charts } = await renderReport(run, opts);
  await mkdir(dirname(mdPath), { recursive: true });
  if (charts.length) await mkdir(chartsDir, { recursive: true });
  for (const c of charts) await writeFile(join(chartsDir, c.file), c.svg);
  await writeFile(mdPath, markdown);
  return { markdown, charts };
};
