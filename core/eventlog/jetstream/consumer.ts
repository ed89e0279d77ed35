import type { JetStreamManager } from '@nats-io/jetstream';
import { type Msg, type NatsConnection, nanos } from '@nats-io/nats-core';
import { deadLetterHeaders, deadLetterMsgId, defaultDeadLetterSubject, expiredReason } from '../deadLetter.js';
import type { Consumer, ConsumerConfig, Delivery } from '../port.js';
import { validateFilter, validateSubject } from '../subjects.js';
import { ensureDurable } from './durable.js';
import { guarded, unavailable } from './errors.js';
import { type MessageDecoder, parseAckSubject } from './messages.js';
import type { Publish } from './publisher.js';
import { pullRequest } from './pull.js';

export interface JetStreamConsumerOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  timeout: number;
  publish: Publish;
  decoder: MessageDecoder;
}

/** A durable work-queue consumer: pulls, settles each delivery, dead-letters the last one. */
export const jetStreamConsumer = async (config: ConsumerConfig, opts: JetStreamConsumerOptions): Promise<Consumer> => {
  const { nc, jsm, timeout, publish, decoder } = opts;
  if (!/^[A-Za-z0-9_-]+$/.test(config.name)) throw new RangeError(`invalid consumer name "${config.name}"`);
  if (config.filterSubject) validateFilter(config.filterSubject);
  const { stream, name } = config;
  const deadLetter = config.deadLetterSubject === undefined ? defaultDeadLetterSubject(name) : config.deadLetterSubject;
  if (deadLetter !== null) validateSubject(deadLetter);
  await ensureDurable(jsm, config);
  const pull = pullRequest(nc, timeout, stream, name);

  /**
   * Settles a delivery as a request: 2.9 applies acks asynchronously, so only its reply proves
   * that a following info() or fetch() sees the result.
   */
  const settle = async (m: Msg, payload: string) => {
    try {
      await nc.request(m.reply ?? '', payload, { timeout });
    } catch (e) {
      throw unavailable(`settle ${stream}/${name}`, e);
    }
  };

  const deadLetterAndTerm = async (m: Msg, seq: number, deliveries: number, reason: string) => {
    if (deadLetter !== null) {
      await publish(
        deadLetter,
        m.data,
        deadLetterMsgId(stream, seq, name),
        deadLetterHeaders({ stream, seq, subject: m.subject, consumer: name, deliveries, reason }),
        undefined,
      );
    }
    await settle(m, '+TERM');
  };

  const toDelivery = (m: Msg): Delivery | Promise<null> => {
    const { deliveryCount, seq, tsNanos } = parseAckSubject(m.reply ?? '');
    if (deliveryCount > config.maxDeliver) {
      return deadLetterAndTerm(m, seq, config.maxDeliver, expiredReason(config.maxDeliver)).then(() => null);
    }
    return {
      ...decoder.toMessage(stream, { subject: m.subject, seq, tsNanos, headers: m.headers, data: m.data }),
      deliveryCount,
      ack: () => settle(m, '+ACK'),
      nak: async (delayMs = 0, reason) => {
        if (deliveryCount >= config.maxDeliver) {
          await deadLetterAndTerm(m, seq, deliveryCount, reason ?? `nak after ${deliveryCount} deliveries`);
        } else {
          await settle(m, delayMs > 0 ? `-NAK ${JSON.stringify({ delay: nanos(delayMs) })}` : '-NAK');
        }
      },
      // 2.9 knows no `+TERM <reason>`: the reason lives in the dead letter only.
      term: (reason) => deadLetterAndTerm(m, seq, deliveryCount, reason),
      working: () => settle(m, '+WPI'),
    };
  };

  return {
    config: Object.freeze({ ...config }),
    async fetch({ max, expiresMs }) {
      const deadline = Date.now() + expiresMs;
      for (;;) {
        // Take what is there at once; otherwise wait for one. Whatever came with it is taken by
        // the caller's next fetch, which starts with a no-wait pull: a second one here came back
        // empty for almost every message at a steady rate, a request and its reply for nothing.
        let msgs = await pull(max, 0);
        const left = deadline - Date.now();
        if (msgs.length === 0 && left > 0) msgs = await pull(1, left);
        const out = (await Promise.all(msgs.map(toDelivery))).filter((d): d is Delivery => d !== null);
        // Only expired deliveries came (now dead letters): keep waiting for a live one.
        if (out.length > 0 || msgs.length === 0 || Date.now() >= deadline) return out;
      }
    },
    info: () =>
      guarded(`consumer info ${stream}/${name}`, async () => {
        const ci = await jsm.consumers.info(stream, name);
        const limit = ci.config.max_ack_pending;
        return {
          pending: ci.num_pending,
          ackPending: ci.num_ack_pending,
          ...(limit !== undefined && limit > 0 && { maxAckPending: limit }),
          progress: ci.ack_floor.stream_seq + ci.delivered.stream_seq,
        };
      }),
  };
};
