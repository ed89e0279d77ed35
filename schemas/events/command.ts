import { Type } from '@sinclair/typebox';
import type { Priority } from './envelope.js';

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
