import type { Consumer, ConsumerInfo } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';

export interface ConsumerStallWatch {
  /** Names of the consumers stalled at the last read, for `/readyz`. */
  stalled(): string[];
  stop(): void;
}

/** At the limit with more waiting: the log hands this consumer nothing until a delivery settles. */
const saturated = (i: ConsumerInfo) => i.maxAckPending !== undefined && i.ackPending >= i.maxAckPending && i.pending > 0;

/**
 * Watches durable consumers for the MaxAckPending stall: once a consumer holds as many unsettled
 * deliveries as the log allows, JetStream stops delivering without an error or an advisory, so a
 * hung handler would otherwise look like an idle one. Stalled = saturated on two reads in a row
 * with no settle or delivery in between (a busy consumer at its limit keeps making progress).
 * Read every `intervalMs` (ack wait / 2 by default at the caller), so a stall shows within
 * 2 × ack wait. Reported by metric (`fleetgate_consumer_stalled`), one warning, and `stalled()`.
 */
export const consumerStallWatch = (opts: {
  consumers: readonly Consumer[];
  intervalMs: number;
  logger: Logger;
}): ConsumerStallWatch => {
  const { logger } = opts;
  const last = new Map<string, ConsumerInfo>();
  const stalled = new Set<string>();
  for (const c of opts.consumers) metrics.consumerStalled.set({ consumer: c.config.name }, 0);

  const read = async (c: Consumer) => {
    const name = c.config.name;
    const info = await c.info();
    const before = last.get(name);
    last.set(name, info);
    const stuck = saturated(info) && before !== undefined && saturated(before) && before.progress === info.progress;
    if (stuck && !stalled.has(name)) {
      stalled.add(name);
      metrics.consumerStalled.set({ consumer: name }, 1);
      logger.warn(
        { consumer: name, ackPending: info.ackPending, maxAckPending: info.maxAckPending, pending: info.pending },
        'consumer stalled: max_ack_pending deliveries unsettled, delivery paused',
      );
    } else if (!stuck && stalled.has(name)) {
      stalled.delete(name);
      metrics.consumerStalled.set({ consumer: name }, 0);
      logger.info({ consumer: name, ackPending: info.ackPending, pending: info.pending }, 'consumer moving again');
    }
  };

  let reading = false;
  const timer = setInterval(() => {
    // A slow log must not pile up reads; an unanswered read keeps the last verdict.
    if (reading) return;
    reading = true;
    void Promise.all(
      opts.consumers.map((c) =>
        read(c).catch((err: unknown) => logger.debug({ err, consumer: c.config.name }, 'consumer info failed')),
      ),
    ).finally(() => {
      reading = false;
    });
  }, opts.intervalMs);
  timer.unref();

  return {
    stalled: () => [...stalled],
    stop() {
      clearInterval(timer);
      for (const c of opts.consumers) metrics.consumerStalled.remove({ consumer: c.config.name });
    },
  };
};
