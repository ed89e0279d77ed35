import { JetStreamApiCodes, type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { GatewayError } from '../../schemas/errors.js';
import { jetStreamConsumer } from './jetstream/consumer.js';
import { guarded, isApiError, unavailable } from './jetstream/errors.js';
import { jetStreamFollower } from './jetstream/follower.js';
import { messageDecoder } from './jetstream/messages.js';
import { publisher } from './jetstream/publisher.js';
import { jetStreamReader } from './jetstream/reader.js';
import { ensureStreams } from './jetstream/streams.js';
import { judgeServerVersion } from './jetstream/versionGate.js';
import { batchMsgId } from './newEvent.js';
import type { EventEnvelope, EventLog } from './port.js';

const SEQUENCE_NOT_FOUND = 10043;

export interface JetStreamConfig {
  servers: string | string[];
  name?: string;
  replicas: number;
  /** Max age of the EVENTS stream; 0 = unlimited. */
  eventsMaxAgeMs: number;
  /** Size bound of the EVENTS stream; 0 = unlimited. When full, appends are refused, never old events dropped. */
  eventsMaxBytes?: number;
  gpsMaxAgeMs: number;
  dlqMaxAgeMs: number;
  /** Dedupe window of EVENTS and DLQ (clamped to the stream's max age). */
  duplicateWindowMs: number;
  gpsDuplicateWindowMs: number;
  /** Connect, API request and ack timeout (default 5 s). */
  timeoutMs?: number;
  /** The role's server user (deploy/nats), when the server wants one. */
  user?: string;
  pass?: string;
  /** The oldest nats-server accepted (NATS_MIN_VERSION); unset: any. */
  minServerVersion?: string;
  /** NATS_ALLOW_OLD_SERVER: run on an older one, with a warning. */
  allowOldServer?: boolean;
}

/**
 * The event log on NATS JetStream: streams EVENTS (`evt.>`), GPS (`gps.>`) and DLQ (`dlq.>`).
 * A log message is the JSON array of its events; its id is the `Nats-Msg-Id` header, so the
 * stream's duplicate window drops re-sent appends. The parts: `jetstream/streams.ts` (setup),
 * `publisher.ts` (append), `reader.ts` (read), `follower.ts` (follow), `consumer.ts` with `durable.ts` and
 * `pull.ts` (work-queue consumers, dead letters), `messages.ts` (decoding).
 */
export const jetStreamEventLog = async (
  cfg: JetStreamConfig,
  hooks: { warn?(message: string, details: Record<string, unknown>): void } = {},
): Promise<EventLog> => {
  const timeout = cfg.timeoutMs ?? 5_000;
  let nc: NatsConnection;
  let js: JetStreamClient;
  let jsm: JetStreamManager;
  try {
    nc = await connect({
      servers: cfg.servers,
      name: cfg.name ?? 'fleetgate',
      timeout,
      maxReconnectAttempts: -1,
      // Without this the client builds two Error objects (stack traces) per request up front, in
      // case it fails: about half its CPU per acknowledged append or ack. Our errors name the
      // operation that failed (`unavailable`), which is what the lost call-site stack told.
      noAsyncTraces: true,
      ...(cfg.user !== undefined && { user: cfg.user, pass: cfg.pass ?? '' }),
    });
    js = jetstream(nc, { timeout });
    jsm = await jetstreamManager(nc, { timeout });
  } catch (e) {
    throw unavailable('connect', e);
  }
  if (cfg.minServerVersion) {
    // The server this connection reached says its version in INFO; a cluster upgraded one node at a
    // time may mix versions, and each process judges the node it reached first.
    const verdict = judgeServerVersion(nc.info?.version, {
      minVersion: cfg.minServerVersion,
      allowOld: cfg.allowOldServer ?? false,
    });
    if (!verdict.ok) {
      await nc.close().catch(() => {});
      throw new GatewayError('GW_ERR_CONFIG', verdict.reason);
    }
    if ('warning' in verdict) hooks.warn?.(verdict.warning, { natsServer: verdict.version });
  }
  try {
    await ensureStreams(jsm, cfg);
  } catch (e) {
    await nc.close().catch(() => {});
    throw unavailable('stream setup', e);
  }

  const decoder = messageDecoder();
  const publish = publisher(js, timeout);
  const { read } = jetStreamReader(js, timeout, decoder);
  const follow = jetStreamFollower(nc, jsm, timeout, decoder);
  let closing: Promise<void> | undefined;

  return {
    kind: 'jetstream',
    append: (subject, events, opts = {}) => {
      const list = Array.isArray(events) ? events : [events as EventEnvelope];
      if (list.length === 0) return Promise.reject(new RangeError('append needs at least one event'));
      return publish(subject, JSON.stringify(list), opts.msgId ?? batchMsgId(list), opts.headers, opts.expectedLastSubjectSeq);
    },
    consumer: (config) => jetStreamConsumer(config, { nc, jsm, timeout, publish, decoder }),
    deleteConsumer: (stream, name) =>
      guarded(`delete consumer ${stream}/${name}`, async () => {
        await jsm.consumers.delete(stream, name).catch((e: unknown) => {
          if (!isApiError(e, JetStreamApiCodes.ConsumerNotFound)) throw e;
        });
      }),
    read,
    follow,
    removeDeadLetter: (seq) =>
      guarded(`delete dead letter ${seq}`, async () => {
        try {
          // No erase (overwrite on disk): a dead letter holds no secret the stream did not already.
          return await jsm.streams.deleteMessage('DLQ', seq, false);
        } catch (e) {
          // 10043 "sequence not found" (the server's JSSequenceNotFoundErrF; the client names no constant for it).
          if (isApiError(e, JetStreamApiCodes.NoMessageFound) || isApiError(e, SEQUENCE_NOT_FOUND)) return false;
          throw e;
        }
      }),
    lastSeq: (stream) => guarded(`stream info ${stream}`, async () => (await jsm.streams.info(stream)).state.last_seq),
    async ping() {
      if (nc.isClosed()) return false;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          nc.rtt(),
          new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('ping timeout')), timeout))),
        ]);
        return true;
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },
    close: () =>
      (closing ??= nc.drain().catch(async () => {
        if (!nc.isClosed()) await nc.close();
      })),
  };
};
