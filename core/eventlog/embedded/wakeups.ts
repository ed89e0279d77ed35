import { EventEmitter } from 'node:events';
import type { StreamName } from '../port.js';
import { subjectMatches } from '../subjects.js';

/** A listener set up before a query, so an append committed while the query runs is not missed. */
export interface ArmedWakeup {
  /** Resolves true on a matching local append since arming (at once if one came already), false after `ms` or on abort. */
  wait(ms: number): Promise<boolean>;
  /**
   * As `wait`, but a timeout leaves it listening: a consumer keeps one armed between its fetch
   * calls, so a call that comes before anything could have changed waits instead of querying.
   */
  waitKeeping(ms: number): Promise<boolean>;
  /** Stops listening; call when the query found work and no wait follows. */
  cancel(): void;
}

/** Wakes waiting fetches and follows of this process when something changes on a stream. */
export interface AppendWakeups {
  /** An append to `subject`; without a subject (a nak or close) every waiter of `stream` wakes. */
  emit(stream: StreamName, subject?: string): void;
  /**
   * Resolves on a local append to `stream` that `filter` matches (any, without a filter), after
   * `ms`, or on abort – whichever comes first.
   */
  wait(stream: StreamName, ms: number, signal?: AbortSignal, filter?: string): Promise<void>;
  /** Listens from now on for what `wait` waits for; arm before the query whose emptiness the wait follows. */
  arm(stream: StreamName, signal?: AbortSignal, filter?: string): ArmedWakeup;
  /** Emits on `stream` so far: a read started at this count saw everything whose wake-up came before. */
  count(stream: StreamName): number;
}

/**
 * An idle fetch or follow polls (for appends by other processes and delayed redeliveries) at
 * `pollMs`, doubling per poll that found nothing, up to this: a dozen idle handler consumers and
 * projections each polling every 200 ms on Postgres kept ~265 transactions/s and a tenth of a
 * core busy with nothing to do (handlers/payment/README.md, "Performance"). Local appends still wake at once.
 */
export const idlePollCapMs = (pollMs: number) => Math.max(pollMs, Math.min(5 * pollMs, 1_000));

/**
 * The same when this process is the log's only writer (PGlite behind the data-dir lock): every
 * append wakes its readers at once, and a consumer knows when its next redelivery falls due, so an
 * idle poll only guards against a lost wake-up. Each one was a transaction on the one backend
 * (about 90 a second for an idle gateway's consumers and follows, 7% of a core).
 */
export const ONLY_WRITER_IDLE_POLL_CAP_MS = 60_000;

/**
 * Waking only the consumers an append concerns matters on one PGlite backend: a dozen projections
 * and a handler consumer per channel and priority would otherwise each run a fetch query for
 * every append. Appends by other processes are found by polling.
 */
export const appendWakeups = (): AppendWakeups => {
  const appended = new EventEmitter().setMaxListeners(0);
  const arm: AppendWakeups['arm'] = (stream, signal, filter) => {
    let fired = signal?.aborted ?? false;
    let woken = false;
    let release: ((woken: boolean) => void) | undefined;
    const cancel = () => {
      appended.off(stream, onAppend);
      signal?.removeEventListener('abort', onAbort);
    };
    const fire = (byAppend: boolean) => {
      if (fired) return;
      fired = true;
      woken = byAppend;
      cancel();
      release?.(byAppend);
    };
    const onAppend = (subject?: string) => {
      if (!filter || subject === undefined || subjectMatches(filter, subject)) fire(true);
    };
    const onAbort = () => fire(false);
    if (!fired) {
      appended.on(stream, onAppend);
      signal?.addEventListener('abort', onAbort, { once: true });
    }
    const waitFor = (ms: number, keep: boolean) => {
      if (fired) return Promise.resolve(woken);
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(
          () => {
            if (!keep) return fire(false);
            release = undefined;
            resolve(false);
          },
          Math.max(0, ms),
        );
        release = (byAppend) => {
          clearTimeout(timer);
          resolve(byAppend);
        };
      });
    };
    return { cancel, wait: (ms) => waitFor(ms, false), waitKeeping: (ms) => waitFor(ms, true) };
  };
  const counts = new Map<StreamName, number>();
  return {
    emit: (stream, subject) => {
      counts.set(stream, (counts.get(stream) ?? 0) + 1);
      appended.emit(stream, subject);
    },
    count: (stream) => counts.get(stream) ?? 0,
    wait: async (stream, ms, signal, filter) => {
      await arm(stream, signal, filter).wait(ms);
    },
    arm,
  };
};
