import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ColumnDef, Row } from '../../core/exports/types.js';
import { csvWriter } from '../../handlers/export/writers/csv.js';
import { jsonArrayWriter, ndjsonWriter } from '../../handlers/export/writers/json.js';
import { pdfWriter } from '../../handlers/export/writers/pdf.js';
import type { Writer, WriterContext } from '../../handlers/export/writers/types.js';
import { xlsxWriter } from '../../handlers/export/writers/xlsx.js';
import { tempDir } from '../support/stores.js';

const run = promisify(execFile);

const columns: ColumnDef[] = [
  { key: 'name', type: 'text', en: 'Name', ru: 'Имя', expr: 'name', width: 30 },
  { key: 'amount', type: 'money', en: 'Amount', ru: 'Сумма', expr: 'amount_minor', width: 12 },
  { key: 'segments', type: 'int', en: 'Segments', ru: 'Частей', expr: 'segments', width: 8 },
  { key: 'at', type: 'datetime', en: 'Date', ru: 'Дата', expr: 'at', width: 18 },
];

// 00:30 and 01:30 UTC on 2026-10-25 are both 02:30 in Berlin: CEST (+02:00), then CET (+01:00).
const source: Row[] = [
  ['Иван Петров, водитель', '123456', 3, new Date('2026-10-25T00:30:00Z')],
  ['He said "hi"\nand left', '5', 1, new Date('2026-10-25T01:30:00Z')],
  ['=HYPERLINK("http://x")', '0', null, new Date('2026-03-29T00:59:59Z')],
  ['+7 999 123-45-67', null, 2, null],
  ['-1+1', '100', 0, new Date('2026-01-01T12:00:00Z')],
  ['@SUM(A1)', '1', 1, new Date('2026-07-01T00:00:00Z')],
  ['\tтаб', '99', 1, new Date('2026-07-01T00:00:00Z')],
];

const ctx = (over: Partial<WriterContext> = {}): WriterContext => ({
  columns,
  headers: columns.map((c) => c.ru),
  timeZone: 'Europe/Berlin',
  locale: 'ru',
  title: 'Платежи',
  filters: { status: 'paid', date_from: '2026-01-01' },
  generatedAt: new Date('2026-10-25T10:00:00Z'),
  truncated: false,
  separator: ',',
  ...over,
});

async function* batches(rows: Row[], size = 3) {
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

let dir: { dir: string; remove(): Promise<unknown> };
beforeAll(async () => {
  dir = await tempDir('fg-export-');
});
afterAll(() => dir.remove());

const write = async (writer: Writer, name: string, rows = source, c = ctx()) => {
  const path = join(dir.dir, name);
  const seen: number[] = [];
  await writer(createWriteStream(path), batches(rows), c, (n) => seen.push(n));
  return { path, seen };
};

describe('export writers, read back by independent parsers', () => {
  it('CSV: BOM, RFC 4180 quoting, formula cells neutralised, money and Berlin time across DST', async () => {
    const { path, seen } = await write(csvWriter, 'a.csv');
    const bytes = await readFile(path);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const records: string[][] = parse(bytes, { bom: true });
    expect(records[0]).toEqual(['Имя', 'Сумма', 'Частей', 'Дата']);
    expect(records.slice(1)).toEqual([
      ['Иван Петров, водитель', '1234.56', '3', '2026-10-25 02:30:00'],
      ['He said "hi"\nand left', '0.05', '1', '2026-10-25 02:30:00'],
      [`'=HYPERLINK("http://x")`, '0.00', '', '2026-03-29 01:59:59'],
      [`'+7 999 123-45-67`, '', '2', ''],
      [`'-1+1`, '1.00', '0', '2026-01-01 13:00:00'],
      [`'@SUM(A1)`, '0.01', '1', '2026-07-01 02:00:00'],
      [`'\tтаб`, '0.99', '1', '2026-07-01 02:00:00'],
    ]);
    expect(seen.at(-1)).toBe(source.length);
  });

  it('CSV with ; for Russian Excel', async () => {
    const { path } = await write(csvWriter, 'b.csv', source, ctx({ separator: ';' }));
    const text = await readFile(path, 'utf8');
    expect(text.split('\r\n')[0]).toBe('\uFEFFИмя;Сумма;Частей;Дата');
    const records: string[][] = parse(text, { bom: true, delimiter: ';' });
    expect(records[1]).toEqual(['Иван Петров, водитель', '1234.56', '3', '2026-10-25 02:30:00']);
  });

  it('JSON array and NDJSON: typed values, dates with the offset in force', async () => {
    const expected = [
      { name: 'Иван Петров, водитель', amount: 1234.56, segments: 3, at: '2026-10-25T02:30:00+02:00' },
      { name: 'He said "hi"\nand left', amount: 0.05, segments: 1, at: '2026-10-25T02:30:00+01:00' },
      { name: '=HYPERLINK("http://x")', amount: 0, segments: null, at: '2026-03-29T01:59:59+01:00' },
    ];
    const a = await write(jsonArrayWriter, 'a.json');
    const arr = JSON.parse(await readFile(a.path, 'utf8'));
    expect(arr).toHaveLength(source.length);
    expect(arr.slice(0, 3)).toEqual(expected);
    const n = await write(ndjsonWriter, 'a.ndjson');
    const lines = (await readFile(n.path, 'utf8'))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.slice(0, 3)).toEqual(expected);
    const empty = await write(jsonArrayWriter, 'empty.json', []);
    expect(JSON.parse(await readFile(empty.path, 'utf8'))).toEqual([]);
  });

  it('XLSX: typed cells, bold frozen header with a filter, a new sheet past the row limit', async () => {
    const { path } = await write(xlsxWriter(4), 'a.xlsx');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.readFile(path);
    expect(wb.worksheets).toHaveLength(3); // 3 data rows per sheet (+ header): 7 rows → 3 sheets
    const ws = wb.worksheets[0] as ExcelJS.Worksheet;
    expect(ws.getRow(1).values).toEqual([undefined, 'Имя', 'Сумма', 'Частей', 'Дата']);
    expect(ws.getRow(1).font?.bold).toBe(true);
    expect(ws.views[0]).toMatchObject({ state: 'frozen', ySplit: 1 });
    expect(ws.autoFilter).toBeTruthy();
    expect(ws.getCell('A2').value).toBe('Иван Петров, водитель');
    expect(ws.getCell('B2').value).toBe(1234.56);
    expect(ws.getCell('B2').numFmt).toBe('#,##0.00');
    expect(ws.getCell('C2').value).toBe(3);
    // Wall-clock time in Berlin, as a date: both instants read 02:30.
    expect((ws.getCell('D2').value as Date).toISOString()).toBe('2026-10-25T02:30:00.000Z');
    expect((ws.getCell('D3').value as Date).toISOString()).toBe('2026-10-25T02:30:00.000Z');
    expect(ws.getCell('A3').value).toBe('He said "hi"\nand left');
    const all = wb.worksheets.flatMap((s) =>
      s
        .getSheetValues()
        .slice(2)
        .map((r) => (r as unknown[])[1]),
    );
    expect(all).toEqual(source.map((r) => r[0]));
  });

  it('PDF: Cyrillic text, title, filters, header on every page, page numbers, money total', async () => {
    const many: Row[] = Array.from({ length: 120 }, (_, i) => [
      `Водитель №${i + 1}`,
      String(100 * (i + 1)),
      i,
      new Date(Date.UTC(2026, 9, 25, 0, i)),
    ]);
    const { path } = await write(pdfWriter, 'a.pdf', many);
    const { stdout } = await run('pdftotext', ['-layout', path, '-']);
    // pdftotext ends every page with a form feed: a blank page would show as an empty entry.
    const pages = stdout.split('\f').slice(0, -1);
    const { stdout: info } = await run('pdfinfo', [path]);
    expect(info).toMatch(new RegExp(`Pages:\\s+${pages.length}\\n`));
    expect(pages.length).toBeGreaterThan(1);
    expect(pages[0]).toContain('Платежи');
    expect(pages[0]).toContain('Фильтры: status = paid; date_from = 2026-01-01');
    expect(pages[0]).toContain('Сформировано: 2026-10-25 11:00:00 (Europe/Berlin)');
    pages.forEach((p, i) => {
      expect(p).toMatch(/Имя\s+Сумма\s+Частей\s+Дата/);
      expect(p).toContain(`Стр. ${i + 1}`);
    });
    for (const r of many) expect(stdout).toContain(r[0] as string);
    const total = many.reduce((n, r) => n + Number(r[1]), 0) / 100;
    expect(stdout).toMatch(new RegExp(`Итого\\s+${total.toFixed(2).replace('.', '\\.')}`));
    await run('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '1', '-singlefile', path, join(dir.dir, 'page')]);
    if (process.env.EXPORT_SAMPLE_PNG) await run('cp', [join(dir.dir, 'page.png'), process.env.EXPORT_SAMPLE_PNG]);
    expect((await readFile(join(dir.dir, 'page.png'))).subarray(1, 4).toString()).toBe('PNG');
  });
});
