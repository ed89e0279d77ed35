import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { stringify } from 'csv-stringify';
import type { Row } from '../../../core/exports/types.js';
import { textOf } from '../values.js';
import type { Writer } from './types.js';

/**
 * Spreadsheet apps run a cell that starts with one of these as a formula (CSV injection): such a
 * text cell gets a leading apostrophe, which Excel and LibreOffice show as text.
 */
const FORMULA_START = /^[=+\-@\t\r]/;
export const neutralise = (s: string) => (FORMULA_START.test(s) ? `'${s}` : s);

/**
 * CSV through csv-stringify: RFC 4180 quoting and CRLF line ends, UTF-8 with BOM (Excel reads it
 * as UTF-8 only then), `;` separator for Excel set to Russian, where `,` is the decimal mark.
 */
export const csvWriter: Writer = async (out, rows, ctx, progress) => {
  const types = ctx.columns.map((c) => c.type);
  let done = 0;
  async function* records() {
    yield [...ctx.headers];
    for await (const batch of rows) {
      for (const row of batch) {
        yield row.map((v, i) => {
          const t = types[i] ?? 'text';
          const s = textOf(t, v, ctx.timeZone);
          return t === 'text' ? neutralise(s) : s;
        });
      }
      done += batch.length;
      progress(done);
    }
  }
  await pipeline(
    Readable.from(records(), { highWaterMark: 1_000 }),
    stringify({ bom: true, delimiter: ctx.separator, record_delimiter: 'windows', quoted_match: /^\s|\s$/ }),
    out,
  );
};

export type { Row };
