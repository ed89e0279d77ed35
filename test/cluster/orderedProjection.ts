import { type FoldProjection, readsAll } from '../../core/runners/projectionRunner.js';
import type { Sql } from '../../core/stores/postgres.js';

/**
 * A read model that shows a double apply and an order break: one row per (key, n), so applying an
 * event twice fails its batch on the primary key; `seq` and `worker` tell in which order and by
 * which process each was applied.
 */
export const orderedProjection = (worker: string, opts: { onBatch?: (events: number) => void; slowMs?: number } = {}) =>
  ({
    kind: 'fold',
    name: 'cluster_ordered',
    stream: 'EVENTS',
    filterSubject: 'evt.ordered.>',
    reads: readsAll,
    batch: { maxEvents: 100, maxDelayMs: 5 },
    async apply(tx, events) {
      opts.onBatch?.(events.length);
      const rows = events.map((e) => {
        const { key, n } = e.data as { key: string; n: number };
        return { key, n, seq: e.seq, worker };
      });
      await tx`INSERT INTO cluster_ordered ${tx(rows)}`;
      // Widens the window in which a kill lands mid-batch.
      if (opts.slowMs) await new Promise((r) => setTimeout(r, opts.slowMs));
    },
    async reset(tx) {
      await tx`TRUNCATE cluster_ordered`;
    },
  }) satisfies FoldProjection;

export const createOrderedTable = (sql: Sql) =>
  sql`CREATE TABLE IF NOT EXISTS cluster_ordered (key text NOT NULL, n integer NOT NULL, seq bigint NOT NULL, worker text NOT NULL, PRIMARY KEY (key, n))`;

/** Order-independent fingerprint of what was applied (not by whom). */
export const orderedChecksum = async (sql: Sql) => {
  const [row] = await sql<{ sum: string | null; n: string }[]>`
    SELECT md5(string_agg(key || ':' || n || ':' || seq, ',' ORDER BY key, n)) AS sum, count(*) AS n FROM cluster_ordered`;
  return { md5: row?.sum ?? '', rows: Number(row?.n ?? 0) };
};
