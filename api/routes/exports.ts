import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ENTITIES } from '../../core/exports/entities.js';
import { CONTENT_TYPES, EXTENSIONS } from '../../core/exports/files.js';
import { ExportInputError, planExport } from '../../core/exports/plan.js';
import { type ExportJobRow, findExportJob, listExportJobs, progressPercent } from '../../core/readModels/exportJobs.js';
import { EXPORT_REQUESTED, type ExportFormat } from '../../schemas/events/export.js';
import { CreateExportRequest, ExportJob, ExportJobList, ExportListQuery } from '../../schemas/http/export.js';
import { type CommandCaller, issueCommand } from '../commands.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RequestContext } from '../route.js';
import { invalidFields } from '../validation.js';
import { byteRange } from './exportRange.js';
import { ACCEPTED, isUuid } from './rules.js';

/** Where an export's file is served: the legacy route answers the same link. */
export const exportDownloadUrl = (id: string) => `/api/v1/exports/${id}/download`;

const FIELD: Readonly<Record<ExportInputError['code'], string>> = {
  UNKNOWN_ENTITY: 'entity',
  UNKNOWN_COLUMN: 'columns',
  UNKNOWN_FILTER: 'filters',
  INVALID_FILTER: 'filters',
  INVALID_TIME_ZONE: 'timeZone',
};

/** The v1 export command, shared with the legacy route so both append the same event. */
export const requestExport = (deps: ApiDeps, caller: CommandCaller, req: CreateExportRequest, via: string) => {
  // Checked here too (the handler re-checks): an unknown column is the caller's 400, not a failed job.
  try {
    planExport(req);
  } catch (e) {
    if (!(e instanceof ExportInputError)) throw e;
    const field = FIELD[e.code];
    throw invalidFields([{ pointer: `/${field}`, field, detail: e.message }]);
  }
  return issueCommand(deps.log, caller, { domain: 'export', type: EXPORT_REQUESTED, data: req }, via);
};

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

const toJob = (row: ExportJobRow): ExportJob => ({
  id: row.id,
  entity: row.entity as ExportJob['entity'],
  format: row.format as ExportJob['format'],
  status: row.status as ExportJob['status'],
  filters: row.filters,
  columns: row.columns,
  rows_total: row.rows_total,
  rows_written: row.rows_done,
  progress_percent: progressPercent(row),
  size_bytes: row.file_bytes === null ? null : Number(row.file_bytes),
  truncated: row.truncated,
  attempt: row.attempt,
  error_code: row.error_code,
  error_message: row.error_message,
  created_at: row.created_at.toISOString(),
  finished_at: iso(row.finished_at),
  expires_at: iso(row.expires_at),
  download_url: row.status === 'completed' ? exportDownloadUrl(row.id) : null,
});

const isAdmin = (ctx: RequestContext<unknown, unknown>) => ctx.principal?.scopes.includes('admin') === true;

/** A job the caller may see: its own key's, or any with `admin`. Another key's job is refused. */
const ownJob = async (deps: ApiDeps, ctx: RequestContext<unknown, unknown>): Promise<ExportJobRow> => {
  const id = ctx.params.id as string;
  const row = isUuid(id) ? await findExportJob(deps.sql, id) : undefined;
  if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no export ${id}`);
  if (!isAdmin(ctx) && row.requested_by !== ctx.principal?.prefix) {
    throw new HttpProblem('GW_ERR_FORBIDDEN', `export ${id} was requested by another API key`);
  }
  return row;
};

/** `Заявки 2026-12-03.xlsx`, with an ASCII fallback for old clients (RFC 6266, RFC 8187). */
export const contentDisposition = (row: Pick<ExportJobRow, 'entity' | 'format' | 'locale' | 'created_at' | 'truncated'>) => {
  const entity = (ENTITIES as Record<string, (typeof ENTITIES)[keyof typeof ENTITIES] | undefined>)[row.entity];
  const day = row.created_at.toISOString().slice(0, 10);
  const ext = EXTENSIONS[row.format as ExportFormat] ?? 'bin';
  const cut = row.truncated ? ' (truncated)' : '';
  const title = entity ? entity.title[row.locale === 'en' ? 'en' : 'ru'] : row.entity;
  const readable = `${title} ${day}${cut}.${ext}`;
  const ascii = `${row.entity}-${day}${row.truncated ? '-truncated' : ''}.${ext}`.replace(/[^\w.-]/g, '_');
  const encoded = encodeURIComponent(readable).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
};

export const exportRoutes = (deps: ApiDeps) => [
  defineRoute({
    method: 'POST',
    path: '/api/v1/exports',
    operationId: 'createExport',
    summary: 'Export CRM records, logs or GPS history to a file',
    description:
      'Checks the entity’s columns and filters, appends `export.requested`; a handler writes the file. Follow it with `GET /api/v1/exports/{id}`, then download it.',
    tags: ['exports'],
    auth: { scope: 'exports' },
    body: CreateExportRequest,
    idempotent: true,
    responses: ACCEPTED,
    handle: async (ctx) => ({ status: 202, body: await requestExport(deps, ctx, ctx.body, 'v1') }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/exports',
    operationId: 'listExports',
    summary: 'The calling key’s export jobs, newest first (every key’s for admin)',
    tags: ['exports'],
    auth: { scope: 'exports' },
    query: ExportListQuery,
    responses: { 200: { description: 'the jobs', schema: ExportJobList } },
    handle: async (ctx) => {
      const rows = await listExportJobs(deps.sql, isAdmin(ctx) ? null : (ctx.principal?.prefix ?? ''), ctx.query.limit ?? 50);
      return { status: 200, body: { items: rows.map(toJob) } };
    },
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/exports/{id}',
    operationId: 'getExport',
    summary: 'An export job: status, rows written, progress, size, expiry, error',
    tags: ['exports'],
    auth: { scope: 'exports' },
    responses: { 200: { description: 'the job', schema: ExportJob } },
    handle: async (ctx) => ({ status: 200, body: toJob(await ownJob(deps, ctx)) }),
  }),
  defineRoute({
    method: 'GET',
    path: '/api/v1/exports/{id}/download',
    operationId: 'downloadExport',
    summary: 'The export file, streamed (Range supported)',
    description: '409 while the job is not complete, 410 once the file expired (EXPORT_TTL).',
    tags: ['exports'],
    auth: { scope: 'exports' },
    allHeaders: true,
    responses: {
      200: { description: 'the file', type: 'application/octet-stream' },
      206: { description: 'the requested byte range', type: 'application/octet-stream' },
    },
    handle: async (ctx) => {
      const row = await ownJob(deps, ctx);
      if (row.status === 'expired') throw new HttpProblem('GW_ERR_GONE', `export ${row.id} expired at ${iso(row.expires_at)}`);
      if (row.status !== 'completed' || row.file_path === null) {
        throw new HttpProblem(
          'GW_ERR_NOT_READY',
          `export ${row.id} is ${row.status}${row.error_message ? `: ${row.error_message}` : ''}`,
        );
      }
      const path = join(deps.config.exports.dir, basename(row.file_path));
      const size = await stat(path).then(
        (s) => s.size,
        () => undefined,
      );
      // The sweep deleted it, or the TTL passed before the sweep ran: gone either way.
      if (size === undefined || (row.expires_at !== null && row.expires_at <= new Date())) {
        throw new HttpProblem('GW_ERR_GONE', `export ${row.id} expired`);
      }
      const range = byteRange(ctx.headers.range, size);
      if (range === 'unsatisfiable') {
        throw new HttpProblem('GW_ERR_RANGE_NOT_SATISFIABLE', `the file has ${size} bytes`, {
          headers: { 'content-range': `bytes */${size}` },
        });
      }
      const headers: Record<string, string> = {
        'content-disposition': contentDisposition(row),
        'accept-ranges': 'bytes',
        'cache-control': 'private, no-store',
      };
      if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`;
      const stream = createReadStream(path, range ? { start: range.start, end: range.end } : {});
      return {
        status: range ? 206 : 200,
        type: CONTENT_TYPES[row.format as ExportFormat] ?? 'application/octet-stream',
        headers,
        stream: stream as AsyncIterable<Buffer>,
      };
    },
  }),
];
