import { type Static, Type } from '@sinclair/typebox';

/** The names of the log's streams. `DLQ` holds dead letters of every consumer. */
export const StreamName = Type.Union([Type.Literal('EVENTS'), Type.Literal('GPS'), Type.Literal('DLQ')]);
export type StreamName = Static<typeof StreamName>;

/** Which stream a subject belongs to, by its first token (`evt.>`, `gps.>`, `dlq.>`). */
export const streamOfSubject = (subject: string): StreamName => {
  const head = subject.slice(0, subject.indexOf('.'));
  if (head === 'evt') return 'EVENTS';
  if (head === 'gps') return 'GPS';
  if (head === 'dlq') return 'DLQ';
  throw new RangeError(`subject "${subject}" belongs to no stream (expected evt.*, gps.* or dlq.*)`);
};

export const Priority = Type.Union([Type.Literal('urgent'), Type.Literal('high'), Type.Literal('normal'), Type.Literal('low')]);
export type Priority = Static<typeof Priority>;
/** Highest first: the handler runner takes work in this order. */
export const PRIORITIES: readonly Priority[] = ['urgent', 'high', 'normal', 'low'];

/**
 * `<domain>.attempt_failed` (`sms.attempt_failed`, …): the handler runner's record of one failed
 * attempt at a command that will be retried; the last failure is the channel's own `*.failed`.
 */
export const ATTEMPT_FAILED = 'attempt_failed';
export const AttemptFailed = Type.Object(
  {
    attempt: Type.Integer({ minimum: 1 }),
    error: Type.String(),
    nextAttemptAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);
export type AttemptFailed = Static<typeof AttemptFailed>;

/**
 * One event. `id` is a UUIDv7 (time-ordered); `subject` is the log subject it was appended
 * under; `causationId` is the id of the event that caused it (a handler's command), and
 * `correlationId` the id of the first event of the chain.
 */
export const EventEnvelope = Type.Object(
  {
    id: Type.String({ minLength: 1, maxLength: 128 }),
    type: Type.String({ pattern: '^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$' }),
    subject: Type.String({ minLength: 3 }),
    time: Type.String({ format: 'date-time' }),
    source: Type.String({ minLength: 1 }),
    data: Type.Unknown(),
    correlationId: Type.Optional(Type.String()),
    causationId: Type.Optional(Type.String()),
    idempotencyKey: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type EventEnvelope<D = unknown> = Omit<Static<typeof EventEnvelope>, 'data'> & { data: D };
