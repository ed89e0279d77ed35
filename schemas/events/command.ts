import { type Static, Type } from '@sinclair/typebox';
import { defineEvent, type EventUnion, eventDomain } from './define.js';
import { EventEnvelope, type Priority, StreamName } from './envelope.js';

/** Fields every command event carries for the audit trail, whatever route carried it. */
export const CommandAudit = {
  /** The API key prefix that asked. */
  requestedBy: Type.String(),
  /** `v1` or the legacy route that carried it (`legacy:/api/sms.php`). */
  via: Type.String(),
};

/** A CRM's id for one of its records (users, orders): the CRM's integers arrive as text. */
export const CrmId = Type.String({ minLength: 1, maxLength: 64, description: 'an id in the CRM (text)' });

/** Where the API appends a domain's commands: one subject per priority, each a queue of its handler. */
export const commandSubject = (domain: string, priority: Priority) => `evt.${domain}.cmd.${priority}`;

/**
 * `command.retried`: an operator retried a dead-lettered command (`fleetgate dlq retry`,
 * `POST /api/v1/dead-letters/{id}/retry`). Appended under the command's own subject, so the
 * handler's queue delivers it: the runner handles `command` as the original (same id, so the
 * provider's idempotency key and the e-mail Message-ID are the same), and the command's read
 * model shows the retry in its history.
 */
export const CommandRetried = Type.Object(
  {
    /** The command as it was dead-lettered. */
    command: EventEnvelope,
    deadLetter: Type.Object(
      {
        seq: Type.Integer({ minimum: 1, description: 'the dead letter (DLQ sequence) this retry consumed' }),
        consumer: Type.String(),
        stream: StreamName,
        originalSeq: Type.Integer({ minimum: 0 }),
        reason: Type.String(),
        deliveries: Type.Integer({ minimum: 0 }),
        deadLetteredAt: Type.String({ format: 'date-time' }),
      },
      { additionalProperties: false },
    ),
    /** Who asked: the API key prefix, or `cli`. */
    requestedBy: Type.String(),
  },
  { additionalProperties: false },
);
export type CommandRetried = Static<typeof CommandRetried>;

/** Events about commands of any channel. */
export const commandEvents = eventDomain({
  retried: defineEvent('command.retried', CommandRetried),
});
export type CommandEvent = EventUnion<typeof commandEvents.defs>;
export const COMMAND_RETRIED = commandEvents.defs.retried.type;
