import { createHash } from 'node:crypto';
import type { DataOfType } from '../../schemas/events/catalog.js';
import type { EventEnvelope } from './port.js';
import { uuidv7 } from './uuid.js';

/**
 * `data` must match the declaration of `type` (schemas/events) when the type is a declared one, so
 * a producer cannot append an event its folds and handlers would misread.
 */
export interface NewEventInput<T extends string> {
  type: T;
  subject: string;
  data: DataOfType<T>;
  source: string;
  id?: string;
  time?: Date;
  correlationId?: string;
  causationId?: string;
  idempotencyKey?: string;
}

/** Builds an envelope with a fresh UUIDv7 id and the current time unless given. */
export const newEvent = <T extends string>(input: NewEventInput<T>): EventEnvelope<DataOfType<T>> & { type: T } => {
  const id = input.id ?? uuidv7();
  const event: EventEnvelope<DataOfType<T>> & { type: T } = {
    id,
    type: input.type,
    subject: input.subject,
    time: (input.time ?? new Date()).toISOString(),
    source: input.source,
    data: input.data,
  };
  if (input.correlationId !== undefined) event.correlationId = input.correlationId;
  if (input.causationId !== undefined) event.causationId = input.causationId;
  if (input.idempotencyKey !== undefined) event.idempotencyKey = input.idempotencyKey;
  return event;
};

/** The message id of a batch: its single event's id, or a digest of every id in order. */
export const batchMsgId = (events: readonly EventEnvelope[]): string => {
  if (events.length === 1) return (events[0] as EventEnvelope).id;
  const h = createHash('sha256');
  for (const e of events) h.update(e.id).update('\0');
  return `b-${h.digest('base64url')}`;
};

/**
 * A deterministic id for the n-th result of handling `cause`, so a retried handler appends a
 * duplicate that the log drops instead of a second result.
 */
export const derivedMsgId = (causeId: string, handler: string, n = 0): string =>
  `r-${createHash('sha256').update(`${causeId}\0${handler}\0${n}`).digest('base64url').slice(0, 32)}`;
