import { jsonOf } from '../values.js';
import { finished, roomIn, type Writer } from './types.js';

/** One object per row, keyed by the column keys, values typed (money in major units, dates with offset). */
const jsonWriter =
  (ndjson: boolean): Writer =>
  async (out, rows, ctx, progress) => {
    const keys = ctx.columns.map((c) => c.key);
    const types = ctx.columns.map((c) => c.type);
    let done = 0;
    if (!ndjson) out.write('[');
    for await (const batch of rows) {
      let s = '';
      for (const row of batch) {
        const o: Record<string, unknown> = {};
        for (let i = 0; i < keys.length; i++) o[keys[i] as string] = jsonOf(types[i] ?? 'text', row[i], ctx.timeZone);
        s += ndjson ? `${JSON.stringify(o)}\n` : `${done === 0 && s === '' ? '\n' : ',\n'}${JSON.stringify(o)}`;
      }
      done += batch.length;
      progress(done);
      out.write(s);
      await roomIn(out);
    }
    out.end(ndjson ? '' : '\n]\n');
    await finished(out);
  };

export const jsonArrayWriter = jsonWriter(false);
export const ndjsonWriter = jsonWriter(true);
