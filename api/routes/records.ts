import { currentVersions, getRecord, listRecords, notSetBy, type RecordRow } from '../../core/readModels/records.js';
import { appendRecordEvents, deletedEvent, type RecordInput, upsertedEvent } from '../../core/records/events.js';
import { projectionWaiter } from '../../core/records/projected.js';
import { versionNumber } from '../../core/records/version.js';
import { RECORD_SUBJECTS, type RecordEvent } from '../../schemas/events/record.js';
import {
  BatchBodies,
  BatchOutcome,
  DeleteQuery,
  ListQuery,
  PutBodies,
  type RecordChange,
  RecordHistory,
  RecordPage,
  RecordView,
} from '../../schemas/http/records.js';
import { RECORD_TYPES, RecordId, type RecordType } from '../../schemas/records/common.js';
import type { ApiDeps } from '../deps.js';
import { HttpProblem } from '../problemDetails.js';
import { defineRoute, type RequestContext, type RouteSpec } from '../route.js';
import { invalidFields } from '../validation.js';

/** How long a write waits for the read model to fold it before answering 202 instead. */
export const RECORD_WRITE_WAIT_MS = 5_000;
const HISTORY_MAX = 200;
const ID = new RegExp(RecordId.pattern as string);
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/i;

export const toView = (
  type: RecordType,
  r: Omit<
    RecordRow,
    'history' | 'search' | 'occurred_at' | 'name' | 'phone' | 'status' | 'company_id' | 'driver_id' | 'vehicle_id'
  >,
): RecordView => ({
  type,
  id: r.id,
  version: Number(r.version),
  deleted: r.deleted,
  record: Object.keys(r.attributes).length > 0 ? { ...r.fields, attributes: r.attributes } : r.fields,
  source: r.source,
  changedAt: r.changed_at.toISOString(),
  seq: Number(r.last_seq),
});

const stale = (type: RecordType, id: string, version: number, currentVersion: number) =>
  new HttpProblem('GW_ERR_RECORD_STALE', `${type}/${id}: version ${version} is not newer than ${currentVersion}`, {
    members: { currentVersion },
  });

const idOf = (ctx: RequestContext, type: RecordType) => {
  const id = ctx.params.id as string;
  if (!ID.test(id)) throw new HttpProblem('GW_ERR_NOT_FOUND', `no ${type} record ${id}`);
  return id;
};

const timeParam = (value: string | undefined, field: string) => {
  if (value === undefined) return undefined;
  const ms = ISO.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(ms))
    throw invalidFields([{ pointer: `/${field}`, field, detail: 'must be an ISO-8601 date or instant' }], 'query');
  return new Date(ms);
};

const cursorId = (cursor: string | undefined) => {
  if (cursor === undefined) return undefined;
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!ID.test(id)) throw invalidFields([{ pointer: '/cursor', field: 'cursor', detail: 'not a cursor of this list' }], 'query');
  return id;
};

const TIME_NOTE: Record<RecordType, string> = {
  applications: '`from`/`to` compare createdAt',
  companies: '`from`/`to` compare when the record last changed',
  drivers: '`from`/`to` compare when the record last changed',
  vehicles: '`from`/`to` compare when the record last changed',
};

const typeRoutes = (deps: ApiDeps, type: RecordType, waitFor: (seq: number, ms: number) => Promise<boolean>): RouteSpec[] => {
  const base = `/api/v1/records/${type}`;
  const tags = ['records'];
  const auth = { scope: 'records' } as const;
  const notYet = (seq: number) => ({ status: 202, body: { seq, projected: false } });
  return [
    defineRoute({
      method: 'PUT',
      path: `${base}/{id}`,
      operationId: `put_${type}`,
      summary: `Create or update one of ${type}`,
      description:
        "Taken only when `version` is newer than the mirror's: otherwise nothing changes and the answer is 409 `GW_ERR_RECORD_STALE` with `currentVersion`. Answers once the read model holds the write (202 if it did not within 5 s).",
      tags,
      auth,
      body: PutBodies[type],
      responses: {
        200: { description: 'updated', schema: RecordView },
        201: { description: 'created', schema: RecordView },
        202: { description: 'appended, not yet in the read model' },
        409: { description: 'version not newer; body has currentVersion' },
      },
      handle: async (ctx) => {
        const id = idOf(ctx, type);
        const body = ctx.body as unknown as { id?: string; version: number | string; [field: string]: unknown };
        if (body.id !== undefined && body.id !== id) {
          throw invalidFields([{ pointer: '/id', field: 'id', detail: 'must match the id in the path' }]);
        }
        const version = versionNumber(body.version);
        const current = (await currentVersions(deps.sql, type, [id])).get(id);
        if (current && current.version >= version) throw stale(type, id, version, current.version);
        const ack = await appendRecordEvents(deps.log, type, [upsertedEvent(type, { ...body, id }, 'crm')]);
        if (!(await waitFor(ack.seq, RECORD_WRITE_WAIT_MS))) return notYet(ack.seq);
        const row = await getRecord(deps.sql, type, id);
        if (!row || Number(row.last_seq) !== ack.seq) throw stale(type, id, version, Number(row?.version ?? 0));
        return { status: row.history.length === 1 ? 201 : 200, body: toView(type, row) };
      },
    }),
    defineRoute({
      method: 'DELETE',
      path: `${base}/{id}`,
      operationId: `delete_${type}`,
      summary: `Delete one of ${type}`,
      description:
        "With `version`, only when newer than the mirror's (409 otherwise). The mirror keeps a tombstone and the history.",
      tags,
      auth,
      query: DeleteQuery,
      responses: {
        200: { description: 'deleted', schema: RecordView },
        202: { description: 'appended, not yet in the read model' },
        404: { description: 'no such record' },
        409: { description: 'version not newer' },
      },
      handle: async (ctx) => {
        const id = idOf(ctx, type);
        const given = ctx.query.version;
        let version: number | undefined;
        if (given !== undefined) {
          version = /^\d{1,16}$/.test(given) ? Number(given) : ISO.test(given) ? Date.parse(given) : Number.NaN;
          if (!Number.isSafeInteger(version)) {
            throw invalidFields(
              [{ pointer: '/version', field: 'version', detail: 'an integer or an ISO-8601 instant' }],
              'query',
            );
          }
        }
        const current = (await currentVersions(deps.sql, type, [id])).get(id);
        if (!current || current.deleted) throw new HttpProblem('GW_ERR_NOT_FOUND', `no ${type} record ${id}`);
        if (version !== undefined && current.version >= version) throw stale(type, id, version, current.version);
        const ack = await appendRecordEvents(deps.log, type, [deletedEvent(type, id, 'crm', version)]);
        if (!(await waitFor(ack.seq, RECORD_WRITE_WAIT_MS))) return notYet(ack.seq);
        const row = await getRecord(deps.sql, type, id);
        if (!row || Number(row.last_seq) !== ack.seq) throw stale(type, id, version ?? 0, Number(row?.version ?? 0));
        return { status: 200, body: toView(type, row) };
      },
    }),
    defineRoute({
      method: 'POST',
      path: `${base}/batch`,
      operationId: `batch_${type}`,
      summary: `Create or update up to 1,000 ${type} as one log message`,
      description:
        'All or nothing at the door: one invalid item refuses the batch (400, a pointer per bad item) and nothing is appended. Once appended, each item is taken when its version is newer; `stale` lists the others with the version the mirror holds.',
      tags,
      auth,
      body: BatchBodies[type],
      maxBodyBytes: 4 * 1024 * 1024,
      responses: {
        200: { description: 'appended and folded', schema: BatchOutcome },
        202: { description: 'appended, not yet in the read model' },
      },
      handle: async (ctx) => {
        const items = (ctx.body as unknown as { records: RecordInput[] }).records;
        const now = new Date();
        const ack = await appendRecordEvents(
          deps.log,
          type,
          items.map((r) => upsertedEvent(type, r, 'crm', now)),
        );
        if (!(await waitFor(ack.seq, RECORD_WRITE_WAIT_MS))) return notYet(ack.seq);
        const missed = await notSetBy(deps.sql, type, [...new Set(items.map((r) => r.id))], ack.seq);
        const staleItems: BatchOutcome['stale'] = [];
        for (const r of items) {
          const currentVersion = missed.get(r.id);
          if (currentVersion !== undefined) staleItems.push({ id: r.id, version: versionNumber(r.version), currentVersion });
        }
        const body: BatchOutcome = {
          seq: ack.seq,
          projected: true,
          applied: items.length - staleItems.length,
          stale: staleItems,
        };
        return { status: 200, body };
      },
    }),
    defineRoute({
      method: 'GET',
      path: base,
      operationId: `list_${type}`,
      summary: `List ${type}`,
      description: `In id order, \`limit\` a page (default 100), \`nextCursor\` for the next one: writes between pages neither repeat nor skip a record. Filters combine with AND; \`q\` finds text in name, plate or phone (applications: the addresses). ${TIME_NOTE[type]}.`,
      tags,
      auth,
      query: ListQuery,
      responses: { 200: { description: 'a page', schema: RecordPage } },
      handle: async (ctx) => {
        const q = ctx.query;
        const limit = q.limit ?? 100;
        const rows = await listRecords(deps.sql, type, {
          ...(q.status === undefined ? {} : { status: q.status }),
          ...(q.company === undefined ? {} : { company: q.company }),
          ...(q.driver === undefined ? {} : { driver: q.driver }),
          ...(q.vehicle === undefined ? {} : { vehicle: q.vehicle }),
          ...(q.q === undefined ? {} : { q: q.q.toLowerCase() }),
          from: timeParam(q.from, 'from'),
          to: timeParam(q.to, 'to'),
          after: cursorId(q.cursor),
          limit: limit + 1,
        });
        const page = rows.slice(0, limit);
        const last = page[page.length - 1];
        const nextCursor = rows.length > limit && last ? Buffer.from(last.id).toString('base64url') : null;
        return { status: 200, body: { records: page.map((r) => toView(type, r)), nextCursor } };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/{id}`,
      operationId: `get_${type}`,
      summary: `One of ${type}`,
      tags,
      auth,
      responses: { 200: { description: 'the record', schema: RecordView }, 404: { description: 'no such record, or deleted' } },
      handle: async (ctx) => {
        const id = idOf(ctx, type);
        const row = await getRecord(deps.sql, type, id);
        if (!row || row.deleted) throw new HttpProblem('GW_ERR_NOT_FOUND', `no ${type} record ${id}`);
        return { status: 200, body: toView(type, row) };
      },
    }),
    defineRoute({
      method: 'GET',
      path: `${base}/{id}/history`,
      operationId: `history_${type}`,
      summary: `Every change the mirror took of one of ${type}, oldest first`,
      description: `Read from the log at the sequences the read model lists for the record (the last ${HISTORY_MAX}); a deleted record keeps its history.`,
      tags,
      auth,
      responses: { 200: { description: 'the changes', schema: RecordHistory }, 404: { description: 'never seen' } },
      handle: async (ctx) => {
        const id = idOf(ctx, type);
        const row = await getRecord(deps.sql, type, id);
        if (!row) throw new HttpProblem('GW_ERR_NOT_FOUND', `no ${type} record ${id}`);
        const seqs = row.history.slice(-HISTORY_MAX).map(Number);
        const messages = await Promise.all(
          seqs.map((seq) => deps.log.read('EVENTS', 1, { fromSeq: seq, filterSubject: RECORD_SUBJECTS })),
        );
        const changes: RecordChange[] = [];
        messages.forEach(([m], i) => {
          if (!m || m.seq !== seqs[i]) return;
          for (const e of m.events as RecordEvent[]) {
            if (e.data.type !== type || e.data.id !== id) continue;
            changes.push({
              seq: m.seq,
              eventId: e.id,
              type: e.type,
              time: e.time,
              source: e.data.source,
              version: e.data.version ?? null,
              ...(e.type === 'record.upserted' ? { record: e.data.record } : {}),
            });
          }
        });
        return { status: 200, body: { type, id, changes } };
      },
    }),
  ];
};

/** `/api/v1/records/{type}...` for every record type (scope `records`; `X-API-Key` works as for every route). */
export const recordRoutes = (deps: ApiDeps): RouteSpec[] => {
  const waitFor = projectionWaiter(deps.sql, 'records');
  return RECORD_TYPES.flatMap((type) => typeRoutes(deps, type, waitFor));
};
