import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { newEvent } from '../core/eventlog/newEvent.js';
import type { AppendAck, EventLog } from '../core/eventlog/port.js';
import type { Priority } from '../schemas/events/envelope.js';

/**
 * The id of a command. With an Idempotency-Key it is derived from (API key, Idempotency-Key), so
 * a request redone after a crash appends an event with the same id and message id, which the
 * log drops as a duplicate; otherwise a fresh UUIDv7.
 */
export const commandId = (keyId: string, idempotencyKey: string | undefined): string => {
  if (idempotencyKey === undefined) return uuidv7();
  const b = createHash('sha256').update(`${keyId}\0${idempotencyKey}`).digest();
  b[6] = ((b[6] as number) & 0x0f) | 0x80; // UUID version 8 (custom)
  b[8] = ((b[8] as number) & 0x3f) | 0x80; // RFC 4122 variant
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};

/** Subject of a channel's commands: one per priority, so handlers can take urgent work first. */
export const commandSubject = (domain: string, priority: Priority) => `evt.${domain}.cmd.${priority}`;

/** Appends a `<domain>.requested` event and resolves once the log holds it durably. */
export const appendCommand = async <D>(
  log: EventLog,
  cmd: { id: string; domain: string; type: string; priority: Priority; data: D; idempotencyKey?: string },
): Promise<AppendAck> => {
  const subject = commandSubject(cmd.domain, cmd.priority);
  const event = newEvent({
    id: cmd.id,
    type: cmd.type,
    subject,
    source: 'api',
    data: cmd.data,
    ...(cmd.idempotencyKey === undefined ? {} : { idempotencyKey: cmd.idempotencyKey }),
  });
  return log.append(subject, event, { msgId: cmd.id });
};
