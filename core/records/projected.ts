import type { Sql } from '../stores/postgres.js';

/** How often the shared poller reads the checkpoint while a request waits. */
const POLL_MS = 5;

interface Waiter {
  seq: number;
  resolve(projected: boolean): void;
  deadline: number;
}

/**
 * Read-your-write for the record routes: resolves true once the projection `name` folded up to
 * `seq`, false after `timeoutMs`. One poller per projection and database serves every waiting
 * request with one query a tick, whichever process runs the projection.
 */
export const projectionWaiter = (sql: Sql, name: string) => {
  const waiters = new Set<Waiter>();
  let polling = false;
  const poll = async () => {
    polling = true;
    try {
      while (waiters.size > 0) {
        const [row] = await sql<{ last_seq: string }[]>`SELECT last_seq FROM projection_checkpoints WHERE name = ${name}`;
        const at = Number(row?.last_seq ?? 0);
        const now = Date.now();
        for (const w of waiters) {
          if (w.seq <= at || now >= w.deadline) {
            waiters.delete(w);
            w.resolve(w.seq <= at);
          }
        }
        if (waiters.size > 0) await new Promise((r) => setTimeout(r, POLL_MS));
      }
    } catch {
      for (const w of waiters) w.resolve(false);
      waiters.clear();
    } finally {
      polling = false;
    }
  };
  return (seq: number, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      waiters.add({ seq, resolve, deadline: Date.now() + timeoutMs });
      if (!polling) void poll();
    });
};
