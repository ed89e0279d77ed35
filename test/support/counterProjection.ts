import { type Projection, readsAll } from '../../core/runners/projectionRunner.js';
import type { Sql } from '../../core/stores/postgres.js';

/** A read model for tests: per key, the sum of `amount` and the number of events folded. */
export const counterProjection = (opts: { onBatch?: (events: number) => void; slowMs?: number } = {}): Projection => ({
  kind: 'fold',
  name: 'test_counter',
  reads: readsAll,
  stream: 'EVENTS',
  filterSubject: 'evt.counter.>',
  async apply(tx, events) {
    opts.onBatch?.(events.length);
    for (const [i, e] of events.entries()) {
      const { key, amount } = e.data as { key: string; amount: number };
      await tx`
        INSERT INTO test_counter (key, total, events, last_seq) VALUES (${key}, ${amount}, 1, ${e.seq})
        ON CONFLICT (key) DO UPDATE SET total = test_counter.total + excluded.total,
          events = test_counter.events + 1, last_seq = excluded.last_seq`;
      // Widens the window in which a kill lands mid-batch.
      if (opts.slowMs && i === Math.floor(events.length / 2)) await new Promise((r) => setTimeout(r, opts.slowMs));
    }
  },
  async reset(tx) {
    await tx`TRUNCATE test_counter`;
  },
});

export const createCounterTable = (sql: Sql) =>
  sql`CREATE TABLE IF NOT EXISTS test_counter (key text PRIMARY KEY, total bigint NOT NULL, events integer NOT NULL, last_seq bigint NOT NULL)`;

/** Order-independent fingerprint of the read model. */
export const counterChecksum = async (sql: Sql) => {
  const [row] = await sql<{ sum: string | null; n: string }[]>`
    SELECT md5(string_agg(key || ':' || total || ':' || events, ',' ORDER BY key)) AS sum, count(*) AS n FROM test_counter`;
  return { md5: row?.sum ?? '', rows: Number(row?.n ?? 0) };
};
