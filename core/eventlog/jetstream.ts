import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  jetstream,
  jetstreamManager,
  StorageType,
} from '@nats-io/jetstream';
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, nanos, headers as natsHeaders } from '@nats-io/nats-core';
import { connect } from '@nats-io/transport-node';
import { GatewayError, VersionConflictError } from '../../schemas/errors.js';
import { streamOfSubject } from '../../schemas/events/envelope.js';
import { deadLetterHeaders, deadLetterMsgId, defaultDeadLetterSubject, expiredReason } from './deadLetter.js';
import { batchMsgId } from './newEvent.js';
import type {
  AppendAck,
  Consumer,
  ConsumerConfig,
  Delivery,
  EventEnvelope,
  EventLog,
  LogMessage,
  ReadOptions,
  StreamName,
} from './port.js';
import { validateFilter, validateSubject } from './subjects.js';

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
}

const STREAM_SUBJECTS: Record<StreamName, string> = { EVENTS: 'evt.>', GPS: 'gps.>', DLQ: 'dlq.>' };

const unavailable = (op: string, cause: unknown) =>
  new GatewayError('GW_ERR_LOG_UNAVAILABLE', `jetstream event log: ${op} failed`, { cause });

const decoder = new TextDecoder();

const isApiError = (e: unknown, code: number) => e instanceof JetStreamApiError && e.code === code;

/** Our own headers only: `Nats-*` ones belong to the server and the client library. */
const ownHeaders = (h: MsgHdrs | undefined): Record<string, string> => {
  const out: Record<string, string> = {};
  for (const [k, v] of h ?? []) if (!/^nats-/i.test(k) && v[0] !== undefined) out[k] = v[0];
  return out;
};

/**
 * Decodes a message's events. In one process several consumers read each GPS message at about
 * the same time (live feed, gps_tracking, vehicle_positions): the GPS stream's newest messages
 * (up to 8 MiB of them) are decoded once and shared instead of once per reader. Consumers only
 * read events (the projection runner adds the same `seq` and `stream` to each); EVENTS messages
 * are decoded per reader, as handlers may keep and change what they read.
 */
const eventDecoder = () => {
  const KEEP_BYTES = 8 * 1024 * 1024;
  const recent = new Map<number, { bytes: number; events: EventEnvelope[] }>();
  let bytes = 0;
  return (stream: StreamName, seq: number, data: Uint8Array): EventEnvelope[] => {
    if (stream !== 'GPS') return JSON.parse(decoder.decode(data)) as EventEnvelope[];
    const hit = recent.get(seq);
    // A recreated stream reuses sequence numbers: the length tells a different message apart.
    if (hit && hit.bytes === data.length) return hit.events;
    const events = JSON.parse(decoder.decode(data)) as EventEnvelope[];
    if (hit) bytes -= hit.bytes;
    recent.set(seq, { bytes: data.length, events });
    bytes += data.length;
    for (const [oldest, entry] of recent) {
      if (bytes <= KEEP_BYTES || recent.size <= 1) break;
      recent.delete(oldest);
      bytes -= entry.bytes;
    }
    return events;
  };
};

/**
 * Delivery metadata from the ack subject: `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>`,
 * or the 2.10+ form with domain and account hash after `ACK`.
 */
const parseAckSubject = (reply: string) => {
  const t = reply.split('.');
  if (t.length === 9) t.splice(2, 0, '_', '');
  if (t.length < 11 || t[0] !== '$JS' || t[1] !== 'ACK') throw new Error(`not a JetStream delivery: ${reply}`);
  return { deliveryCount: Number(t[6]), seq: Number(t[7]), tsNanos: Number(t[9]) };
};

/**
 * The event log on NATS JetStream: streams EVENTS (`evt.>`), GPS (`gps.>`) and DLQ (`dlq.>`).
 * A log message is the JSON array of its events; its id is the `Nats-Msg-Id` header, so the
 * stream's duplicate window drops re-sent appends.
 */
export const jetStreamEventLog = async (cfg: JetStreamConfig): Promise<EventLog> => {
  const timeout = cfg.timeoutMs ?? 5_000;
  const decodeEvents = eventDecoder();
  const toMessage = (
    stream: StreamName,
    m: { subject: string; seq: number; tsNanos: number; headers?: MsgHdrs | undefined; data: Uint8Array },
  ): LogMessage => ({
    stream,
    seq: m.seq,
    subject: m.subject,
    msgId: m.headers?.get('Nats-Msg-Id') ?? '',
    storedAt: Math.floor(m.tsNanos / 1e6),
    headers: ownHeaders(m.headers),
    events: decodeEvents(stream, m.seq, m.data),
  });
  const fromJsMsg = (stream: StreamName, m: JsMsg) =>
    toMessage(stream, { subject: m.subject, seq: m.seq, tsNanos: m.info.timestampNanos, headers: m.headers, data: m.data });
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
    });
    js = jetstream(nc, { timeout });
    jsm = await jetstreamManager(nc, { timeout });
  } catch (e) {
    throw unavailable('connect', e);
  }

  const ensureStream = async (name: StreamName, maxAgeMs: number, duplicateWindowMs: number, maxBytes = 0) => {
    // The server refuses a duplicate window longer than a (non-zero) max age.
    const window = maxAgeMs > 0 ? Math.min(duplicateWindowMs, maxAgeMs) : duplicateWindowMs;
    const owned = {
      subjects: [STREAM_SUBJECTS[name]],
      num_replicas: cfg.replicas,
      max_age: nanos(maxAgeMs),
      duplicate_window: nanos(window),
      max_bytes: maxBytes > 0 ? maxBytes : -1,
      ...(maxBytes > 0 && { discard: DiscardPolicy.New }),
    };
    try {
      await jsm.streams.info(name);
    } catch (e) {
      if (!isApiError(e, JetStreamApiCodes.StreamNotFound)) throw e;
      await jsm.streams.add({ name, storage: StorageType.File, ...owned });
      return;
    }
    await jsm.streams.update(name, owned);
  };
  try {
    await ensureStream('EVENTS', cfg.eventsMaxAgeMs, cfg.duplicateWindowMs, cfg.eventsMaxBytes);
    await ensureStream('GPS', cfg.gpsMaxAgeMs, cfg.gpsDuplicateWindowMs);
    await ensureStream('DLQ', cfg.dlqMaxAgeMs, cfg.duplicateWindowMs);
  } catch (e) {
    await nc.close().catch(() => {});
    throw unavailable('stream setup', e);
  }

  const publish = async (
    subject: string,
    payload: Uint8Array | string,
    msgID: string,
    headers: Record<string, string> | undefined,
    expectedLastSubjectSeq: number | undefined,
  ): Promise<AppendAck> => {
    validateSubject(subject);
    const stream = streamOfSubject(subject);
    const h = natsHeaders();
    for (const [k, v] of Object.entries(headers ?? {})) h.set(k, v);
    try {
      const ack = await js.publish(subject, payload, {
        msgID,
        headers: h,
        timeout,
        ...(expectedLastSubjectSeq !== undefined && { expect: { lastSubjectSequence: expectedLastSubjectSeq } }),
      });
      return { stream, seq: ack.seq, duplicate: ack.duplicate };
    } catch (e) {
      if (isApiError(e, JetStreamApiCodes.StreamWrongLastSequence)) {
        throw new VersionConflictError(subject, expectedLastSubjectSeq ?? 0, undefined, { cause: e });
      }
      // A timeout does not mean "not stored": the message may have landed. Retrying with the same
      // msgId is safe within the duplicate window – the stream answers with the original sequence.
      throw unavailable(`append to ${subject}`, e);
    }
  };

  const api = async <T>(op: string, f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw e instanceof GatewayError || e instanceof RangeError ? e : unavailable(op, e);
    }
  };

  /** An ordered (ack-less, self-healing) consumer from `fromSeq`, filtered to one subject: 2.9 takes no more. */
  const ordered = (stream: StreamName, opts: ReadOptions) => {
    if (opts.filterSubject) validateFilter(opts.filterSubject);
    return js.consumers.get(stream, {
      opt_start_seq: Math.max(1, opts.fromSeq ?? 1),
      ...(opts.filterSubject && { filter_subjects: opts.filterSubject }),
    });
  };

  const read = (stream: StreamName, max: number, opts: ReadOptions = {}) =>
    api(`read ${stream}`, async () => {
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

  async function* follow(stream: StreamName, opts: ReadOptions & { signal: AbortSignal }): AsyncIterable<LogMessage> {
    if (opts.signal.aborted) return;
    const c = await api(`follow ${stream}`, () => ordered(stream, opts));
    const messages = await c.consume({ max_messages: 256 });
    const stop = () => void messages.close();
    opts.signal.addEventListener('abort', stop, { once: true });
    if (opts.signal.aborted) stop(); // aborted while the consumer was being created
    try {
      for await (const m of messages) {
        if (opts.signal.aborted) return;
        yield fromJsMsg(stream, m);
      }
    } finally {
      opts.signal.removeEventListener('abort', stop);
      await messages.close().catch(() => {});
      c.delete().catch(() => {});
    }
  }

  const consumer = async (config: ConsumerConfig): Promise<Consumer> => {
    if (!/^[A-Za-z0-9_-]+$/.test(config.name)) throw new RangeError(`invalid consumer name "${config.name}"`);
    if (config.filterSubject) validateFilter(config.filterSubject);
    const { stream, name } = config;
    const deadLetter = config.deadLetterSubject === undefined ? defaultDeadLetterSubject(name) : config.deadLetterSubject;
    if (deadLetter !== null) validateSubject(deadLetter);
    // Always a filter (the stream's own subjects by default), so an update can also widen it.
    const settings = {
      filter_subject: config.filterSubject ?? STREAM_SUBJECTS[stream],
      ack_wait: nanos(config.ackWaitMs),
      // One delivery more than the caller allows: the extra one shows us that ack wait expired on
      // the last allowed delivery, so we can dead-letter it (the server would only drop it).
      max_deliver: config.maxDeliver + 1,
    };

    await api(`consumer ${stream}/${name}`, async () => {
      const existing = await jsm.consumers.info(stream, name).catch((e: unknown) => {
        if (isApiError(e, JetStreamApiCodes.ConsumerNotFound)) return null;
        throw e;
      });
      if (!existing) {
        await jsm.consumers.add(stream, {
          durable_name: name,
          ack_policy: AckPolicy.Explicit,
          ...(config.startSeq !== undefined
            ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: config.startSeq }
            : { deliver_policy: DeliverPolicy.All }),
          ...settings,
        });
      } else if (
        existing.config.filter_subject !== settings.filter_subject ||
        existing.config.ack_wait !== settings.ack_wait ||
        existing.config.max_deliver !== settings.max_deliver
      ) {
        await jsm.consumers.update(stream, name, settings);
      }
    });

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

    /**
     * One pull request. `expiresMs` 0 = no_wait: the server answers at once with what it has. Ends
     * on `batch` messages or a status (404 nothing, 408 expired, 409 e.g. too many waiting pulls);
     * the server ending it matters, as a still-open pull would take later deliveries for nobody.
     */
    const pull = (batch: number, expiresMs: number) =>
      new Promise<Msg[]>((resolve, reject) => {
        const got: Msg[] = [];
        const inbox = createInbox();
        const finish = (err?: unknown) => {
          clearTimeout(timer);
          sub.unsubscribe();
          if (err) reject(unavailable(`fetch ${stream}/${name}`, err));
          else resolve(got);
        };
        const sub = nc.subscribe(inbox, {
          callback: (err, m) => {
            if (err) return finish(err);
            if (m.reply) {
              got.push(m);
              if (got.length >= batch) finish();
              return;
            }
            const code = m.headers?.code ?? 0;
            if (code === 100) return; // idle heartbeat
            if (code === 503) return finish(new Error(`no responders: consumer ${stream}/${name} missing`));
            finish();
          },
        });
        const timer = setTimeout(finish, expiresMs + timeout);
        const req = expiresMs > 0 ? { batch, expires: nanos(expiresMs) } : { batch, no_wait: true };
        nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${name}`, JSON.stringify(req), { reply: inbox });
      });

    const toDelivery = (m: Msg): Delivery | Promise<null> => {
      const { deliveryCount, seq, tsNanos } = parseAckSubject(m.reply ?? '');
      if (deliveryCount > config.maxDeliver) {
        return deadLetterAndTerm(m, seq, config.maxDeliver, expiredReason(config.maxDeliver)).then(() => null);
      }
      return {
        ...toMessage(stream, { subject: m.subject, seq, tsNanos, headers: m.headers, data: m.data }),
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
          // Take what is there at once; otherwise wait for one, then add whatever came with it.
          let msgs = await pull(max, 0);
          const left = deadline - Date.now();
          if (msgs.length === 0 && left > 0) {
            msgs = await pull(1, left);
            if (msgs.length > 0 && max > 1) msgs.push(...(await pull(max - 1, 0)));
          }
          const out = (await Promise.all(msgs.map(toDelivery))).filter((d): d is Delivery => d !== null);
          // Only expired deliveries came (now dead letters): keep waiting for a live one.
          if (out.length > 0 || msgs.length === 0 || Date.now() >= deadline) return out;
        }
      },
      info: () =>
        api(`consumer info ${stream}/${name}`, async () => {
          const ci = await jsm.consumers.info(stream, name);
          return { pending: ci.num_pending, ackPending: ci.num_ack_pending };
        }),
    };
  };

  let closing: Promise<void> | undefined;

  return {
    kind: 'jetstream',
    append: (subject, events, opts = {}) => {
      const list = Array.isArray(events) ? events : [events as EventEnvelope];
      if (list.length === 0) return Promise.reject(new RangeError('append needs at least one event'));
      return publish(subject, JSON.stringify(list), opts.msgId ?? batchMsgId(list), opts.headers, opts.expectedLastSubjectSeq);
    },
    consumer,
    deleteConsumer: (stream, name) =>
      api(`delete consumer ${stream}/${name}`, async () => {
        await jsm.consumers.delete(stream, name).catch((e: unknown) => {
          if (!isApiError(e, JetStreamApiCodes.ConsumerNotFound)) throw e;
        });
      }),
    read,
    follow,
    lastSeq: (stream) => api(`stream info ${stream}`, async () => (await jsm.streams.info(stream)).state.last_seq),
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
