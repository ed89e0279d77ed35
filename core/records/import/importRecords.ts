import { createHash } from 'node:crypto';
import type { RecordType } from '../../../schemas/records/common.js';
import type { EventEnvelope, EventLog } from '../../eventlog/port.js';
import { appendRecordEvents, MAX_BATCH_RECORDS, upsertedEvent } from '../events.js';
import { checkRecord, csvRowToRecord } from '../validate.js';
import { checkpointStore, type ImportCheckpoint, importIdentity } from './checkpoint.js';
import { csvHeader, csvSource, ndjsonSource, type Source } from './sources.js';

/** A log message stays under NATS' default 1 MiB max_payload with the envelope added. */
const MAX_BATCH_BYTES = 768 * 1024;

export interface ImportProgress {
  appended: number;
  refused: number;
  bytesRead: number;
  size: number;
  /** The import started from a checkpoint at this many records, this byte of the file. */
  resumedAt: number;
  resumedAtByte: number;
}

export interface ImportOptions {
  log: EventLog;
  type: RecordType;
  file: string;
  dataDir: string;
  format?: 'ndjson' | 'csv';
  /** Records per log message (default and most 1,000). */
  batchSize?: number;
  /** Ignore a checkpoint and start at the top (each record still applies only when newer). */
  restart?: boolean;
  onRefused?(line: number, reason: string): void;
  onProgress?(p: ImportProgress): void;
}

export interface ImportResult extends ImportProgress {
  alreadyDone: boolean;
  checkpointFile: string;
}

export const formatOf = (file: string): 'ndjson' | 'csv' => (/\.csv$/i.test(file) ? 'csv' : 'ndjson');

/**
 * `fleetgate records import TYPE FILE`: streams the file through the batch route's validation
 * into `record.upserted` batches (source `import`), one log message each, awaited in turn. After
 * each acknowledged batch the checkpoint moves past it, so a rerun after a kill starts there;
 * the batch in flight at the kill is sent again with the same message id (the log drops it as a
 * duplicate within its window, and the read model ignores versions it holds anyway).
 */
export const importRecords = async (o: ImportOptions): Promise<ImportResult> => {
  const format = o.format ?? formatOf(o.file);
  const batchSize = Math.min(o.batchSize ?? MAX_BATCH_RECORDS, MAX_BATCH_RECORDS);
  const id = await importIdentity(o.file, o.type);
  const store = checkpointStore(o.dataDir, id.key);
  const saved = o.restart ? undefined : await store.load();
  const state: ImportCheckpoint = saved ?? {
    file: id.path,
    size: id.size,
    mtimeMs: id.mtimeMs,
    type: o.type,
    offset: 0,
    line: 0,
    appended: 0,
    refused: 0,
    done: false,
  };
  const resumedAt = state.appended;
  const resumedAtByte = state.offset;
  const progress = (bytesRead: number): ImportProgress => ({
    appended: state.appended,
    refused: state.refused,
    bytesRead,
    size: id.size,
    resumedAt,
    resumedAtByte,
  });
  if (state.done) return { ...progress(id.size), alreadyDone: true, checkpointFile: store.path };

  const from = { offset: state.offset, line: state.line };
  const source: Source = format === 'csv' ? csvSource(id.path, await csvHeader(id.path), from) : ndjsonSource(id.path, from);
  const now = new Date();
  let events: EventEnvelope[] = [];
  let bytes = 0;
  let refusedInBatch = 0;
  let end = state.offset;
  let line = state.line;
  let firstLine = 0;

  const flush = async () => {
    if (events.length > 0) {
      // Deterministic per file and position: a rerun rebuilds this batch with the same id.
      const msgId = `imp-${createHash('sha256').update(`${id.key}\0${firstLine}\0${events.length}`).digest('base64url').slice(0, 40)}`;
      await appendRecordEvents(o.log, o.type, events, { msgId });
    }
    state.appended += events.length;
    state.refused += refusedInBatch;
    state.offset = end;
    state.line = line;
    await store.save(state);
    events = [];
    bytes = 0;
    refusedInBatch = 0;
    o.onProgress?.(progress(source.bytesRead()));
  };

  for await (const item of source) {
    const checked =
      'error' in item
        ? item
        : checkRecord(o.type, format === 'csv' ? csvRowToRecord(o.type, item.value as Record<string, string>) : item.value);
    if ('error' in checked) {
      refusedInBatch++;
      o.onRefused?.(item.line, checked.error);
    } else {
      const event = upsertedEvent(o.type, checked.record, 'import', now);
      const size = JSON.stringify(event.data).length;
      // Flushed before this record is counted in: the checkpoint stops just before it.
      if (events.length >= batchSize || (events.length > 0 && bytes + size > MAX_BATCH_BYTES)) await flush();
      if (events.length === 0) firstLine = item.line;
      events.push(event);
      bytes += size;
    }
    if (item.end >= 0) end = item.end;
    line = Math.max(line, item.lastLine);
  }
  await flush();
  state.done = true;
  await store.save(state);
  return { ...progress(id.size), alreadyDone: false, checkpointFile: store.path };
};
