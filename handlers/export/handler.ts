import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventLog } from '../../core/eventlog/port.js';
import { finalName, partName } from '../../core/exports/files.js';
import { ExportInputError, planExport } from '../../core/exports/plan.js';
import type { Logger } from '../../core/logger.js';
import { expiredExportJobs } from '../../core/readModels/exportJobs.js';
import type { Handler } from '../../core/runners/handlerRunner.js';
import type { Sql } from '../../core/stores/postgres.js';
import { commandSubject } from '../../schemas/events/command.js';
import { PRIORITIES } from '../../schemas/events/envelope.js';
import { EXPORT_RESULT_SUBJECT, type ExportRequested, exportEvents } from '../../schemas/events/export.js';
import { jobLimiter } from './limiter.js';
import { ExportError, type ExportSettings } from './port.js';
import type { RowSource } from './source.js';
import { csvWriter } from './writers/csv.js';
import { jsonArrayWriter, ndjsonWriter } from './writers/json.js';
import { pdfWriter } from './writers/pdf.js';
import type { Writer } from './writers/types.js';
import { xlsxWriter } from './writers/xlsx.js';

const { defs } = exportEvents;

export const WRITERS: Readonly<Record<ExportRequested['format'], Writer>> = {
  csv: csvWriter,
  json: jsonArrayWriter,
  ndjson: ndjsonWriter,
  xlsx: xlsxWriter(),
  pdf: pdfWriter,
};

/** Progress is appended at most this often: a 1M-row export is a few dozen events, not thousands. */
const PROGRESS_EVERY_MS = 1_000;
const SWEEP_EVERY_MS = 60_000;

export interface ExportHandlerOptions {
  settings: ExportSettings;
  log: EventLog;
  sql: Sql;
  logger: Logger;
  /** The store of each entity kind; `clickhouse` absent where the process has none (GPS fails clearly). */
  sources: { postgres: RowSource; clickhouse?: RowSource };
  now?: () => Date;
}

/**
 * `export.requested` → rows streamed from the entity's store into a file under EXPORT_PATH →
 * `export.completed`. The file is written under an attempt's temporary name and renamed once
 * complete, so a download never sees half a file; a crash leaves the command unacknowledged and
 * the redelivery starts again from the first row into a new file (`export.started` resets the
 * job's count). Bad filters and the row limit fail at once (`export.failed`).
 */
export const exportHandler = (opts: ExportHandlerOptions): Handler<typeof defs.requested.type> & { sweep(): Promise<void> } => {
  const { settings, log, logger } = opts;
  const now = opts.now ?? (() => new Date());
  const limiter = jobLimiter(settings.maxConcurrent, settings.maxPerKey);
  const hlog = logger.child({ handler: 'export' });

  const appendResult = (causationId: string, type: 'export.progress' | 'export.started' | 'export.expired', data: never) =>
    log.append(
      EXPORT_RESULT_SUBJECT,
      newEvent({ type, subject: EXPORT_RESULT_SUBJECT, source: 'handler:export', causationId, data }),
    );

  const removeParts = async (id: string) => {
    const names = await readdir(settings.dir).catch(() => [] as string[]);
    await Promise.all(
      names
        .filter((n) => n.startsWith(`${id}.`) && n.endsWith('.part'))
        .map((n) => unlink(join(settings.dir, n)).catch(() => {})),
    );
  };

  const run = async (id: string, data: ExportRequested, attempt: number) => {
    let plan: ReturnType<typeof planExport>;
    try {
      plan = planExport(data);
    } catch (e) {
      if (e instanceof ExportInputError) throw ExportError.permanent(e.code, e.message);
      throw e;
    }
    const source = plan.entity.store === 'postgres' ? opts.sources.postgres : opts.sources.clickhouse;
    if (!source)
      throw ExportError.permanent(
        'STORE_UNAVAILABLE',
        `${plan.entity.name} is read from ClickHouse, which this process has not opened`,
      );
    const count = Math.min(await source.count(plan), plan.limit ?? Number.POSITIVE_INFINITY);
    const truncated = count > settings.maxRows;
    if (truncated && data.truncate !== true) {
      throw ExportError.permanent(
        'TOO_MANY_ROWS',
        `${count} rows match, over EXPORT_MAX_ROWS (${settings.maxRows}); narrow the filters or ask for truncate: true`,
      );
    }
    const rowsTotal = Math.min(count, settings.maxRows);
    await mkdir(settings.dir, { recursive: true });
    await removeParts(id);
    await appendResult(id, 'export.started', { attempt, rowsTotal, truncated } as never);

    const part = join(settings.dir, partName(id, attempt));
    const out = createWriteStream(part);
    // Always listened to: a write that completes after a failed job destroyed the stream reports an
    // error nobody awaits any more, and an unlistened 'error' would take the whole process down.
    // The writers still see errors while they run (`finished` rejects on `out.errored`).
    out.on('error', (err) => hlog.debug({ id, err }, 'export file stream error'));
    let last = Date.now();
    let pending: Promise<unknown> = Promise.resolve();
    const progress = (rowsDone: number) => {
      if (Date.now() - last < PROGRESS_EVERY_MS) return;
      last = Date.now();
      // One in flight at a time, never awaited by the writer: a slow log does not slow the file.
      pending = pending.then(() => appendResult(id, 'export.progress', { attempt, rowsDone } as never)).catch(() => {});
    };
    const ctx = {
      columns: plan.columns,
      headers: plan.columns.map((c) => c[plan.locale]),
      timeZone: plan.timeZone,
      locale: plan.locale,
      title: plan.entity.title[plan.locale],
      filters: data.filters ?? {},
      generatedAt: now(),
      truncated,
      separator: data.separator ?? ',',
    };
    try {
      await WRITERS[data.format](out, source.rows(plan, rowsTotal), ctx, progress);
    } catch (e) {
      out.destroy();
      await unlink(part).catch(() => {});
      throw e;
    }
    await pending;
    const file = finalName(id, data.format, truncated);
    await rename(part, join(settings.dir, file));
    const { size } = await stat(join(settings.dir, file));
    const expiresAt = new Date(now().getTime() + settings.ttlSeconds * 1000).toISOString();
    hlog.info({ id, entity: plan.entity.name, format: data.format, rows: rowsTotal, bytes: size, attempt }, 'export written');
    return { attempt, rows: rowsTotal, bytes: size, file, truncated, expiresAt };
  };

  /** Deletes files past EXPORT_TTL and marks their jobs expired; safe in several processes at once. */
  const sweep = async () => {
    for (const job of await expiredExportJobs(opts.sql, now())) {
      if (job.file_path) await unlink(join(settings.dir, job.file_path)).catch(() => {});
      await log.append(
        EXPORT_RESULT_SUBJECT,
        newEvent({
          type: defs.expired.type,
          subject: EXPORT_RESULT_SUBJECT,
          source: 'handler:export',
          causationId: job.id,
          data: { file: job.file_path },
        }),
        { msgId: `export-expired-${job.id}` },
      );
    }
  };

  return {
    sweep,
    name: 'export',
    stream: 'EVENTS',
    subjects: Object.fromEntries(PRIORITIES.map((p) => [p, commandSubject('export', p)])),
    // `export.requested`, checked against its declaration so a renamed type fails to compile here.
    eventTypes: ['export.requested' satisfies typeof defs.requested.type],
    attemptFailed: defs.attemptFailed,
    async handle(event, { attempt }) {
      const release = await limiter.acquire(event.data.requestedBy);
      try {
        const data = await run(event.id, event.data, attempt);
        return [{ subject: EXPORT_RESULT_SUBJECT, type: defs.completed.type, data }];
      } finally {
        release();
      }
    },
    onGiveUp(event, reason, error) {
      const code = error instanceof ExportError ? (error.details?.code ?? 'FAILED') : 'FAILED';
      hlog.warn({ id: event.id, code, reason }, 'export failed');
      return [{ subject: EXPORT_RESULT_SUBJECT, type: defs.failed.type, data: { code, reason } }];
    },
    background() {
      const timer = setInterval(() => {
        sweep().catch((err) => hlog.warn({ err }, 'export sweep failed'));
      }, SWEEP_EVERY_MS);
      timer.unref();
      void sweep().catch((err) => hlog.warn({ err }, 'export sweep failed'));
      return {
        stop: async () => {
          clearInterval(timer);
        },
      };
    },
  };
};

export { ExportError };
