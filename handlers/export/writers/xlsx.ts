import { setImmediate as turn } from 'node:timers/promises';
import ExcelJS from 'exceljs';
import type { ColumnType } from '../../../core/exports/types.js';
import { asDate, moneyOf, numberOf, wallClock } from '../values.js';
import { finished, roomIn, type Writer } from './types.js';

/** Excel's rows per sheet; the header takes one. */
export const XLSX_MAX_ROWS = 1_048_576;

const NUM_FMT: Partial<Record<ColumnType, string>> = {
  money: '#,##0.00',
  datetime: 'yyyy-mm-dd hh:mm:ss',
  int: '0',
};

/**
 * A cell value typed for Excel. Dates: Excel has no zones, so the instant is shifted to the zone's
 * wall-clock time (what the user expects to read) and written as a date serial.
 */
const cellOf = (type: ColumnType, v: unknown, timeZone: string): ExcelJS.CellValue => {
  if (v === null || v === undefined) return null;
  switch (type) {
    case 'datetime': {
      const d = asDate(v);
      return d ? new Date(d.getTime() + wallClock(d, timeZone).offsetMs) : null;
    }
    case 'money':
      return moneyOf(v);
    case 'int':
    case 'number':
      return numberOf(v);
    case 'bool':
      return Boolean(v);
    default:
      return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
};

/**
 * exceljs' streaming writer: each row is committed (serialised into the zip) as it comes, so
 * nothing but the current row is held. Bold frozen header with an auto filter, widths from the
 * registry; past Excel's row limit the rows go on in a new sheet with the same header.
 */
export const xlsxWriter =
  (rowsPerSheet = XLSX_MAX_ROWS): Writer =>
  async (out, rows, ctx, progress) => {
    const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: out, useStyles: true, useSharedStrings: false });
    wb.creator = 'fleetgate';
    wb.created = ctx.generatedAt;
    const types = ctx.columns.map((c) => c.type);
    let sheetNo = 0;
    const newSheet = () => {
      sheetNo++;
      const name = `${ctx.title}${sheetNo > 1 ? ` ${sheetNo}` : ''}`.replace(/[*?:\\/[\]]/g, ' ').slice(0, 31);
      const ws = wb.addWorksheet(name, { views: [{ state: 'frozen', ySplit: 1 }] });
      ws.columns = ctx.columns.map((c, i) => ({
        header: ctx.headers[i] ?? c.key,
        key: c.key,
        width: Math.max(c.width ?? 12, (ctx.headers[i] ?? '').length + 2),
        ...(NUM_FMT[c.type] ? { style: { numFmt: NUM_FMT[c.type] as string } } : {}),
      }));
      const header = ws.getRow(1);
      header.font = { bold: true };
      ws.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: ctx.columns.length } };
      header.commit();
      return ws;
    };
    let ws = newSheet();
    let inSheet = 0;
    let done = 0;
    for await (const batch of rows) {
      for (const [n, row] of batch.entries()) {
        // A row costs exceljs about 25 µs: let the API in every 250 rows, not once per batch.
        if (n % 250 === 249) await turn();
        if (inSheet === rowsPerSheet - 1) {
          ws.commit();
          ws = newSheet();
          inSheet = 0;
        }
        ws.addRow(row.map((v, i) => cellOf(types[i] ?? 'text', v, ctx.timeZone))).commit();
        inSheet++;
      }
      done += batch.length;
      progress(done);
      await roomIn(out);
    }
    ws.commit();
    await wb.commit();
    await finished(out);
  };
