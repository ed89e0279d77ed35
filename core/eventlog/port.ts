import type { EventEnvelope, StreamName } from '../../schemas/events/envelope.js';

export type { EventEnvelope, StreamName };

export interface AppendOptions {
  /**
   * Dedupe key of the log message (JetStream `Nats-Msg-Id`). Defaults to the event id for a
   * single event, and to a digest of all event ids for a batch.
   */
  msgId?: string;
  /**
   * Optimistic concurrency: append only if the last message on this subject still has this
   * sequence (0 = the subject has no message yet). JetStream's
   * `Nats-Expected-Last-Subject-Sequence`. A mismatch throws `VersionConflictError`.
   */
  expectedLastSubjectSeq?: number;
  /** Extra message headers (string values; `fg-` prefix is reserved). */
  headers?: Record<string, string>;
}

export interface AppendAck {
  stream: StreamName;
  seq: number;
  /** The message id was already in the log: nothing was written, `seq` is the original's. */
  duplicate: boolean;
}

/** One log message: a batch of one or more events appended atomically under one subject. */
export interface LogMessage {
  stream: StreamName;
  seq: number;
  subject: string;
  msgId: string;
  /** When the log stored it (ms since epoch). */
  storedAt: number;
  headers: Record<string, string>;
  events: EventEnvelope[];
}

/** A message handed to a durable consumer; it must be settled with ack, nak or term. */
export interface Delivery extends LogMessage {
  /** 1 on first delivery. */
  deliveryCount: number;
  ack(): Promise<void>;
  /**
   * Redeliver after `delayMs` (default at once). Once the delivery count reached the consumer's
   * `maxDeliver`, the message goes to the dead-letter subject instead, with `reason`.
   */
  nak(delayMs?: number, reason?: string): Promise<void>;
  /** Never redeliver; the message goes to the dead-letter subject with `reason`. */
  term(reason: string): Promise<void>;
  /** Still working: restart the ack-wait clock. */
  working(): Promise<void>;
}

export interface ConsumerConfig {
  stream: StreamName;
  /** Durable name: `[A-Za-z0-9_-]+`. The same name resumes where it left off. */
  name: string;
  /** NATS subject filter (`*` one token, `>` the rest). Default: the whole stream. */
  filterSubject?: string;
  /** Unacknowledged deliveries are redelivered after this long. */
  ackWaitMs: number;
  /** Deliveries before the message is dead-lettered (ack-wait expiries count). */
  maxDeliver: number;
  /**
   * Unacknowledged deliveries the log hands out across all processes; at this many it delivers no
   * more until one is settled (JetStream's MaxAckPending). Default: the log's own (1000 on NATS).
   */
  maxAckPending?: number;
  /** Where dead letters go (`dlq.<name>` by default); `null` drops them after logging. */
  deadLetterSubject?: string | null;
  /** A new consumer starts at this stream sequence (default 1: everything). */
  startSeq?: number;
}

export interface ConsumerInfo {
  /** Matching messages not yet delivered. */
  pending: number;
  /** Delivered, not yet acknowledged. */
  ackPending: number;
  /** Where delivery pauses (JetStream's MaxAckPending); absent when the log has no such limit. */
  maxAckPending?: number;
  /**
   * Grows whenever a delivery is settled or a new one handed out (the ack floor plus the highest
   * delivered sequence): unchanged between two reads means nothing moved.
   */
  progress?: number;
}

export interface Consumer {
  readonly config: Readonly<ConsumerConfig>;
  /** Up to `max` deliveries; waits up to `expiresMs` for the first one, then returns what it has. */
  fetch(opts: { max: number; expiresMs: number }): Promise<Delivery[]>;
  info(): Promise<ConsumerInfo>;
}

export interface ReadOptions {
  /** First sequence to read (inclusive, default 1). */
  fromSeq?: number;
  filterSubject?: string;
}

/**
 * The event log: NATS JetStream in distributed mode, an append-only Postgres table in embedded
 * mode. Both adapters pass `test/contracts/eventLog.contract.ts`.
 */
export interface EventLog {
  readonly kind: 'jetstream' | 'embedded';
  /**
   * Append one event or a batch as one message under `subject` (the stream is chosen by the
   * subject's first token). Resolves only once the log acknowledged the message as stored.
   */
  append(subject: string, events: EventEnvelope | readonly EventEnvelope[], opts?: AppendOptions): Promise<AppendAck>;
  /** Create the durable consumer, or attach to it and update its settings. */
  consumer(config: ConsumerConfig): Promise<Consumer>;
  deleteConsumer(stream: StreamName, name: string): Promise<void>;
  /** Read stored messages in order, at most `max`, without any consumer state. */
  read(stream: StreamName, max: number, opts?: ReadOptions): Promise<LogMessage[]>;
  /**
   * Ordered replay from `fromSeq`, then follows new messages until `signal` aborts. No acks:
   * the caller keeps its own position (projections keep it next to their read model).
   */
  follow(stream: StreamName, opts: ReadOptions & { signal: AbortSignal }): AsyncIterable<LogMessage>;
  /**
   * Removes dead letter `seq` from the DLQ stream, once an operator retried or dropped it (the
   * only removal the log allows: EVENTS and GPS stay append-only). False when it was not there.
   * Read dead letters with `read('DLQ', …)` (`core/eventlog/deadLetter.ts` decodes them).
   */
  removeDeadLetter(seq: number): Promise<boolean>;
  /** The sequence of the last stored message (0 when empty). */
  lastSeq(stream: StreamName): Promise<number>;
  /** Is the log reachable right now (for `/readyz`)? */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
