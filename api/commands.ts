import { createHash } from 'node:crypto';
import { batchMsgId, newEvent } from '../core/eventlog/newEvent.js';
import type { AppendAck, EventEnvelope, EventLog } from '../core/eventlog/port.js';
import { uuidv7 } from '../core/eventlog/uuid.js';
import { commandSubject } from '../schemas/events/command.js';
import type { Priority } from '../schemas/events/envelope.js';
import type { RequestContext } from './route.js';

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

/** Most commands coalesced into one log message. */
const MAX_COALESCED = 256;
/** And at most about this many bytes of JSON: a log message must stay under NATS' 1 MiB default. */
const MAX_COALESCED_BYTES = 768 * 1024;

/**
 * Group commit for commands: while one append to a subject is in flight, the commands that arrive
 * for it wait and go together as one log message (each event keeps its id), so a burst costs a
 * few appends instead of one each. A lone command is appended at once: no added latency.
 */
const coalescer = (log: EventLog) => {
  const queues = new Map<
    string,
    { event: EventEnvelope; size: number; resolve(a: AppendAck): void; reject(e: unknown): void }[]
  >();
  const flush = async (subject: string, queue: NonNullable<ReturnType<typeof queues.get>>) => {
    while (queue.length > 0) {
      let take = 0;
      let bytes = 0;
      while (take < queue.length && take < MAX_COALESCED) {
        bytes += (queue[take] as { size: number }).size;
        if (take > 0 && bytes > MAX_COALESCED_BYTES) break;
        take++;
      }
      const batch = queue.splice(0, take);
      const events = batch.map((b) => b.event);
      try {
        const ack = await log.append(subject, events, { msgId: batchMsgId(events) });
        for (const b of batch) b.resolve(ack);
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
    queues.delete(subject);
  };
  return (subject: string, event: EventEnvelope) =>
    new Promise<AppendAck>((resolve, reject) => {
      const queue = queues.get(subject);
      if (queue) {
        queue.push({ event, size: JSON.stringify(event.data).length, resolve, reject });
        return;
      }
      const fresh = [{ event, size: 0, resolve, reject }];
      queues.set(subject, fresh);
      void flush(subject, fresh);
    });
};
const coalescers = new WeakMap<EventLog, ReturnType<typeof coalescer>>();

/**
 * Appends a `<domain>.requested` event and resolves once the log holds it durably. A command with
 * an Idempotency-Key is its own message with its id as message id (a redo after a crash is then a
 * duplicate the log drops); others may share a message with concurrent commands. `subject`
 * replaces the priority subject for events no handler takes (push token registrations): a
 * handler's work queue then never has to skip them.
 */
export const appendCommand = async <D>(
  log: EventLog,
  cmd: { id: string; domain: string; type: string; priority: Priority; data: D; idempotencyKey?: string; subject?: string },
): Promise<AppendAck> => {
  const subject = cmd.subject ?? commandSubject(cmd.domain, cmd.priority);
  const event = newEvent({
    id: cmd.id,
    type: cmd.type,
    subject,
    source: 'api',
    data: cmd.data,
    ...(cmd.idempotencyKey === undefined ? {} : { idempotencyKey: cmd.idempotencyKey }),
  });
  if (cmd.idempotencyKey !== undefined) return log.append(subject, event, { msgId: cmd.id });
  let coalesce = coalescers.get(log);
  if (!coalesce) {
    coalesce = coalescer(log);
    coalescers.set(log, coalesce);
  }
  return coalesce(subject, event);
};

/** Who asked: the authenticated key, and its headers for the Idempotency-Key. */
export type CommandCaller = Pick<RequestContext, 'principal' | 'headers'>;

/**
 * Issues a command for any channel, v1 or legacy: the same id rules (Idempotency-Key), the same
 * audit fields (`requestedBy`, `via`), so a legacy request appends what the v1 call would.
 */
export const issueCommand = async <D extends object>(
  log: EventLog,
  caller: CommandCaller,
  cmd: { domain: string; type: string; priority?: Priority; subject?: string; data: D },
  via: string,
) => {
  const principal = caller.principal;
  if (!principal) throw new Error(`a ${cmd.type} command needs an authenticated caller`);
  const idempotencyKey = caller.headers['idempotency-key'];
  const id = commandId(principal.keyId, idempotencyKey);
  await appendCommand(log, {
    id,
    domain: cmd.domain,
    type: cmd.type,
    priority: cmd.priority ?? 'normal',
    data: { ...cmd.data, requestedBy: principal.prefix, via },
    ...(cmd.subject === undefined ? {} : { subject: cmd.subject }),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
  });
  return { id, status: 'queued' as const };
};
