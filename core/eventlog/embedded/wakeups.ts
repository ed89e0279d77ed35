import { EventEmitter } from 'node:events';
import type { StreamName } from '../port.js';
import { subjectMatches } from '../subjects.js';

/** Wakes waiting fetches and follows of this process when something changes on a stream. */
export interface AppendWakeups {
  /** An append to `subject`; without a subject (a nak or close) every waiter of `stream` wakes. */
  emit(stream: StreamName, subject?: string): void;
  /**
   * Resolves on a local append to `stream` that `filter` matches (any, without a filter), after
   * `ms`, or on abort – whichever comes first.
   */
  wait(stream: StreamName, ms: number, signal?: AbortSignal, filter?: string): Promise<void>;
}

/**
 * Waking only the consumers an append concerns matters on one PGlite backend: a dozen projections
 * and a handler consumer per channel and priority would otherwise each run a fetch query for
 * every append. Appends by other processes are found by polling.
 */
export const appendWakeups = (): AppendWakeups => {
  const appended = new EventEmitter().setMaxListeners(0);
  return {
    emit: (stream, subject) => appended.emit(stream, subject),
    wait: (stream, ms, signal, filter) =>
      new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          appended.off(stream, onAppend);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const onAppend = (subject?: string) => {
          if (!filter || subject === undefined || subjectMatches(filter, subject)) done();
        };
        const timer = setTimeout(done, Math.max(0, ms));
        appended.on(stream, onAppend);
        signal?.addEventListener('abort', done, { once: true });
      }),
  };
};
