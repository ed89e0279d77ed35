import type { Sql } from '../stores/postgres.js';

/**
 * How often the shared poller reads the checkpoint while a request waits. A runner in this
 * process says so at once (`foldCommitted`); the poll covers a runner in another process.
 */
const POLL_MS = 25;

const local = new EventTarget();
/** A fold in this process committed up to `position` (its `committed` hook). */
export const foldCommitted = (name: string, position: number) => local.dispatchEvent(new CustomEvent(name, { detail: position }));

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
  let wake: (() => void) | undefined;
  const settle = (at: number) => {
    const now = Date.now();
    for (const w of waiters) {
      if (w.seq <= at || now >= w.deadline) {
        waiters.delete(w);
        w.resolve(w.seq <= at);
      }
    }
  };
  local.addEventListener(name, (e) => {
    settle((e as CustomEvent<number>).detail);
    if (waiters.size === 0) wake?.();
  });
  const poll = async () => {
    polling = true;
    try {
      while (waiters.size > 0) {
        const [row] = await sql<{ last_seq: string }[]>`SELECT last_seq FROM projection_checkpoints WHERE name = ${name}`;
        settle(Number(row?.last_seq ?? 0));
        if (waiters.size > 0) {
          await new Promise<void>((r) => {
            wake = r;
            setTimeout(r, POLL_MS);
          });
          wake = undefined;
        }
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
