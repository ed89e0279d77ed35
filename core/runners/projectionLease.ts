import type postgres from 'postgres';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';
import type { Sql } from '../stores/postgres.js';

type ReservedSql = postgres.ReservedSql<Record<string, never>>;

/** First key of every projection lock: keeps them apart from other advisory locks (migrations use one key). */
const LOCK_NAMESPACE = 0x46_47_50_4c; // "FGPL"

/** A held lease: `lost` aborts when the holder can no longer be sure it is the only runner. */
export interface HeldLease {
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

/**
 * Which process runs a projection: one at a time across every process on the same Postgres.
 * `acquire` resolves once this process holds the projection's lease (undefined when `signal`
 * aborted first).
 */
export interface ProjectionLeases {
  acquire(name: string, signal: AbortSignal): Promise<HeldLease | undefined>;
  close(): Promise<void>;
}

export interface ProjectionLeaseOptions {
  sql: Sql;
  logger: Logger;
  /** How often a waiting process tries the locks and a holder checks its connection (ms). */
  pollMs: number;
}

interface Waiter {
  name: string;
  resolve(lease: HeldLease | undefined): void;
}

/**
 * Leases as session-level advisory locks on one reserved Postgres connection. A process that dies
 * (even by SIGKILL) closes that connection and Postgres frees its locks at once; a waiting process
 * takes them over at its next poll. The lease keeps a second runner from doing the work twice; it
 * is not what keeps the read model right – the checkpoint compare-and-set in the runner still
 * fences a runner that lost its lease (say, its connection broke) but has a batch in hand.
 */
export const projectionLeases = ({ sql, logger, pollMs }: ProjectionLeaseOptions): ProjectionLeases => {
  const llog = logger.child({ part: 'projection-lease' });
  const waiting = new Set<Waiter>();
  const held = new Map<string, AbortController>();
  let conn: { sql: ReservedSql; pid: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let closed = false;

  const lockKey = (name: string) => `fleetgate.projection.${name}`;

  /** The connection went away (or we are closing): every lock it held is gone with it. */
  const dropAll = (why: string) => {
    for (const [name, lost] of held) {
      llog.warn({ projection: name, why }, 'projection lease lost');
      metrics.projectionActive.set({ projection: name }, 0);
      lost.abort(new Error(`lease lost: ${why}`));
    }
    held.clear();
    const c = conn;
    conn = undefined;
    try {
      c?.sql.release();
    } catch {
      // already gone
    }
  };

  const connection = async () => {
    if (conn) {
      // Same backend as when the locks were taken? A reconnect behind our back would hold none.
      const [row] = await conn.sql<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
      if (row?.pid === conn.pid) return conn;
      dropAll('connection replaced');
    }
    const reserved = await sql.reserve();
    const [row] = await reserved<{ pid: number }[]>`SELECT pg_backend_pid() AS pid`;
    conn = { sql: reserved, pid: row?.pid ?? 0 };
    return conn;
  };

  const grant = (w: Waiter) => {
    const lost = new AbortController();
    held.set(w.name, lost);
    metrics.projectionActive.set({ projection: w.name }, 1);
    llog.info({ projection: w.name }, 'projection lease taken: this process runs it');
    w.resolve({
      lost: lost.signal,
      release: async () => {
        if (held.get(w.name) !== lost) return;
        held.delete(w.name);
        metrics.projectionActive.set({ projection: w.name }, 0);
        const c = conn;
        if (c) {
          await c.sql`SELECT pg_advisory_unlock(${LOCK_NAMESPACE}::int4, hashtext(${lockKey(w.name)}))`.catch(() => {});
        }
      },
    });
  };

  const tick = async () => {
    if (closed || (waiting.size === 0 && held.size === 0)) return;
    try {
      const c = await connection();
      for (const w of [...waiting]) {
        const [row] = await c.sql<
          { ok: boolean }[]
        >`SELECT pg_try_advisory_lock(${LOCK_NAMESPACE}::int4, hashtext(${lockKey(w.name)})) AS ok`;
        if (row?.ok && waiting.delete(w)) grant(w);
      }
    } catch (e) {
      dropAll(e instanceof Error ? e.message : String(e));
    }
  };

  const schedule = () => {
    if (closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      ticking = tick().finally(() => {
        ticking = undefined;
        schedule();
      });
    }, pollMs);
  };

  return {
    acquire(name, signal) {
      if (signal.aborted || closed) return Promise.resolve(undefined);
      return new Promise((resolve) => {
        const w: Waiter = {
          name,
          resolve: (lease) => {
            signal.removeEventListener('abort', cancel);
            resolve(lease);
          },
        };
        const cancel = () => {
          if (waiting.delete(w)) w.resolve(undefined);
        };
        signal.addEventListener('abort', cancel, { once: true });
        metrics.projectionActive.set({ projection: name }, 0);
        waiting.add(w);
        // Try at once rather than after a poll: a single process starts without delay.
        if (!ticking) ticking = tick().finally(() => (ticking = undefined));
        schedule();
      });
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      await ticking;
      for (const w of waiting) w.resolve(undefined);
      waiting.clear();
      const c = conn;
      for (const [name, lost] of held) {
        if (c) await c.sql`SELECT pg_advisory_unlock(${LOCK_NAMESPACE}::int4, hashtext(${lockKey(name)}))`.catch(() => {});
        metrics.projectionActive.set({ projection: name }, 0);
        lost.abort(new Error('lease released: closing'));
      }
      held.clear();
      dropAll('closed');
    },
  };
};
