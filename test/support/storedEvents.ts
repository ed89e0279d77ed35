import { uuidv7 } from '../../core/eventlog/uuid.js';
import type { Stored } from '../../core/runners/projectionRunner.js';
import type { EventEnvelope } from '../../schemas/events/envelope.js';

/**
 * Events as a projection's fold receives them from the EVENTS stream, for fold tests: each gets
 * the next sequence number from `firstSeq` and a time one second after the previous one.
 */
export const storedEvents = <E extends EventEnvelope>(subject: string, firstSeq: number) => {
  let seq = firstSeq;
  return <T extends E['type']>(type: T, data: Extract<E, { type: T }>['data'], causationId?: string): Stored<E> => {
    seq += 1;
    return {
      id: uuidv7(),
      type,
      subject,
      time: new Date(Date.UTC(2024, 0, 1, 0, 0, seq)).toISOString(),
      source: 'test',
      data,
      stream: 'EVENTS',
      seq,
      ...(causationId ? { causationId } : {}),
    } as unknown as Stored<E>;
  };
};
