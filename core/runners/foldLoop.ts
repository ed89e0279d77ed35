import { setTimeout as sleep } from 'node:timers/promises';
import { isGatewayError } from '../../schemas/errors.js';
import type { EventLog, LogMessage, StreamName } from '../eventlog/port.js';
import type { Logger } from '../logger.js';
import { metrics } from '../metrics.js';

const TIMEOUT = Symbol('timeout');

export interface BatchOptions {
  fromSeq: number;
  filterSubject?: string | undefined;
  signal: AbortSignal;
  /** A batch closes at this many events… */
  maxEvents: number;
  /** …or this long after its first message arrived, whichever comes first. */
  maxDelayMs: number;
}

/**
 * Follows a stream and hands its messages over in batches, one at a time (the next batch fills
 * while `onBatch` runs only as far as the log client buffers). Returns when the log ends the
 * follow (aborted); throws what `onBatch` or the log throws.
 */
export const followBatches = async (
  log: EventLog,
  stream: StreamName,
  opts: BatchOptions,
  onBatch: (batch: LogMessage[], events: number) => Promise<void>,
) => {
  const it = log
    .follow(stream, {
      fromSeq: opts.fromSeq,
      signal: opts.signal,
      ...(opts.filterSubject !== undefined && { filterSubject: opts.filterSubject }),
    })
    [Symbol.asyncIterator]();
  let ahead: Promise<IteratorResult<LogMessage>> | undefined;
  try {
    for (;;) {
      const first = await (ahead ?? it.next());
      ahead = undefined;
      if (first.done) return;
      const batch = [first.value];
      let events = first.value.events.length;
      let ended = false;
      if (events < opts.maxEvents && opts.maxDelayMs > 0) {
        // One timer per batch, cancelled when the batch fills first.
        const deadline = new AbortController();
        const closes: Promise<typeof TIMEOUT> = sleep(opts.maxDelayMs, TIMEOUT, { signal: deadline.signal }).catch(() => TIMEOUT);
        try {
          while (events < opts.maxEvents) {
            ahead = it.next();
            const r = await Promise.race([ahead, closes]);
            if (r === TIMEOUT) break;
            ahead = undefined;
            if (r.done) {
              ended = true;
              break;
            }
            batch.push(r.value);
            events += r.value.events.length;
          }
        } finally {
          deadline.abort();
        }
      }
      await onBatch(batch, events);
      if (ended) return;
    }
  } finally {
    await it.return?.();
  }
};

export interface FoldLoopOptions {
  /** The projection's name, in metrics and logs. */
  name: string;
  logger: Logger;
  signal: AbortSignal;
  /** Back-off after a failure: `baseMs` doubling per failure in a row, at most `maxMs`. */
  backoff: { baseMs: number; maxMs: number };
}

/**
 * Keeps a fold running until `signal` aborts. `once` reads its checkpoint and follows the log
 * from there; when it ends or throws it starts again from the stored checkpoint: at once when it
 * was fenced (another runner or a rebuild moved the checkpoint), after a back-off on any other
 * failure. A poison event therefore stops the fold rather than being skipped: the read model must
 * equal a replay.
 */
export const runFoldLoop = async (opts: FoldLoopOptions, once: (signal: AbortSignal) => Promise<void>) => {
  const { signal, logger } = opts;
  let failures = 0;
  while (!signal.aborted) {
    try {
      await once(signal);
      failures = 0;
    } catch (e) {
      if (signal.aborted) return;
      if (isGatewayError(e, 'GW_ERR_PROJECTION_FENCED')) {
        logger.debug({ err: e.message }, 'fenced; resuming from the stored checkpoint');
        await sleep(20);
        continue;
      }
      failures++;
      metrics.projectionErrors.inc({ projection: opts.name });
      logger.error({ err: e, failures }, 'projection failed; resuming from the stored checkpoint');
      const delay = Math.min(opts.backoff.maxMs, opts.backoff.baseMs * 2 ** Math.min(failures, 16));
      await sleep(delay, undefined, { signal }).catch(() => {});
    }
  }
};
