import { ERP_ENTITIES } from '../../schemas/events/erp.js';
import { ErpSyncRequest } from '../../schemas/http/erp.js';
import type { ApiDeps } from '../deps.js';
import type { RouteSpec } from '../route.js';
import { requestErpSync } from '../routes/erp.js';
import { isUuid } from '../routes/rules.js';
import { validate } from '../validation.js';
import { asLegacy, compact, type LegacyAction, type LegacyBody, legacyRoute, lower, missing, ok, text } from './common.js';

const NAMES = { entity: 'entity_type', ids: 'entity_id', 'ids.0': 'entity_id' };

/** ErpSync.php called `sync` + ucfirst(entity_type): the singular (`application`) was the usual form. */
const plural = (v: unknown): unknown => {
  if (typeof v !== 'string') return v;
  const s = v.toLowerCase();
  const found = ERP_ENTITIES.find((e) => e === s || e === `${s}s` || (s.endsWith('y') && e === `${s.slice(0, -1)}ies`));
  return found ?? v;
};

const idsOf = (b: LegacyBody): unknown => {
  const one = text(b.entity_id);
  if (one !== undefined) return [one];
  return Array.isArray(b.ids) ? b.ids.map(text) : text(b.ids);
};

interface SyncRow {
  id: string;
  status: string;
  error_message: string | null;
  finished_at: Date | null;
}

/** `/api/erp-sync.php`: POST syncs (`action=sync`, or none as in PHP), GET `action=status`. */
export const erpSyncPhp = (deps: ApiDeps): RouteSpec[] => {
  const sync: LegacyAction = async ({ ctx, body, via }) => {
    const ids = idsOf(body);
    // PHP refused a sync without an id; in v1 no ids means every record, too costly to reach by an omission.
    if (ids === undefined) throw missing('entity_id', 'Entity type and ID are required');
    const req = compact({
      entity: plural(text(body.entity_type ?? body.entity)),
      direction: lower(text(body.direction)) ?? 'push',
      ids,
    });
    const { id, status } = await asLegacy(NAMES, () =>
      requestErpSync(deps, ctx, validate<ErpSyncRequest>(ErpSyncRequest, req, 'body'), via),
    );
    return ok({ id, status });
  };

  const status: LegacyAction = async ({ query }) => {
    const ref = text(query.id);
    let row: SyncRow | undefined;
    if (typeof ref === 'string' && isUuid(ref)) {
      [row] = await deps.sql<SyncRow[]>`SELECT id, status, error_message, finished_at FROM erp_sync_log WHERE id = ${ref}`;
    } else {
      const entity = plural(text(query.entity_type));
      const entityId = text(query.entity_id);
      if (typeof entity !== 'string' || typeof entityId !== 'string')
        throw missing('entity_id', 'Entity type and ID are required');
      [row] = await deps.sql<SyncRow[]>`SELECT id, status, error_message, finished_at FROM erp_sync_log
                                        WHERE entity = ${entity} AND ${entityId} = ANY(requested_ids)
                                        ORDER BY created_at DESC LIMIT 1`;
    }
    if (!row) return ok({ status: null });
    return ok({
      id: row.id,
      status: row.status,
      error_message: row.error_message,
      synced_at: row.finished_at?.toISOString() ?? null,
    });
  };

  const endpoint = { path: '/api/erp-sync.php', scope: 'erp', summary: 'Legacy ERP sync endpoint of the PHP CRM' } as const;
  return [
    legacyRoute({ ...endpoint, method: 'POST', actions: { sync }, default: 'sync' }),
    legacyRoute({ ...endpoint, method: 'GET', actions: { status } }),
  ];
};
