/**
 * SVG charts for the bench report, drawn with vega-lite (compiled to a vega spec, rendered
 * headless: no browser, no canvas). Each chart puts a figure beside its ceiling and target.
 */
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { BenchFigure, BenchSeries } from '../results.js';

const WIDTH = 520;
const MEASURED = 'fleetgate';

export const svgOf = async (spec: TopLevelSpec): Promise<string> => {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
};

/** Where the target sits in the figure's own unit: ratio targets are scaled by the ceiling. */
export const targetValue = (f: BenchFigure): number | undefined => {
  const t = f.target;
  if (!t) return undefined;
  const bound = t.atLeast ?? t.atMost;
  if (bound === undefined) return undefined;
  if (t.kind === 'bound') return bound;
  return f.ceiling ? f.ceiling.value * bound : undefined;
};

/**
 * Horizontal bars, one group per figure: the measured value, its ceiling (when measured in the
 * same run) and a tick at the target. All figures share the unit.
 */
export const figuresChart = (title: string, unit: string, figures: readonly (BenchFigure & { bench?: string })[]) => {
  const name = (f: BenchFigure & { bench?: string }) => (f.bench ? `${f.bench}: ${f.label}` : f.label);
  const bars = figures.flatMap((f) => [
    { figure: name(f), series: MEASURED, value: f.value, what: f.label },
    ...(f.ceiling ? [{ figure: name(f), series: 'ceiling', value: f.ceiling.value, what: f.ceiling.label }] : []),
  ]);
  const ticks = figures.flatMap((f) => {
    const v = targetValue(f);
    return v === undefined ? [] : [{ figure: name(f), value: v, text: f.target?.text ?? '' }];
  });
  const y = { field: 'figure', type: 'nominal' as const, title: null, sort: null, axis: { labelLimit: 480 } };
  // CPU per unit spans µs per event to ms per payment: a linear axis would show one bar.
  const positive = bars.map((b) => b.value).filter((v) => v > 0);
  const wide = positive.length > 1 && Math.max(...positive) / Math.min(...positive) >= 100;
  // Bars need a zero baseline, which a log axis lacks: symlog, ticked at the powers of ten.
  const decades = Array.from({ length: Math.ceil(Math.log10(Math.max(1, ...positive))) + 1 }, (_, i) => 10 ** i);
  const x = {
    field: 'value',
    type: 'quantitative' as const,
    title: wide ? `${unit} (log scale)` : unit,
    ...(wide && { scale: { type: 'symlog' as const }, axis: { values: [0, ...decades] } }),
  };
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    config: { font: 'DejaVu Sans, sans-serif' },
    layer: [
      {
        data: { values: bars },
        mark: { type: 'bar' },
        encoding: {
          y,
          yOffset: { field: 'series', sort: [MEASURED, 'ceiling'] },
          x,
          color: {
            field: 'series',
            type: 'nominal',
            title: null,
            scale: { domain: [MEASURED, 'ceiling', 'target'], range: ['#4c78a8', '#f58518', '#d62728'] },
            legend: { orient: 'bottom' },
          },
        },
      },
      ...(ticks.length
        ? [
            {
              data: { values: ticks },
              mark: { type: 'tick' as const, thickness: 3, color: '#d62728' },
              encoding: { y, x },
            },
          ]
        : []),
    ],
  };
  return spec;
};

/** A line over time for a series, with its ceiling's series beside it when there is one. */
export const seriesChart = (title: string, s: BenchSeries) => {
  const values = [
    ...s.points.map(([t, v]) => ({ t, v, series: s.label })),
    ...(s.ceiling?.points.map(([t, v]) => ({ t, v, series: s.ceiling?.label ?? 'ceiling' })) ?? []),
  ];
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: WIDTH,
    height: 180,
    config: { font: 'DejaVu Sans, sans-serif' },
    data: { values },
    mark: { type: 'line', point: values.length < 60 },
    encoding: {
      x: { field: 't', type: 'quantitative', title: 'seconds' },
      y: { field: 'v', type: 'quantitative', title: s.unit },
      color: { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom', labelLimit: 400 } },
    },
  };
  return spec;
};
