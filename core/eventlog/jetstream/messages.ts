import type { JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/nats-core';
import type { EventEnvelope, LogMessage, StreamName } from '../port.js';

const decoder = new TextDecoder();

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
export const parseAckSubject = (reply: string) => {
  const t = reply.split('.');
  if (t.length === 9) t.splice(2, 0, '_', '');
  if (t.length < 11 || t[0] !== '$JS' || t[1] !== 'ACK') throw new Error(`not a JetStream delivery: ${reply}`);
  return { deliveryCount: Number(t[6]), seq: Number(t[7]), tsNanos: Number(t[9]) };
};

export interface RawMessage {
  subject: string;
  seq: number;
  tsNanos: number;
  headers?: MsgHdrs | undefined;
  data: Uint8Array;
}

/** Log messages from NATS messages, sharing one decoder (and its GPS cache) per event log. */
export const messageDecoder = () => {
  const decodeEvents = eventDecoder();
  const toMessage = (stream: StreamName, m: RawMessage): LogMessage => ({
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
  return { toMessage, fromJsMsg };
};

export type MessageDecoder = ReturnType<typeof messageDecoder>;
