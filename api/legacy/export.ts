import { basename } from 'node:path';
import { CreateExportRequest } from '../../schemas/http/export.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import type { RouteSpec } from '../route.js';
import { exportDownloadUrl as downloadUrl, requestExport } from '../routes/exports.js';
import { isUuid } from '../routes/rules.js';
import { validate } from '../validation.js';
import {
  asLegacy,
  compact,
  type LegacyAction,
  type LegacyRequest,
  legacyRoute,
  lower,
  missing,
  ok,
  present,
  text,
} from './common.js';

/** ExportService.php's format names; its "Excel" was CSV under another name, v1 writes real xlsx. */
const FORMATS: Readonly<Record<string, string>> = { excel: 'xlsx', xls: 'xlsx' };

interface JobRow {
  id: string;
  status: string;
  rows_total: number | null;
  file_path: string | null;
  error_message: string | null;
  requested_by: string | null;
}

/**
 * `/api/export.php`: POST `?type=applications&format=csv` with `{ filters }` (no action, as in
 * PHP, or `action=create`), and `action=status&id=` by GET or POST. PHP built the file within the
 * request; here it is queued, so `create` answers the job id, not the file name and row count.
 */
export const exportPhp = (deps: ApiDeps): RouteSpec[] => {
  const create: LegacyAction = async ({ ctx, body, query, via }) => {
    const format = lower(text(query.format ?? body.format)) ?? 'csv';
    const req = compact({
      entity: lower(text(query.type ?? body.type ?? body.entity)),
      format: typeof format === 'string' ? (FORMATS[format] ?? format) : format,
      filters: present(body.filters),
      columns: present(body.columns),
    });
    const { id, status } = await asLegacy({ entity: 'type' }, () =>
      requestExport(deps, ctx, validate<CreateExportRequest>(CreateExportRequest, req, 'body'), via),
    );
    return ok({ id, status, download_url: downloadUrl(id) });
  };

  const status = async ({ ctx, body, query }: LegacyRequest) => {
    const ref = text(query.id ?? body.id);
    if (typeof ref !== 'string') throw missing('id', 'give the id create answered');
    const [row] = isUuid(ref)
      ? await deps.sql<
          JobRow[]
        >`SELECT id, status, rows_total, file_path, error_message, requested_by FROM export_jobs WHERE id = ${ref}`
      : [];
    if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no export ${ref}`);
    if (!ctx.principal?.scopes.includes('admin') && row.requested_by !== ctx.principal?.prefix) {
      throw new HttpProblem('GW_ERR_FORBIDDEN', `export ${ref} was requested by another API key`);
    }
    return ok({
      id: row.id,
      status: row.status,
      rows: row.rows_total,
      filename: row.file_path === null ? null : basename(row.file_path),
      download_url: row.file_path === null ? null : downloadUrl(row.id),
      ...(row.error_message === null ? {} : { error_message: row.error_message }),
    });
  };

  const endpoint = { path: '/api/export.php', scope: 'exports', summary: 'Legacy export endpoint of the PHP CRM' } as const;
  return [
    legacyRoute({ ...endpoint, method: 'POST', actions: { create, status }, default: 'create' }),
    legacyRoute({ ...endpoint, method: 'GET', actions: { status } }),
  ];
};
