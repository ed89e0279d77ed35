import type { Priority } from '../../schemas/events/envelope.js';
import type { Consumer, Delivery } from '../eventlog/port.js';
import type { Logger } from '../logger.js';

export interface PriorityPumpOptions {
  /** Highest first, each with its consumer. */
  consumers: readonly (readonly [Priority, Consumer])[];
  concurrency: number;
  /** Buffered and running deliveries are kept alive at a third of this, so none outlives ack wait. */
  ackWaitMs: number;
  logger: Logger;
  work(delivery: Delivery, priority: Priority): Promise<void>;
}

/**
 * Keeps each priority's buffer topped up to `concurrency` deliveries and fills free worker slots
 * from the highest non-empty priority. `stop` stops fetching; whatever was fetched is still
 * worked off (`drained`), never dropped.
 */
export const priorityPump = (opts: PriorityPumpOptions) => {
  const { concurrency, logger } = opts;
  const priorities = opts.consumers.map(([p]) => p);
  const buffers = new Map<Priority, Delivery[]>(priorities.map((p) => [p, []]));
  const inFlight = new Set<Promise<void>>();
  const held = new Set<Delivery>();
  let running = true;

  const waiters = new Set<() => void>();
  const changed = () => {
    const ws = [...waiters];
    waiters.clear();
    for (const w of ws) w();
  };
  const nextChange = () => new Promise<void>((r) => waiters.add(r));
  const buffered = () => [...buffers.values()].reduce((n, b) => n + b.length, 0);

  const fill = async (priority: Priority, consumer: Consumer) => {
    const buffer = buffers.get(priority) as Delivery[];
    while (running) {
      if (buffer.length >= concurrency) {
        await nextChange();
        continue;
      }
      try {
        // Whatever arrives after stop() is still buffered and worked off, never dropped.
        const got = await consumer.fetch({ max: concurrency - buffer.length, expiresMs: 1_000 });
        for (const d of got) {
          held.add(d);
          buffer.push(d);
        }
        if (got.length) changed();
      } catch (e) {
        if (!running) return;
        logger.error({ err: e, priority }, 'fetch failed; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  };

  const dispatch = async () => {
    while (running || buffered() > 0) {
      while (inFlight.size < concurrency) {
        const priority = priorities.find((p) => (buffers.get(p) as Delivery[]).length > 0);
        const next = priority && (buffers.get(priority) as Delivery[]).shift();
        if (!priority || !next) break;
        const job: Promise<void> = opts.work(next, priority).finally(() => {
          held.delete(next);
          inFlight.delete(job);
          changed();
        });
        inFlight.add(job);
        changed();
      }
      if (!running && buffered() === 0) break;
      await nextChange();
    }
  };

  const keepAlive = setInterval(
    () => {
      for (const d of held) d.working().catch(() => {});
    },
    Math.max(100, Math.floor(opts.ackWaitMs / 3)),
  );
  const fillers = opts.consumers.map(([p, c]) => fill(p, c));
  const dispatcher = dispatch();

  return {
    get inFlight() {
      return inFlight.size;
    },
    get buffered() {
      return buffered();
    },
    /** Stops fetching; resolves once every fetched delivery was worked off. */
    drained(): Promise<void> {
      running = false;
      changed();
      return (async () => {
        await Promise.all(fillers);
        changed();
        await dispatcher;
        await Promise.all(inFlight);
      })();
    },
    /** Stops keeping deliveries alive: unsettled ones come back after ack wait. */
    release() {
      clearInterval(keepAlive);
    },
  };
};
export type PriorityPump = ReturnType<typeof priorityPump>;
