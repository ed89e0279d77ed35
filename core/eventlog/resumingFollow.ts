import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import type { EventLog, LogMessage, StreamName } from './port.js';

export interface ResumingFollowOptions {
  fromSeq: number;
  filterSubject?: string;
  signal: AbortSignal;
  logger: Logger;
  /** Names the follower in logs. */
  what: string;
  /** Pause before following again after a failure (default 1 s). */
  retryMs?: number;
}

/**
 * `log.follow` that outlives the log's failures: when the follow throws or ends before `signal`
 * aborts (a NATS node restarting, a stream leader moving), it follows again from the message
 * after the last one handed over, so nothing in between is skipped. Resolves once aborted.
 */
export const resumingFollow = async (
  log: EventLog,
  stream: StreamName,
  opts: ResumingFollowOptions,
  onMessage: (m: LogMessage) => void | Promise<void>,
) => {
  let next = opts.fromSeq;
  let failures = 0;
  while (!opts.signal.aborted) {
    try {
      for await (const m of log.follow(stream, {
        fromSeq: next,
        signal: opts.signal,
        ...(opts.filterSubject !== undefined && { filterSubject: opts.filterSubject }),
      })) {
        failures = 0;
        await onMessage(m);
        next = m.seq + 1;
      }
      if (opts.signal.aborted) return;
      opts.logger.warn({ follower: opts.what, next }, 'log follow ended; following again');
    } catch (err) {
      if (opts.signal.aborted) return;
      failures++;
      opts.logger.warn({ err, follower: opts.what, next, failures }, 'log follow failed; following again');
    }
    await sleep(Math.min(5_000, (opts.retryMs ?? 1_000) * Math.max(1, failures)), undefined, { signal: opts.signal }).catch(
      () => {},
    );
  }
};
