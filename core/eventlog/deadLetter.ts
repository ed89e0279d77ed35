import type { StreamName } from './port.js';

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
