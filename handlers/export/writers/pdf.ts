import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import PDFDocument from 'pdfkit';
import { textOf, wallClock } from '../values.js';
import { finished, roomIn, type Writer } from './types.js';

/** DejaVu Sans from its package: Cyrillic glyphs, embedded (subset) in every PDF. */
const fontDir = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const REGULAR = join(fontDir, 'DejaVuSans.ttf');
const BOLD = join(fontDir, 'DejaVuSans-Bold.ttf');

const WORDS = {
  en: { filters: 'Filters', none: 'none', generated: 'Generated', page: 'Page', total: 'Total', truncated: 'Truncated at' },
  ru: { filters: 'Фильтры', none: 'нет', generated: 'Сформировано', page: 'Стр.', total: 'Итого', truncated: 'Обрезано до' },
} as const;

const MARGIN = 30;
const FONT_SIZE = 7;
const ROW_H = 11;

/**
 * A paginated table through pdfkit (A4 landscape): title, filters and generation time on page 1,
 * the header repeated on each page, the page number at the foot, a totals row for money columns.
 * Pages are flushed to `out` as they are finished (no page buffering), so memory is one page.
 */
export const pdfWriter: Writer = async (out, rows, ctx, progress) => {
  const w = WORDS[ctx.locale];
  const doc = new PDFDocument({ size: 'A4', layout: 'landscape', margin: MARGIN, autoFirstPage: false, compress: true });
  doc.info.Title = ctx.title;
  doc.info.Creator = 'fleetgate';
  doc.registerFont('body', REGULAR);
  doc.registerFont('bold', BOLD);
  doc.pipe(out);

  const types = ctx.columns.map((c) => c.type);
  let pageNo = 0;
  let y = 0;
  let width = 0;
  let xs: number[] = [];
  let ws: number[] = [];
  const cells = (values: readonly string[], font: 'body' | 'bold') => {
    doc.font(font).fontSize(FONT_SIZE);
    values.forEach((v, i) => {
      const right = types[i] === 'money' || types[i] === 'int' || types[i] === 'number';
      // Cut by an average glyph width rather than pdfkit's measured ellipsis: several times faster,
      // and a cell never wraps into the next row.
      const fits = Math.max(1, Math.floor(((ws[i] ?? 10) - 4) / (FONT_SIZE * 0.56)));
      const flat = v.replace(/[\r\n\t]+/g, ' ');
      doc.text(flat.length > fits ? `${flat.slice(0, fits - 1)}…` : flat, (xs[i] ?? 0) + 2, y + 2, {
        width: (ws[i] ?? 10) - 4,
        lineBreak: false,
        align: right ? 'right' : 'left',
      });
    });
    y += ROW_H;
  };
  const header = () => {
    doc.rect(MARGIN, y, width, ROW_H).fill('#e8e8e8').fillColor('black');
    cells(ctx.headers, 'bold');
    doc
      .moveTo(MARGIN, y)
      .lineTo(MARGIN + width, y)
      .lineWidth(0.5)
      .stroke();
  };
  /**
   * pdfkit caches the glyph layout of every distinct word per font and never drops it: over 100,000
   * rows of names and phone numbers that is most of the process's memory. Emptied on each page
   * (internal field, checked: pdfkit 0.20); the words of one page are laid out again at most once.
   */
  const dropLayoutCaches = () => {
    const families = (doc as unknown as { _fontFamilies?: Record<string, { layoutCache?: unknown }> })._fontFamilies ?? {};
    for (const font of Object.values(families)) if (font.layoutCache) font.layoutCache = Object.create(null);
  };
  const newPage = () => {
    dropLayoutCaches();
    doc.addPage();
    pageNo++;
    width = doc.page.width - 2 * MARGIN;
    const total = ctx.columns.reduce((n, c) => n + (c.width ?? 12), 0);
    ws = ctx.columns.map((c) => ((c.width ?? 12) / total) * width);
    xs = ws.map((_, i) => MARGIN + ws.slice(0, i).reduce((a, b) => a + b, 0));
    y = MARGIN;
    // The footer sits in the bottom margin, where pdfkit would otherwise start a new page for it.
    doc.page.margins.bottom = 0;
    doc.font('body').fontSize(8).fillColor('#555');
    doc.text(`${w.page} ${pageNo}`, MARGIN, doc.page.height - MARGIN + 8, { width, align: 'right', lineBreak: false });
    doc.fillColor('black');
    doc.page.margins.bottom = MARGIN;
    if (pageNo === 1) {
      doc.font('bold').fontSize(14).text(ctx.title, MARGIN, y, { width });
      const filters = Object.entries(ctx.filters);
      const filterText = filters.length ? filters.map(([k, v]) => `${k} = ${String(v)}`).join('; ') : w.none;
      doc.font('body').fontSize(9).text(`${w.filters}: ${filterText}`, { width });
      doc.text(`${w.generated}: ${wallClock(ctx.generatedAt, ctx.timeZone).text} (${ctx.timeZone})`, { width });
      if (ctx.truncated) doc.text(`${w.truncated} EXPORT_MAX_ROWS`, { width });
      y = doc.y + 6;
    }
    header();
  };
  const bottom = () => doc.page.height - MARGIN - ROW_H;

  const sums = ctx.columns.map(() => 0);
  const hasMoney = types.includes('money');
  let done = 0;
  newPage();
  for await (const batch of rows) {
    for (const [n, row] of batch.entries()) {
      // Laying out a row costs far more than reading it: let other work in every twenty rows.
      if (n % 20 === 19) await turn();
      if (y > bottom()) newPage();
      cells(
        row.map((v, i) => {
          if (types[i] === 'money' && v !== null && v !== undefined) sums[i] = (sums[i] ?? 0) + Number(v);
          return textOf(types[i] ?? 'text', v, ctx.timeZone);
        }),
        'body',
      );
    }
    done += batch.length;
    progress(done);
    await roomIn(out);
  }
  if (hasMoney) {
    if (y > bottom()) newPage();
    doc
      .moveTo(MARGIN, y)
      .lineTo(MARGIN + width, y)
      .lineWidth(0.5)
      .stroke();
    cells(
      types.map((t, i) => (t === 'money' ? ((sums[i] ?? 0) / 100).toFixed(2) : i === 0 ? w.total : '')),
      'bold',
    );
  }
  doc.end();
  await finished(out);
};
