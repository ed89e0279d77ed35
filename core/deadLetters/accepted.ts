import type { EventEnvelope } from '../eventlog/port.js';
import type { Sql } from '../stores/postgres.js';

/**
 * Has a provider already accepted this command? Read from the command's read model: a dead
 * letter can outlive its command's success (the outcome was appended, then the settle failed, or
 * a second copy failed after the first was sent). Commands of a type without a read model here
 * are retried: their handler's idempotency (the provider's key derived from the command id) is
 * what prevents a second send.
 */
const ACCEPTED: Record<string, (sql: Sql, id: string) => Promise<boolean>> = {
  'email.requested': async (sql, id) =>
    (await sql<{ status: string }[]>`SELECT status FROM email_log WHERE id = ${id}`)[0]?.status === 'sent',
  'sms.requested': async (sql, id) => {
    const status = (await sql<{ status: string }[]>`SELECT status FROM sms_log WHERE id = ${id}`)[0]?.status;
    return status === 'sent' || status === 'delivered' || status === 'undelivered';
  },
  'push.requested': async (sql, id) =>
    (await sql<{ status: string }[]>`SELECT status FROM push_notification_log WHERE id = ${id}`)[0]?.status === 'sent',
  // No log of its own: the queue's view of it.
  'telegram.requested': async (sql, id) =>
    (await sql<{ status: string }[]>`SELECT status FROM notification_queue WHERE id = ${id}`)[0]?.status === 'sent',
};

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const providerAccepted = async (sql: Sql, command: EventEnvelope): Promise<boolean> =>
  // The read models key by uuid: another id cannot be there (and would fail the query's cast).
  UUID.test(command.id) ? ((await ACCEPTED[command.type]?.(sql, command.id)) ?? false) : false;
