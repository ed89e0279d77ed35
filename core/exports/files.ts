import type { ExportFormat } from '../../schemas/events/export.js';

export const EXTENSIONS: Readonly<Record<ExportFormat, string>> = {
  csv: 'csv',
  xlsx: 'xlsx',
  pdf: 'pdf',
  json: 'json',
  ndjson: 'ndjson',
};

export const CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = {
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  pdf: 'application/pdf',
  json: 'application/json; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** The final name under EXPORT_PATH: the job id, so a download never trusts a name from a request. */
export const finalName = (id: string, format: ExportFormat, truncated: boolean) =>
  `${id}${truncated ? '.truncated' : ''}.${EXTENSIONS[format]}`;

/** An attempt's own temporary name: a restarted job never appends to a crashed attempt's file. */
export const partName = (id: string, attempt: number) => `${id}.${attempt}.part`;
