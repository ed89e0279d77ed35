import type { JetStreamClient } from '@nats-io/jetstream';
import type { LogMessage, ReadOptions, StreamName } from '../port.js';
import { validateFilter } from '../subjects.js';
import { guarded } from './errors.js';
import type { MessageDecoder } from './messages.js';

/** `read` of the JetStream log: an ordered consumer, no durable state (`follow` is `follower.ts`). */
export const jetStreamReader = (js: JetStreamClient, timeout: number, { fromJsMsg }: MessageDecoder) => {
  /** An ordered (ack-less, self-healing) consumer from `fromSeq`, filtered to one subject: 2.9 takes no more. */
  const ordered = (stream: StreamName, opts: ReadOptions) => {
    if (opts.filterSubject) validateFilter(opts.filterSubject);
    return js.consumers.get(stream, {
      opt_start_seq: Math.max(1, opts.fromSeq ?? 1),
      ...(opts.filterSubject && { filter_subjects: opts.filterSubject }),
    });
  };

  const read = (stream: StreamName, max: number, opts: ReadOptions = {}) =>
    guarded(`read ${stream}`, async () => {
      const c = await ordered(stream, opts);
      try {
        // num_pending at creation counts exactly the matching messages stored now: fetching that
        // many ends the fetch at once instead of waiting for its expiry.
        const want = Math.min(max, (await c.info(true)).num_pending);
        const out: LogMessage[] = [];
        if (want <= 0) return out;
        for await (const m of await c.fetch({ max_messages: want, expires: Math.max(1_000, timeout) })) {
          out.push(fromJsMsg(stream, m));
        }
        return out;
      } finally {
        c.delete().catch(() => {});
      }
    });

  return { read };
};
