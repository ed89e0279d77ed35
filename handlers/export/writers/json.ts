import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { jsonOf } from '../values.js';
import type { Writer } from './types.js';

/** One object per row, keyed by the column keys, values typed (money in major units, dates with offset). */
const jsonWriter =
  (ndjson: boolean): Writer =>
  async (out, rows, ctx, progress) => {
    const keys = ctx.columns.map((c) => c.key);
    const types = ctx.columns.map((c) => c.type);
    let done = 0;
    async function* chunks() {
      if (!ndjson) yield '[';
      for await (const batch of rows) {
        let s = '';
        for (const row of batch) {
          const o: Record<string, unknown> = {};
          for (let i = 0; i < keys.length; i++) o[keys[i] as string] = jsonOf(types[i] ?? 'text', row[i], ctx.timeZone);
          s += ndjson ? `${JSON.stringify(o)}\n` : `${done === 0 && s === '' ? '\n' : ',\n'}${JSON.stringify(o)}`;
        }
        done += batch.length;
        progress(done);
        yield s;
      }
      if (!ndjson) yield '\n]\n';
    }
    await pipeline(Readable.from(chunks()), out);
  };

export const jsonArrayWriter = jsonWriter(false);
export const ndjsonWriter = jsonWriter(true);
