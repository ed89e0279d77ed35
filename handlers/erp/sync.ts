import { type ConvertOptions, fromErpFields, gatewayKey, toErpFields } from '../../core/erp/convert.js';
import { newEvent } from '../../core/eventlog/newEvent.js';
import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { appendRecordEvents, deletedEvent, MAX_BATCH_RECORDS, upsertedEvent } from '../../core/records/events.js';
import { checkRecord } from '../../core/records/validate.js';
import type { Sql } from '../../core/stores/postgres.js';
import type { ErpEntityMapping, ErpMapping } from '../../schemas/erp/mapping.js';
import {
  ERP_ITEMS_SYNCED,
  ERP_RUNS_SUBJECT,
  ERP_SYNC_COMPLETED,
  ERP_SYNC_FAILED,
  ERP_SYNC_STARTED,
  type ErpEntity,
  type ErpSyncCompleted,
  type ErpSyncItem,
} from '../../schemas/events/erp.js';
import { isRecordType, type RecordType } from '../../schemas/records/common.js';
import { type Link, linkStore } from './links.js';
import { ErpError, type ErpObject, type ErpPort } from './port.js';

export interface ErpSyncDeps {
  port: ErpPort;
  sql: Sql;
  log: EventLog;
  logger: Logger;
  mapping: ErpMapping;
  /** The zone of 1C's zone-less dates. */
  timeZone: string;
  pageSize: number;
  /** ERP calls in flight at once within a page. */
  concurrency?: number;
  /** After each committed page (the scheduler renews its lease here). */
  onPage?: () => Promise<void>;
  now?: () => number;
}

export interface ErpRun {
  runId: string;
  entity: ErpEntity;
  direction: 'push' | 'pull';
  /**
   * `change`: the change pusher's batch (handlers/erp/changes.ts): only those of `ids` changed
   * since their last sync, and no cursor row — a failed batch is left to the backlog, which the
   * next scheduled or requested push takes, so it never displaces a resumable run's cursor.
   */
  trigger: 'request' | 'schedule' | 'change';
  ids?: readonly string[];
  /** The command that asked for the run (its events' causation). */
  causationId?: string;
}

interface Cursor {
  run_id: string;
  page: number;
  position: string | null;
  items: number;
  done: boolean;
}

/** A source item to push: a record (or a payment) as the mapping reads it, with its version. */
interface PushItem {
  id: string;
  version: number;
  body: Record<string, unknown>;
  /** Deleted in the CRM while its ERP object is still linked: mark the object deleted. */
  deleted?: boolean;
}

/** Runs `fn` over `items`, at most `limit` at once, results in order. */
const pool = async <T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> => {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
};

const short = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 500);
/** An item error that stops the page (the ERP is down, a timeout): the page is redone on resume. */
const stopsThePage = (e: unknown) => e instanceof ErpError && e.retryable;

/**
 * One sync run of one entity in one direction, page by page. Each page's outcome is appended
 * (records, `erp.items_synced`) and then its links and the cursor are committed in one
 * transaction: a run that stops (crash, ERP outage) resumes after the last committed page, and a
 * redone page appends under the same message ids, which the log drops (decision 0011).
 */
export const erpSync = (deps: ErpSyncDeps) => {
  const links = linkStore(deps.sql);
  const now = deps.now ?? Date.now;
  const concurrency = deps.concurrency ?? 8;
  const source = 'fleetgate/erp';

  const convertOptions = (cache: Map<string, string | undefined>): ConvertOptions => ({
    dates: deps.port.kind === 'custom' ? 'iso' : 'wall',
    timeZone: deps.timeZone,
    refs: {
      toErp: async (entity, crmId) => {
        const k = `e:${entity}:${crmId}`;
        if (!cache.has(k)) cache.set(k, (await links.byCrmId(entity, [crmId])).get(crmId)?.erp_key ?? undefined);
        return cache.get(k);
      },
      toCrm: async (entity, erpKey) => {
        const k = `c:${entity}:${erpKey}`;
        if (!cache.has(k)) cache.set(k, (await links.byErpKey(entity, [erpKey])).get(erpKey)?.crm_id);
        return cache.get(k);
      },
    },
  });

  const append = (run: ErpRun, type: string, data: unknown, msgId: string) => {
    const e = newEvent({
      type: type as typeof ERP_SYNC_STARTED,
      subject: ERP_RUNS_SUBJECT,
      source,
      data: data as never,
      ...(run.causationId === undefined ? {} : { causationId: run.causationId }),
    });
    return deps.log.append(ERP_RUNS_SUBJECT, e, { msgId });
  };

  const readCursor = async (run: ErpRun): Promise<Cursor | undefined> => {
    const [c] = await deps.sql<Cursor[]>`SELECT run_id, page, position, items, done FROM erp_sync_cursors
      WHERE entity = ${run.entity} AND direction = ${run.direction}`;
    return c && c.run_id === run.runId ? c : undefined;
  };

  // ---------------------------------------------------------------- push

  const pushSource = async (run: ErpRun, after: string | null, limit: number): Promise<PushItem[]> => {
    const ids = run.ids ? [...run.ids] : undefined;
    // Asked-for ids go whatever their state; otherwise (and for the change pusher) only the backlog.
    const everyAsked = ids !== undefined && run.trigger !== 'change';
    if (isRecordType(run.entity)) {
      // A CRM delete of a linked record is pushed once: the link goes with it. A delete the pull
      // brought (source erp) is the ERP's own and is not sent back.
      const rows = await deps.sql<{ id: string; version: string; fields: Record<string, unknown>; deleted: boolean }[]>`
        SELECT r.id, r.version, r.fields, r.deleted FROM ${deps.sql(run.entity)} r
        LEFT JOIN erp_links l ON l.entity = ${run.entity} AND l.crm_id = r.id
        WHERE true ${after === null ? deps.sql`` : deps.sql`AND r.id > ${after}`}
          ${ids ? deps.sql`AND r.id = ANY(${ids})` : deps.sql``}
          AND ((NOT r.deleted ${
            everyAsked ? deps.sql`` : deps.sql`AND (l.crm_id IS NULL OR l.erp_key IS NULL OR l.crm_version < r.version)`
          }) OR (r.deleted AND l.erp_key IS NOT NULL AND r.source <> 'erp'))
        ORDER BY r.id LIMIT ${limit}`;
      return rows.map((r) => ({ id: r.id, version: Number(r.version), body: r.fields, deleted: r.deleted }));
    }
    const rows = await deps.sql<
      {
        id: string;
        order_id: string;
        amount_minor: string;
        captured_minor: string;
        refunded_minor: string | null;
        currency: string;
        description: string | null;
        paid_at: Date | null;
        updated_at: Date;
      }[]
    >`SELECT p.id::text AS id, order_id, amount_minor, captured_minor, refunded_minor, currency, description, paid_at, updated_at
      FROM payment_transactions p LEFT JOIN erp_links l ON l.entity = 'payments' AND l.crm_id = p.id::text
      WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded') AND NOT p.test_mode
        ${after === null ? deps.sql`` : deps.sql`AND p.id::text > ${after}`}
        ${ids ? deps.sql`AND p.id::text = ANY(${ids})` : deps.sql``}
        ${
          everyAsked
            ? deps.sql``
            : // A refund moves updated_at past the version last sent (updated_at in ms): the document is sent again.
              deps.sql`AND (l.crm_id IS NULL OR l.erp_key IS NULL OR l.crm_version < floor(extract(epoch FROM p.updated_at) * 1000)::bigint)`
        }
      ORDER BY p.id::text LIMIT ${limit}`;
    return rows.map((p) => ({
      id: p.id,
      version: p.updated_at.getTime(),
      body: {
        orderId: p.order_id,
        // What the company keeps: captured less refunded (1C's incoming payment carries the net sum).
        amount: {
          amount: Math.max(0, (Number(p.captured_minor) || Number(p.amount_minor)) - Number(p.refunded_minor ?? 0)),
          currency: p.currency.trim(),
        },
        paidAt: (p.paid_at ?? p.updated_at).toISOString(),
        description: p.description,
      },
    }));
  };

  const pushOne = async (
    m: ErpEntityMapping,
    run: ErpRun,
    item: PushItem,
    link: Link | undefined,
    o: ConvertOptions,
  ): Promise<{ item: Omit<ErpSyncItem, 'n'>; link?: Link; unlink?: true }> => {
    const gwKey = gatewayKey(run.entity, item.id);
    if (item.deleted) {
      const key = link?.erp_key;
      if (!key) return { item: { crmId: item.id, action: 'skipped', status: 'ok' } };
      await deps.port.markDeleted(m.set, key);
      // The link goes: the object, now marked, is no longer this record's (a later pull skips it).
      return { item: { crmId: item.id, erpKey: key, action: 'deleted', status: 'ok' }, unlink: true };
    }
    const fields = await toErpFields(m, item.body, gwKey, o);
    const linkOf = (obj: ErpObject): Link => ({
      entity: run.entity,
      crm_id: item.id,
      gateway_key: gwKey,
      erp_key: obj.key,
      erp_version: obj.version,
      crm_version: item.version,
    });
    let erpKey = link?.erp_key ?? undefined;
    let erpVersion = link?.erp_version ?? undefined;
    let action: ErpSyncItem['action'] = 'updated';
    if (!erpKey && link) {
      // A create was sent before and its answer never came: it may be there. 1C has no idempotency key.
      const found = await deps.port.findByAttribute(m.set, m.keyAttribute, gwKey);
      if (found) {
        erpKey = found.key;
        erpVersion = found.version;
        action = 'linked';
      }
    }
    if (!erpKey) {
      let obj = await deps.port.create(m.set, fields);
      if (m.document) obj = await deps.port.post(m.set, obj.key);
      return { item: { crmId: item.id, erpKey: obj.key, action: 'created', status: 'ok' }, link: linkOf(obj) };
    }
    try {
      let obj = await deps.port.update(m.set, erpKey, fields, erpVersion);
      if (m.document) obj = await deps.port.post(m.set, obj.key);
      return { item: { crmId: item.id, erpKey, action, status: 'ok' }, link: linkOf(obj) };
    } catch (e) {
      if (!(e instanceof ErpError) || e.code !== 'conflict') throw e;
      // Changed in the ERP since the last sync (412): both sides changed, the entity's rule decides.
      const [current] = await deps.port.getMany(m.set, [erpKey]);
      if (!current) throw e;
      if (m.conflict === 'erp') {
        // The ERP's version stays; the next pull brings it into the CRM (its old erp_version is kept).
        return {
          item: { crmId: item.id, erpKey, action: 'skipped', status: 'conflict', conflict: { winner: 'erp', loser: item.body } },
          link: { ...linkOf(current), erp_version: erpVersion ?? null },
        };
      }
      let obj = await deps.port.update(m.set, erpKey, fields, current.version);
      if (m.document) obj = await deps.port.post(m.set, obj.key);
      return {
        item: {
          crmId: item.id,
          erpKey,
          action: 'updated',
          status: 'conflict',
          conflict: { winner: 'crm', loser: current.fields },
        },
        link: linkOf(obj),
      };
    }
  };

  const pushPage = async (run: ErpRun, m: ErpEntityMapping, cursor: Cursor) => {
    const items = await pushSource(run, cursor.position, deps.pageSize);
    if (items.length === 0) return undefined;
    const existing = await links.byCrmId(
      run.entity,
      items.map((i) => i.id),
    );
    // Durable before any create: a create whose answer is lost is then searched for, never repeated blindly.
    const mine = await links.markPending(
      run.entity,
      items.filter((i) => !existing.has(i.id)).map((i) => ({ crmId: i.id, gatewayKey: gatewayKey(run.entity, i.id) })),
      new Date(now()),
    );
    const o = convertOptions(new Map());
    const results = await pool(items, concurrency, async (item) => {
      // Another run (a change push beside a scheduled one) marked it first and is creating it now;
      // were it to fail, the backlog brings the record back.
      if (!existing.has(item.id) && !mine.has(item.id))
        return { item: { crmId: item.id, action: 'skipped' as const, status: 'ok' as const } };
      try {
        // No link before this page: a first create, nothing to search for.
        return await pushOne(m, run, item, existing.get(item.id), o);
      } catch (e) {
        if (stopsThePage(e)) throw e;
        return { item: { crmId: item.id, action: 'skipped' as const, status: 'failed' as const, error: short(e) } };
      }
    });
    return { results, position: items[items.length - 1]?.id ?? cursor.position, last: items.length < deps.pageSize };
  };

  // ---------------------------------------------------------------- pull

  const pullPage = async (run: ErpRun, m: ErpEntityMapping, cursor: Cursor, incremental: boolean) => {
    if (!isRecordType(run.entity)) throw ErpError.of('invalid', "payments are not pulled: the ledger is fleetgate's", false);
    const type: RecordType = run.entity;
    const page = await deps.port.list(m.set, {
      pageSize: deps.pageSize,
      versionsOnly: incremental,
      ...(cursor.position === null ? {} : { position: cursor.position }),
    });
    const known = await links.byErpKey(
      run.entity,
      page.objects.map((x) => x.key),
    );
    let changed = page.objects.filter((x) => {
      const l = known.get(x.key);
      return l ? l.erp_version !== x.version : !x.deleted;
    });
    // Only what changed is fetched whole (the listing asked for keys and versions only).
    if (incremental && changed.length > 0) {
      const full = await deps.port.getMany(
        m.set,
        changed.map((x) => x.key),
      );
      changed = full;
    }
    const skipped = page.objects.length - changed.length;
    const crmIds = changed.map((x) => known.get(x.key)?.crm_id ?? `erp-${x.key}`);
    const mirror = await deps.sql<
      {
        id: string;
        version: string;
        fields: Record<string, unknown>;
        attributes: Record<string, unknown>;
        source: string;
        deleted: boolean;
      }[]
    >`
      SELECT id, version, fields, attributes, source, deleted FROM ${deps.sql(type)} WHERE id = ANY(${crmIds})`;
    const byId = new Map(mirror.map((r) => [r.id, r]));
    const o = convertOptions(new Map());
    const events: EventEnvelope[] = [];
    const newLinks: Link[] = [];
    const results: { item: Omit<ErpSyncItem, 'n'> }[] = [];
    for (const [i, obj] of changed.entries()) {
      const crmId = crmIds[i] as string;
      const link = known.get(obj.key);
      const current = byId.get(crmId);
      const linkTo = (crmVersion: number, erpVersion = obj.version): Link => ({
        entity: run.entity,
        crm_id: crmId,
        gateway_key: gatewayKey(run.entity, crmId),
        erp_key: obj.key,
        erp_version: erpVersion,
        crm_version: crmVersion,
      });
      try {
        if (obj.deleted) {
          if (current && !current.deleted) events.push(deletedEvent(type, crmId, 'erp'));
          newLinks.push(linkTo(Number(current?.version ?? 0)));
          results.push({ item: { crmId, erpKey: obj.key, action: 'deleted', status: 'ok' } });
          continue;
        }
        const fromErp = await fromErpFields(m, obj.fields, o);
        const crmChanged = !!(current && link && Number(current.version) > link.crm_version && current.source !== 'erp');
        if (crmChanged && m.conflict === 'crm') {
          // The CRM's version stays; its next push overwrites the ERP (If-Match the version just read).
          newLinks.push(linkTo(link?.crm_version ?? 0));
          results.push({
            item: {
              crmId,
              erpKey: obj.key,
              action: 'skipped',
              status: 'conflict',
              conflict: { winner: 'crm', loser: obj.fields },
            },
          });
          continue;
        }
        const version = Math.max(Number(current?.version ?? 0) + 1, now());
        const merged = { ...(current ? {} : (m.defaults ?? {})), ...(current?.fields ?? {}), ...fromErp };
        const checked = checkRecord(type, {
          id: crmId,
          version,
          ...Object.fromEntries(Object.entries(merged).filter(([, v]) => v !== undefined)),
          ...(current && Object.keys(current.attributes).length > 0 ? { attributes: current.attributes } : {}),
        });
        if (!checked.ok) {
          results.push({
            item: { crmId, erpKey: obj.key, action: 'skipped', status: 'failed', error: checked.error.slice(0, 500) },
          });
          continue;
        }
        events.push(upsertedEvent(type, checked.record, 'erp'));
        newLinks.push(linkTo(version));
        results.push({
          item: {
            crmId,
            erpKey: obj.key,
            action: current ? 'updated' : 'created',
            status: crmChanged ? 'conflict' : 'ok',
            ...(crmChanged ? { conflict: { winner: 'erp' as const, loser: current?.fields ?? {} } } : {}),
          },
        });
      } catch (e) {
        results.push({ item: { crmId, erpKey: obj.key, action: 'skipped', status: 'failed', error: short(e) } });
      }
    }
    for (let i = 0; i < events.length; i += MAX_BATCH_RECORDS) {
      await appendRecordEvents(deps.log, type, events.slice(i, i + MAX_BATCH_RECORDS), {
        msgId: `erp:${run.runId}:records:${cursor.page}:${i}`,
      });
    }
    return { results, newLinks, unlinked: [] as string[], skipped, position: page.next ?? null, last: page.next === undefined };
  };

  // ---------------------------------------------------------------- the run

  const run = async (r: ErpRun): Promise<ErpSyncCompleted> => {
    const m = deps.mapping[r.entity];
    const started = now();
    const persistent = r.trigger !== 'change';
    const resumedFrom = persistent ? await readCursor(r) : undefined;
    if (resumedFrom?.done) {
      // Already finished (a redelivered command): answer with the log's outcome, do nothing again.
      return {
        runId: r.runId,
        entity: r.entity,
        direction: r.direction,
        total: resumedFrom.items,
        ok: 0,
        failed: 0,
        conflicts: 0,
        skipped: 0,
        durationMs: 0,
      };
    }
    const cursor: Cursor = resumedFrom ?? { run_id: r.runId, page: 0, position: null, items: 0, done: false };
    if (!resumedFrom && persistent) {
      await deps.sql`INSERT INTO erp_sync_cursors (entity, direction, run_id, page, position, items, done, updated_at)
        VALUES (${r.entity}, ${r.direction}, ${r.runId}, 0, NULL, 0, false, now())
        ON CONFLICT (entity, direction) DO UPDATE SET run_id = EXCLUDED.run_id, page = 0, position = NULL, items = 0,
          done = false, updated_at = now()`;
    }
    await append(
      r,
      ERP_SYNC_STARTED,
      {
        runId: r.runId,
        entity: r.entity,
        direction: r.direction,
        trigger: r.trigger,
        resumed: !!resumedFrom,
        ...(r.ids ? { ids: [...r.ids] } : {}),
      },
      // A resumed start is a new attempt (the log would drop a second `started` under the first one's id).
      `erp:${r.runId}:started:${resumedFrom ? `${cursor.page}:${now()}` : 0}`,
    );
    const totals = { total: 0, ok: 0, failed: 0, conflicts: 0, skipped: 0 };
    const incremental = r.direction === 'pull' && deps.port.kind === '1c' && (await links.count(r.entity)) > 0;
    try {
      for (;;) {
        const outcome =
          r.direction === 'push'
            ? await pushPage(r, m, cursor).then((p) =>
                p
                  ? {
                      results: p.results,
                      newLinks: p.results.flatMap((x) => ('link' in x && x.link ? [x.link] : [])),
                      unlinked: p.results.flatMap((x) => ('unlink' in x && x.unlink && x.item.crmId ? [x.item.crmId] : [])),
                      skipped: 0,
                      position: p.position,
                      last: p.last,
                    }
                  : undefined,
              )
            : await pullPage(r, m, cursor, incremental);
        if (!outcome) break;
        const items: ErpSyncItem[] = outcome.results.map((x, i) => ({ n: cursor.items + i, ...x.item }));
        for (const it of items) {
          totals.total++;
          if (it.status === 'failed') totals.failed++;
          else totals.ok++;
          if (it.status === 'conflict') totals.conflicts++;
        }
        totals.skipped += outcome.skipped;
        if (items.length > 0) {
          await append(
            r,
            ERP_ITEMS_SYNCED,
            { runId: r.runId, entity: r.entity, direction: r.direction, page: cursor.page, items },
            `erp:${r.runId}:items:${cursor.page}`,
          );
        }
        cursor.page++;
        cursor.items += items.length;
        cursor.position = outcome.position;
        await deps.sql.begin(async (tx) => {
          await links.upsert(tx, outcome.newLinks, new Date(now()));
          await links.remove(tx, r.entity, outcome.unlinked);
          if (!persistent) return;
          await tx`UPDATE erp_sync_cursors SET page = ${cursor.page}, position = ${cursor.position}, items = ${cursor.items},
              done = ${outcome.last}, updated_at = now()
            WHERE entity = ${r.entity} AND direction = ${r.direction} AND run_id = ${r.runId}`;
        });
        await deps.onPage?.();
        if (outcome.last) break;
      }
      if (persistent)
        await deps.sql`UPDATE erp_sync_cursors SET done = true WHERE entity = ${r.entity} AND direction = ${r.direction} AND run_id = ${r.runId}`;
    } catch (e) {
      const error = short(e);
      deps.logger.warn(
        { runId: r.runId, entity: r.entity, direction: r.direction, page: cursor.page, err: error },
        'erp sync run stopped',
      );
      await append(
        r,
        ERP_SYNC_FAILED,
        { runId: r.runId, entity: r.entity, direction: r.direction, error },
        `erp:${r.runId}:failed:${cursor.page}:${now()}`,
      ).catch(() => undefined);
      throw e;
    }
    const completed: ErpSyncCompleted = {
      runId: r.runId,
      entity: r.entity,
      direction: r.direction,
      ...totals,
      durationMs: Math.max(0, Math.round(now() - started)),
    };
    await append(r, ERP_SYNC_COMPLETED, completed, `erp:${r.runId}:completed`);
    return completed;
  };

  /** The run a scheduled sync should continue: the unfinished one of this entity and direction, if any. */
  const unfinishedRun = async (entity: ErpEntity, direction: 'push' | 'pull') => {
    const [c] = await deps.sql<{ run_id: string }[]>`SELECT run_id FROM erp_sync_cursors
      WHERE entity = ${entity} AND direction = ${direction} AND NOT done`;
    return c?.run_id;
  };

  return { run, unfinishedRun };
};
export type ErpSyncEngine = ReturnType<typeof erpSync>;
