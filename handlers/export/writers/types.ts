import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { ColumnDef, Row } from '../../../core/exports/types.js';

/** What every writer is told about the file besides its rows. */
export interface WriterContext {
  columns: readonly ColumnDef[];
  /** Header per column, in the request's language. */
  headers: readonly string[];
  timeZone: string;
  locale: 'ru' | 'en';
  title: string;
  /** The filters as given, for the PDF's first page. */
  filters: Readonly<Record<string, unknown>>;
  generatedAt: Date;
  /** Over EXPORT_MAX_ROWS and cut there (`truncate: true`): said in the PDF and the file name. */
  truncated: boolean;
  separator: ',' | ';';
}

/**
 * Writes batches of rows to `out` and ends it. Pulls the next batch only once `out` has room, so
 * memory stays at about one batch whatever the row count. `progress` is told the rows written.
 */
export type Writer = (
  out: Writable,
  rows: AsyncIterable<Row[]>,
  ctx: WriterContext,
  progress: (rowsDone: number) => void,
) => Promise<void>;

/** Waits for `out` to drain when its buffer is full: the writers' back-pressure. */
export const roomIn = async (out: Writable): Promise<void> => {
  if (out.writableNeedDrain) await once(out, 'drain');
};

/** Resolves when `out` has flushed everything and closed. */
export const finished = (out: Writable): Promise<void> =>
  new Promise((resolve, reject) => {
    if (out.writableFinished) return resolve();
    if (out.errored) return reject(out.errored);
    out.once('finish', () => resolve());
    out.once('error', reject);
  });
