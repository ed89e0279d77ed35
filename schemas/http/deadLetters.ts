import { type Static, Type } from '@sinclair/typebox';
import { EventEnvelope, StreamName } from '../events/envelope.js';

export const DeadLettersQuery = Type.Object(
  {
    consumer: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$', description: 'only this consumer’s, e.g. `email-normal`' }),
    ),
    from: Type.Optional(
      Type.String({ maxLength: 40, description: 'dead-lettered at or after; epoch milliseconds or an ISO-8601 instant' }),
    ),
    after: Type.Optional(Type.String({ pattern: '^\\d{1,15}$', description: 'the previous page’s `next`' })),
    limit: Type.Optional(Type.String({ pattern: '^\\d{1,4}$', description: 'at most this many (1–1000, default 100)' })),
  },
  { additionalProperties: false },
);
export type DeadLettersQuery = Static<typeof DeadLettersQuery>;

export const DeadLetterView = Type.Object(
  {
    id: Type.String({ description: 'the dead letter’s DLQ sequence number' }),
    consumer: Type.String({ description: 'the consumer that gave up, e.g. `email-normal`' }),
    stream: StreamName,
    originalSeq: Type.Integer({ description: 'where the message was stored in `stream`' }),
    subject: Type.String(),
    reason: Type.String(),
    deliveries: Type.Integer(),
    deadLetteredAt: Type.String({ format: 'date-time' }),
    events: Type.Array(EventEnvelope, { description: 'the message’s events (commands), as stored' }),
  },
  { $id: 'DeadLetter' },
);
export type DeadLetterView = Static<typeof DeadLetterView>;

export const DeadLetterList = Type.Object(
  {
    deadLetters: Type.Array(DeadLetterView),
    next: Type.Optional(Type.String({ description: 'more may follow: pass as `after`' })),
  },
  { $id: 'DeadLetterList' },
);

export const DeadLetterRetry = Type.Object(
  {
    id: Type.String(),
    outcome: Type.Union([Type.Literal('retried'), Type.Literal('already_accepted')]),
    retried: Type.Array(Type.Object({ commandId: Type.String(), retryEventId: Type.String() })),
    alreadyAccepted: Type.Array(Type.String(), { description: 'command ids a provider already accepted: left alone' }),
  },
  { $id: 'DeadLetterRetry' },
);
export type DeadLetterRetry = Static<typeof DeadLetterRetry>;
