import { PRIORITIES } from '../../schemas/events/envelope.js';
import type { EventLog } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { type ConsumerStallWatch, consumerStallWatch } from './consumerStall.js';
import { deliveryHandler } from './handleDelivery.js';
import type { AnyHandler } from './handler.js';
import { handlerResults } from './handlerResults.js';
import { settleFailure } from './handlerSettle.js';
import { type PriorityPump, priorityPump } from './priorityPump.js';

export type { AnyHandler, CommandOf, Handler, HandlerContext, ResultEvent } from './handler.js';
export { HandlerError, type HandlerErrorOptions } from './handlerError.js';
export { backoffDelay } from './handlerSettle.js';

export interface HandlerRunnerOptions {
  log: EventLog;
  handler: AnyHandler;
  logger: Logger;
  concurrency: number;
  maxAttempts: number;
  ackWaitMs: number;
  /** Unsettled deliveries per priority consumer across all processes (JetStream MaxAckPending). */
  maxAckPending?: number;
  /** How often the consumers are read for a MaxAckPending stall (default ack wait / 2). */
  stallCheckMs?: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
}

export interface HandlerRunner {
  start(): Promise<void>;
  /** Stops taking work, hands buffered deliveries back, waits for calls in flight. */
  stop(timeoutMs?: number): Promise<void>;
  readonly inFlight: number;
  /** Consumers of this handler whose delivery paused at MaxAckPending (consumerStall.ts). */
  stalled(): string[];
}

/**
 * Runs one handler: a work-queue consumer per priority (priorityPump), each delivery handled and
 * settled (handleDelivery, handlerSettle), every event it causes appended here (handlerResults).
 */
export const handlerRunner = (opts: HandlerRunnerOptions): HandlerRunner => {
  const { log, handler, concurrency } = opts;
  const logger = opts.logger.child({ handler: handler.name });
  const priorities = PRIORITIES.filter((p) => handler.subjects[p] !== undefined);
  const results = handlerResults(log, handler);
  const work = deliveryHandler({
    handler,
    results,
    logger,
    maxAttempts: opts.maxAttempts,
    settle: settleFailure({ ...opts, handler, results, logger }),
  });
  let pump: PriorityPump | undefined;
  let background: { stop(): Promise<void> } | undefined;
  let stallWatch: ConsumerStallWatch | undefined;

  return {
    get inFlight() {
      return pump?.inFlight ?? 0;
    },
    stalled: () => stallWatch?.stalled() ?? [],
    async start() {
      if (pump) return;
      const consumers = await Promise.all(
        priorities.map(
          async (p) =>
            [
              p,
              await log.consumer({
                stream: handler.stream,
                name: `${handler.name}-${p}`,
                filterSubject: handler.subjects[p],
                ackWaitMs: opts.ackWaitMs,
                maxDeliver: opts.maxAttempts,
                ...(opts.maxAckPending !== undefined && { maxAckPending: opts.maxAckPending }),
              }),
            ] as const,
        ),
      );
      pump = priorityPump({ consumers, concurrency, ackWaitMs: opts.ackWaitMs, logger, work });
      stallWatch = consumerStallWatch({
        consumers: consumers.map(([, c]) => c),
        intervalMs: opts.stallCheckMs ?? Math.max(100, Math.floor(opts.ackWaitMs / 2)),
        logger,
      });
      background = handler.background?.();
      logger.info({ priorities, concurrency }, 'handler started');
    },
    async stop(timeoutMs = 20_000) {
      const p = pump;
      if (!p) return;
      pump = undefined;
      stallWatch?.stop();
      stallWatch = undefined;
      await background?.stop().catch((err) => logger.warn({ err }, 'background work did not stop cleanly'));
      background = undefined;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([p.drained(), new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
      clearTimeout(timer);
      p.release();
      await handler.close?.().catch((err) => logger.warn({ err }, 'closing the handler failed'));
      if (p.inFlight || p.buffered) {
        // Unsettled deliveries come back after ack wait, to this process or another.
        logger.warn({ inFlight: p.inFlight, buffered: p.buffered }, 'stopped before draining');
      }
    },
  };
};
