import type { ExportRequested } from '../../schemas/events/export.js';
import { ENTITIES } from './entities.js';
import type { BoundFilter, ColumnDef, EntityDef } from './types.js';

/** A request that can never be exported (unknown column or filter, bad value): failed at once. */
export class ExportInputError extends Error {
  constructor(
    readonly code: 'UNKNOWN_ENTITY' | 'UNKNOWN_COLUMN' | 'UNKNOWN_FILTER' | 'INVALID_FILTER' | 'INVALID_TIME_ZONE',
    message: string,
  ) {
    super(message);
  }
}

export interface ExportPlan {
  entity: EntityDef;
  columns: readonly ColumnDef[];
  filters: readonly BoundFilter[];
  locale: 'ru' | 'en';
  timeZone: string;
  /** `filters.limit` (the PHP CRM's): at most this many rows, first in the entity's order. */
  limit: number | undefined;
}

type Request = Pick<ExportRequested, 'entity' | 'filters' | 'columns' | 'locale' | 'timeZone'>;

/** Checks a request against its entity's columns and filters: the API and the handler both call it. */
export const planExport = (req: Request): ExportPlan => {
  const entity = (ENTITIES as Record<string, EntityDef | undefined>)[req.entity];
  if (!entity)
    throw new ExportInputError('UNKNOWN_ENTITY', `no entity ${req.entity}; one of ${Object.keys(ENTITIES).join(', ')}`);
  const byKey = new Map(entity.columns.map((c) => [c.key, c]));
  const columns = (req.columns ?? entity.columns.map((c) => c.key)).map((k) => {
    const col = byKey.get(k);
    if (!col)
      throw new ExportInputError(
        'UNKNOWN_COLUMN',
        `${entity.name} has no column ${k}; its columns: ${[...byKey.keys()].join(', ')}`,
      );
    return col;
  });
  const { limit: rawLimit, ...given } = req.filters ?? {};
  const limit = rawLimit === undefined ? undefined : Number(rawLimit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) {
    throw new ExportInputError('INVALID_FILTER', `filter limit must be a positive integer, got ${String(rawLimit)}`);
  }
  const filters = Object.entries(given).map(([k, v]): BoundFilter => {
    const def = entity.filters[k];
    if (!def) {
      throw new ExportInputError(
        'UNKNOWN_FILTER',
        `${entity.name} has no filter ${k}; its filters: ${[...Object.keys(entity.filters), 'limit'].join(', ')}`,
      );
    }
    if (typeof v !== 'string' && typeof v !== 'number')
      throw new ExportInputError('INVALID_FILTER', `filter ${k} must be a string`);
    const value = String(v);
    if (value.length === 0 || value.length > 200)
      throw new ExportInputError('INVALID_FILTER', `filter ${k} must have 1 to 200 characters`);
    if (def.kind === 'time' && Number.isNaN(Date.parse(value))) {
      throw new ExportInputError('INVALID_FILTER', `filter ${k} must be an ISO 8601 date or date-time, got ${value}`);
    }
    return { def, value: def.kind === 'time' ? new Date(value).toISOString() : value };
  });
  const timeZone = req.timeZone ?? 'UTC';
  try {
    new Intl.DateTimeFormat('en', { timeZone });
  } catch {
    throw new ExportInputError('INVALID_TIME_ZONE', `unknown time zone ${timeZone}`);
  }
  return { entity, columns, filters, locale: req.locale ?? 'ru', timeZone, limit };
};
