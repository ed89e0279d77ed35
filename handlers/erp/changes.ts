import { randomUUID } from 'node:crypto';
import type { Consumer, Delivery, EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { projectionWaiter } from '../../core/records/projected.js';
import type { Sql } from '../../core/stores/postgres.js';
import { ERP_ENTITIES, type ErpEntity } from '../../schemas/events/erp.js';
import { paymentEvents } from '../../schemas/events/payment.js';
import { RECORD_DELETED, RECORD_SUBJECTS, RECORD_UPSERTED, type RecordDeleted } from '../../schemas/events/record.js';
import { AUTO_SYNC_ORDER } from './scheduler.js';
import type { ErpSyncEngine } from './sync.js';

/** Referenced entities first, as the scheduler sends them: a driver's company has its ERP key by then. */
const PUSH_ORDER: readonly ErpEntity[] = AUTO_SYNC_ORDER.filter(([, d]) => d === 'push').map(([e]) => e);
const PAYMENT_CHANGES: readonly string[] = [paymentEvents.defs.succeeded.type, paymentEvents.defs.refundSucceeded.type];
/** ErpSyncStarted carries at most 1,000 ids. */
const MAX_IDS_PER_RUN = 1_000;

export interface ChangePusherOptions {
  log: EventLog;
  sql: Sql;
  logger: Logger;
  engine: ErpSyncEngine;
  /** A batch is pushed this long after its first change at the latest… */
  maxDelayMs?: number;
  /** …or once it holds this many distinct ids. */
  maxIds?: number;
  /** How long a batch waits for the read models to fold its changes before pushing what they hold. */
  projectionWaitMs?: number;
  ackWaitMs?: number;
}

interface Source {
  /** Durable consumer name (shared by every handlers process: each change goes to one of them). */
  name: string;
  filterSubject: string;
  /** The projection whose read model the push reads (`projection_checkpoints.name`). */
  projection: string;
  /** The ERP entity and id a change is about; undefined: not one to push. */
  idOf(e: { type: string; data: unknown }): [ErpEntity, string] | undefined;
}

const isErpEntity = (t: string): t is ErpEntity => (ERP_ENTITIES as readonly string[]).includes(t);

const SOURCES: readonly Source[] = [
  {
    name: 'erp-push-records',
    filterSubject: RECORD_SUBJECTS,
    projection: 'records',
    idOf(e) {
      if (e.type !== RECORD_UPSERTED && e.type !== RECORD_DELETED) return undefined;
      const d = e.data as Pick<RecordDeleted, 'source' | 'type' | 'id'>;
      // What the pull brought in is the ERP's own: sending it back would echo forever.
      if (d.source === 'erp' || !isErpEntity(d.type)) return undefined;
      return [d.type, d.id];
    },
  },
  {
    name: 'erp-push-payments',
    filterSubject: 'evt.payment.tx.>',
    projection: 'payment_transactions',
    idOf(e) {
      if (!PAYMENT_CHANGES.includes(e.type)) return undefined;
      return ['payments', (e.data as { paymentId: string }).paymentId];
    },
  },
];

/**
 * Push on change: follows record changes from the CRM (`record.upserted` / `record.deleted`,
 * source other than erp) and the ledger's captured and refunded payments, collects the changed
 * ids per entity for up to `maxDelayMs` or `maxIds`, and pushes them through the sync engine
 * (links, gateway keys, the no-duplicate search and erp_sync_log all apply; trigger `change`).
 *
 * The engine reads the read models, so a batch first waits until their projections folded it.
 * Deliveries are acknowledged after the push whatever its outcome: a change that failed to go
 * (ERP down, a projection behind) stays in the backlog — records changed since their last sync —
 * which the next scheduled or requested push sends. Nothing is lost, only later.
 */
export const erpChangePusher = (opts: ChangePusherOptions) => {
  const maxDelayMs = opts.maxDelayMs ?? 1_000;
  const maxIds = opts.maxIds ?? 500;
  const projectionWaitMs = opts.projectionWaitMs ?? 10_000;
  const ackWaitMs = opts.ackWaitMs ?? 120_000;
  const logger = opts.logger.child({ part: 'erp-push-on-change' });
  const ac = new AbortController();

  const collect = async (consumer: Consumer, source: Source) => {
    const deliveries: Delivery[] = [];
    const ids = new Map<ErpEntity, Set<string>>();
    let count = 0;
    let deadline = Number.POSITIVE_INFINITY;
    while (!ac.signal.aborted && count < maxIds) {
      const wait = deliveries.length === 0 ? 1_000 : deadline - Date.now();
      if (wait <= 0) break;
      const got = await consumer.fetch({ max: 100, expiresMs: wait });
      if (got.length === 0 && deliveries.length === 0) continue;
      if (deliveries.length === 0 && got.length > 0) deadline = Date.now() + maxDelayMs;
      for (const d of got) {
        deliveries.push(d);
        for (const e of d.events) {
          const hit = source.idOf(e);
          if (!hit) continue;
          const set = ids.get(hit[0]) ?? new Set<string>();
          ids.set(hit[0], set);
          if (!set.has(hit[1])) {
            set.add(hit[1]);
            count++;
          }
        }
      }
    }
    return { deliveries, ids };
  };

  const push = async (ids: Map<ErpEntity, Set<string>>) => {
    for (const entity of PUSH_ORDER) {
      const all = [...(ids.get(entity) ?? [])];
      for (let i = 0; i < all.length; i += MAX_IDS_PER_RUN) {
        const chunk = all.slice(i, i + MAX_IDS_PER_RUN);
        try {
          await opts.engine.run({ runId: randomUUID(), entity, direction: 'push', trigger: 'change', ids: chunk });
        } catch (err) {
          // The run appended erp.sync_failed; the backlog keeps the changes for the next push.
          logger.warn(
            { entity, ids: chunk.length, err: err instanceof Error ? err.message : String(err) },
            'push on change failed',
          );
        }
      }
    }
  };

  const follow = async (source: Source) => {
    const startSeq = (await opts.log.lastSeq('EVENTS')) + 1;
    // A new consumer starts at the log's end: what came before is the backlog's.
    const consumer = await opts.log.consumer({
      stream: 'EVENTS',
      name: source.name,
      filterSubject: source.filterSubject,
      ackWaitMs,
      maxDeliver: 10,
      deadLetterSubject: null,
      startSeq,
    });
    const folded = projectionWaiter(opts.sql, source.projection);
    while (!ac.signal.aborted) {
      const { deliveries, ids } = await collect(consumer, source);
      if (deliveries.length === 0) continue;
      const keepAlive = setInterval(() => {
        for (const d of deliveries) d.working().catch(() => undefined);
      }, ackWaitMs / 3);
      try {
        if (ids.size > 0) {
          const lastSeq = Math.max(...deliveries.map((d) => d.seq));
          if (!(await folded(lastSeq, projectionWaitMs)))
            logger.warn({ projection: source.projection, seq: lastSeq }, 'read model behind; pushing what it holds');
          await push(ids);
        }
      } finally {
        clearInterval(keepAlive);
      }
      await Promise.all(deliveries.map((d) => d.ack().catch(() => undefined)));
    }
  };

  const loops = SOURCES.map(async (source) => {
    while (!ac.signal.aborted) {
      try {
        await follow(source);
      } catch (err) {
        if (ac.signal.aborted) return;
        logger.warn(
          { source: source.name, err: err instanceof Error ? err.message : String(err) },
          'change follower failed; restarting',
        );
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  });

  return {
    async stop() {
      ac.abort();
      await Promise.all(loops);
    },
  };
};
