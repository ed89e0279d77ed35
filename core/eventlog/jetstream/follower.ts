import { AckPolicy, DeliverPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { createInbox, type Msg, type NatsConnection, nanos, type Subscription } from '@nats-io/nats-core';
import type { LogMessage, ReadOptions, StreamName } from '../port.js';
import { validateFilter } from '../subjects.js';
import { unavailable } from './errors.js';
import { type MessageDecoder, parseAckSubject } from './messages.js';
import { STREAM_SUBJECTS } from './streams.js';

/** Messages asked for per pull; the next pull goes out once the reader took half of them. */
const BATCH = 512;
/** The server's keep-alive on an idle pull; three missed ones mean the consumer's server is gone. */
const HEARTBEAT_MS = 1_000;
const PULL_EXPIRES_MS = 10_000;

class FollowBroken extends Error {}

/**
 * `follow` on JetStream: an ephemeral, ack-less consumer (R1, in memory) read by pull requests
 * with idle heartbeats, from the sequence after the last message handed over. When the consumer
 * goes quiet without its heartbeats (its server was killed, the stream leader moved) or an API
 * call fails, it is dropped and a new one is created from that sequence: nothing skipped, nothing
 * twice, and no gateway restart needed. (nats.js's ordered consumer stalled for 20 s and more
 * after a stream leader was killed on 2.9.10 – test/cluster/natsFaults.faults.test.ts, T7.)
 */
export const jetStreamFollower = (nc: NatsConnection, jsm: JetStreamManager, timeout: number, decoder: MessageDecoder) =>
  async function* follow(stream: StreamName, opts: ReadOptions & { signal: AbortSignal }): AsyncIterable<LogMessage> {
    if (opts.filterSubject) validateFilter(opts.filterSubject);
    const { signal } = opts;
    let next = Math.max(1, opts.fromSeq ?? 1);
    let failures = 0;
    while (!signal.aborted) {
      let name: string | undefined;
      let sub: Subscription | undefined;
      try {
        const info = await jsm.consumers.add(stream, {
          ack_policy: AckPolicy.None,
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: next,
          filter_subject: opts.filterSubject ?? STREAM_SUBJECTS[stream],
          inactive_threshold: nanos(30_000),
          mem_storage: true,
          num_replicas: 1,
        });
        name = info.name;
        const queue: Msg[] = [];
        let wake: (() => void) | undefined;
        let broken: Error | undefined;
        let outstanding = 0;
        let lastHeard = Date.now();
        const notify = () => {
          const w = wake;
          wake = undefined;
          w?.();
        };
        const inbox = createInbox();
        sub = nc.subscribe(`${inbox}.*`, {
          callback: (err, m) => {
            lastHeard = Date.now();
            if (err) {
              broken = err;
              return notify();
            }
            if (m.reply) {
              queue.push(m);
              return notify();
            }
            const code = m.headers?.code ?? 0;
            if (code === 100) return; // idle heartbeat
            if (code === 503) broken = new FollowBroken(`no responders for ${stream}/${name}`);
            else if (code === 404 || code === 408 || code === 409) {
              // The pull ended (expired, or 409: consumer deleted / leadership changed).
              if (code === 409 && /deleted|leadership/i.test(m.headers?.description ?? '')) {
                broken = new FollowBroken(`consumer ${stream}/${name}: ${m.headers?.description}`);
              }
            }
            outstanding = 0;
            notify();
          },
        });
        let pulls = 0;
        const pull = () => {
          outstanding = BATCH;
          lastHeard = Date.now();
          nc.publish(
            `$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`,
            JSON.stringify({ batch: BATCH, expires: nanos(PULL_EXPIRES_MS), idle_heartbeat: nanos(HEARTBEAT_MS) }),
            { reply: `${inbox}.${pulls++}` },
          );
        };
        const onAbort = () => notify();
        signal.addEventListener('abort', onAbort, { once: true });
        try {
          pull();
          while (!signal.aborted) {
            const m = queue.shift();
            if (m) {
              outstanding--;
              const { seq, tsNanos } = parseAckSubject(m.reply ?? '');
              // A message before `next` came from a consumer created before the last reset: already handed over.
              if (seq >= next) {
                failures = 0;
                next = seq + 1;
                yield decoder.toMessage(stream, { subject: m.subject, seq, tsNanos, headers: m.headers, data: m.data });
              }
              if (outstanding <= 0 && queue.length < BATCH / 2) pull();
              continue;
            }
            if (broken) throw broken;
            if (outstanding <= 0) pull();
            if (Date.now() - lastHeard > 3 * HEARTBEAT_MS + timeout) {
              throw new FollowBroken(`consumer ${stream}/${name} went quiet (no heartbeat)`);
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
              setTimeout(resolve, HEARTBEAT_MS).unref();
            });
          }
        } finally {
          signal.removeEventListener('abort', onAbort);
        }
      } catch (e) {
        if (signal.aborted) return;
        failures++;
        // The log is gone for longer than a leader election: let the caller see it (it resumes itself).
        if (failures > 30) throw unavailable(`follow ${stream}`, e);
        await new Promise((r) => setTimeout(r, Math.min(2_000, 100 * failures)));
      } finally {
        sub?.unsubscribe();
        if (name) {
          const n = name;
          jsm.consumers.delete(stream, n).catch(() => {});
        }
      }
    }
  };
