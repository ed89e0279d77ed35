import type { LogMessage, StreamName } from './port.js';

/** Dead letters of consumer `name` go here unless its config names another subject. */
export const defaultDeadLetterSubject = (name: string) => `dlq.${name}`;

/** One dead letter per (stream, seq, consumer), however often it is terminated. */
export const deadLetterMsgId = (stream: StreamName, seq: number, consumer: string) => `dlq:${stream}:${seq}:${consumer}`;

export const expiredReason = (deliveries: number) => `max deliveries reached: ack wait expired on delivery ${deliveries}`;

/** What an operator needs to find, judge and replay a dead letter. */
export const deadLetterHeaders = (d: {
  stream: StreamName;
  seq: number;
  subject: string;
  consumer: string;
  deliveries: number;
  reason: string;
}): Record<string, string> => ({
  'fg-dlq-stream': d.stream,
  'fg-dlq-seq': String(d.seq),
  'fg-dlq-subject': d.subject,
  'fg-dlq-consumer': d.consumer,
  'fg-dlq-deliveries': String(d.deliveries),
  // Header values are single-line in NATS; keep reasons readable and bounded.
  'fg-dlq-reason': d.reason.replace(/[\r\n]+/g, ' ').slice(0, 512),
  'fg-dlq-at': new Date().toISOString(),
});

/** A dead letter as an operator sees it: where it came from, why, and the events it held. */
export interface DeadLetter {
  /** Its sequence in the DLQ stream: the id `dlq show|retry|drop` and the API take. */
  seq: number;
  consumer: string;
  /** Where the original message was stored, and under which subject. */
  stream: StreamName;
  originalSeq: number;
  subject: string;
  reason: string;
  deliveries: number;
  /** When it was dead-lettered (ms since the epoch). */
  deadLetteredAt: number;
  events: LogMessage['events'];
}

/** Reads the `fg-dlq-*` headers back; a message without them (not written by a consumer) is not a dead letter. */
export const toDeadLetter = (m: LogMessage): DeadLetter | undefined => {
  const h = m.headers;
  if (h['fg-dlq-consumer'] === undefined || h['fg-dlq-subject'] === undefined) return undefined;
  const at = Date.parse(h['fg-dlq-at'] ?? '');
  return {
    seq: m.seq,
    consumer: h['fg-dlq-consumer'],
    stream: (h['fg-dlq-stream'] ?? 'EVENTS') as StreamName,
    originalSeq: Number(h['fg-dlq-seq'] ?? 0),
    subject: h['fg-dlq-subject'],
    reason: h['fg-dlq-reason'] ?? '',
    deliveries: Number(h['fg-dlq-deliveries'] ?? 0),
    deadLetteredAt: Number.isFinite(at) ? at : m.storedAt,
    events: m.events,
  };
};
