import { GatewayError } from '../../../schemas/errors.js';
import type { EventEnvelope, LogMessage, StreamName } from '../port.js';

/** A row of `fleetgate_log` (schemas/postgres/001_eventlog.sql). */
export interface LogRow {
  seq: string;
  subject: string;
  msg_id: string;
  headers: Record<string, string>;
  events: EventEnvelope[];
  stored_at: Date;
}

/** A row of `fleetgate_consumers`. */
export interface ConsumerRow {
  filter_subject: string | null;
  ack_wait_ms: number;
  max_deliver: number;
  dead_letter: string | null;
  delivered_seq: string;
}

export const toMessage = (stream: StreamName, r: LogRow): LogMessage => ({
  stream,
  seq: Number(r.seq),
  subject: r.subject,
  msgId: r.msg_id,
  storedAt: r.stored_at.getTime(),
  headers: r.headers,
  events: r.events,
});

export const unavailable = (op: string, cause: unknown) =>
  new GatewayError('GW_ERR_LOG_UNAVAILABLE', `embedded event log: ${op} failed`, { cause });
