import type { EventEnvelope, EventLog } from '../../core/eventlog/port.js';
import { silentLogger } from '../../core/logger.js';
import { type AnyHandler, type HandlerRunnerOptions, handlerRunner } from '../../core/runners/handlerRunner.js';

/** A handler runner with test-sized timings: quick back-off, 3 attempts, Retry-After up to 2 s. */
export const startHandler = async (log: EventLog, handler: AnyHandler, over: Partial<HandlerRunnerOptions> = {}) => {
  const runner = handlerRunner({
    log,
    handler,
    logger: silentLogger(),
    concurrency: 4,
    maxAttempts: 3,
    ackWaitMs: 10_000,
    backoffBaseMs: 30,
    backoffMaxMs: 2_000,
    ...over,
  });
  await runner.start();
  return runner;
};

/** Every event caused by `commandId` (its results, failed attempts, progress), in log order. */
export const eventsCausedBy = async (log: EventLog, commandId: string, filterSubject = 'evt.>') =>
  (await log.read('EVENTS', 10_000, { filterSubject })).flatMap((m) => m.events).filter((e) => e.causationId === commandId);

/** The dead letters of `consumer` holding `commandId`, with their reasons. */
export const deadLetters = async (log: EventLog, consumer: string, commandId: string) =>
  (await log.read('DLQ', 1_000, { filterSubject: `dlq.${consumer}` }))
    .filter((m) => m.events.some((e: EventEnvelope) => e.id === commandId))
    .map((m) => m.headers['fg-dlq-reason']);
