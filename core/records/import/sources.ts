import { createReadStream } from 'node:fs';
import { type CsvError, parse } from 'csv-parse';

/** One line (NDJSON) or record (CSV) of an import file, or why it could not be read. */
/** `line`: where it starts (what a refusal names); `lastLine`: where it ends (a CSV field may hold newlines). */
export type SourceItem =
  | { line: number; lastLine: number; value: unknown; end: number }
  | { line: number; lastLine: number; error: string; end: number };

export interface SourcePosition {
  /** Byte offset just past the last item handed out before (0: the start). */
  offset: number;
  /** The last line number handed out before (0: none). */
  line: number;
}

/** Bytes read from the file so far (for progress). */
export interface Source extends AsyncIterable<SourceItem> {
  bytesRead(): number;
}

/**
 * NDJSON from `from`: lines split on `\n` over raw chunks, so each item knows the byte offset
 * just past it (the resume point) without decoding the whole file. An empty line is skipped.
 */
export const ndjsonSource = (file: string, from: SourcePosition): Source => {
  const stream = createReadStream(file, { start: from.offset, highWaterMark: 256 * 1024 });
  async function* items(): AsyncGenerator<SourceItem> {
    let rest: Buffer = Buffer.alloc(0);
    let offset = from.offset;
    let line = from.line;
    const emit = (bytes: Buffer): SourceItem | undefined => {
      line++;
      offset += bytes.length + 1;
      const text = bytes.toString('utf8').replace(/\r$/, '');
      if (text.trim() === '') return undefined;
      try {
        return { line, lastLine: line, value: JSON.parse(text), end: offset };
      } catch (e) {
        return { line, lastLine: line, error: `not JSON: ${(e as Error).message}`, end: offset };
      }
    };
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      let nl = buf.indexOf(0x0a);
      while (nl !== -1) {
        const item = emit(buf.subarray(0, nl));
        if (item) yield item;
        buf = buf.subarray(nl + 1);
        nl = buf.indexOf(0x0a);
      }
      rest = Buffer.from(buf);
    }
    if (rest.length) {
      const item = emit(rest);
      if (item) yield { ...item, end: item.end - 1 };
    }
  }
  return { [Symbol.asyncIterator]: items, bytesRead: () => from.offset + stream.bytesRead };
};

/** The header row of a CSV file: its column names. */
export const csvHeader = async (file: string): Promise<string[]> => {
  const parser = createReadStream(file).pipe(parse({ bom: true, to_line: 1 }));
  for await (const row of parser as AsyncIterable<string[]>) return row.map((c) => c.trim());
  return [];
};

/**
 * CSV with a header row (quoted fields may hold commas and newlines), from `from` (after the
 * header on a fresh start). A malformed record is reported and skipped; `end` is csv-parse's
 * count of bytes up to the record, the resume point.
 */
export const csvSource = (file: string, columns: string[], from: SourcePosition): Source => {
  const fresh = from.offset === 0;
  const stream = createReadStream(file, { start: from.offset, highWaterMark: 256 * 1024 });
  /** csv-parse counts lines from where it started; a record's first line is its last less its inner newlines. */
  const span = (lastLine: number, raw: string | undefined) => {
    const inner = (raw?.match(/\n/g)?.length ?? 0) - (raw?.endsWith('\n') ? 1 : 0);
    return { line: from.line + lastLine - Math.max(0, inner), lastLine: from.line + lastLine };
  };
  // Refusals arrive while the parser runs ahead of the reader: handed out in line order.
  const skipped: SourceItem[] = [];
  const parser = stream.pipe(
    parse({
      bom: fresh,
      columns: fresh ? () => columns : columns,
      info: true,
      raw: true,
      skip_empty_lines: true,
      skip_records_with_error: true,
      on_skip: (err: CsvError | undefined, raw: string | undefined) => {
        const at = span(typeof err?.lines === 'number' ? err.lines : 0, raw);
        skipped.push({ ...at, error: `not CSV: ${err?.message ?? 'unreadable record'}`, end: -1 });
        return undefined;
      },
    }),
  );
  async function* items(): AsyncGenerator<SourceItem> {
    for await (const { record, info, raw } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number; bytes: number };
      raw: string;
    }>) {
      const at = span(info.lines, raw);
      while (skipped.length && (skipped[0] as SourceItem).line < at.line) yield skipped.shift() as SourceItem;
      yield { ...at, value: record, end: from.offset + info.bytes };
    }
    while (skipped.length) yield skipped.shift() as SourceItem;
  }
  return { [Symbol.asyncIterator]: items, bytesRead: () => from.offset + stream.bytesRead };
};
