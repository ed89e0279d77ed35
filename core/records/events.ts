import {
  RECORD_DELETED,
  RECORD_UPSERTED,
  type RecordSource,
  recordBatchSubject,
  recordSubject,
} from '../../schemas/events/record.js';
import type { RecordType } from '../../schemas/records/common.js';
import { batchMsgId, newEvent } from '../eventlog/newEvent.js';
import type { AppendAck, EventEnvelope, EventLog } from '../eventlog/port.js';
import { versionNumber } from './version.js';

/** A record as validated against its type's schema, with its CRM id. */
export interface RecordInput {
  id: string;
  version: number | string;
  [field: string]: unknown;
}

/** Most records in one log message (batch route, import): 1,000 stays well under NATS' 1 MiB. */
export const MAX_BATCH_RECORDS = 1_000;

const eventSource = (source: RecordSource) => `fleetgate/records/${source}`;

export const upsertedEvent = (type: RecordType, input: RecordInput, source: RecordSource, time?: Date) => {
  const { id, version, ...record } = input;
  return newEvent({
    type: RECORD_UPSERTED,
    subject: recordSubject(type, id),
    source: eventSource(source),
    ...(time ? { time } : {}),
    data: { source, type, id, version: versionNumber(version), record },
  });
};

export const deletedEvent = (type: RecordType, id: string, source: RecordSource, version?: number | string) =>
  newEvent({
    type: RECORD_DELETED,
    subject: recordSubject(type, id),
    source: eventSource(source),
    data: { source, type, id, ...(version === undefined ? {} : { version: versionNumber(version) }) },
  });

/**
 * Appends record events as one log message: one event on the record's own subject, several on
 * the type's batch subject. `msgId` (the import's, derived from the file and line) lets the log
 * drop a batch re-sent after a crash.
 */
export const appendRecordEvents = (
  log: EventLog,
  type: RecordType,
  events: readonly EventEnvelope[],
  opts: { msgId?: string } = {},
): Promise<AppendAck> => {
  const first = events[0];
  if (!first) throw new RangeError('no record events to append');
  const subject = events.length === 1 ? first.subject : recordBatchSubject(type);
  return log.append(subject, events, { msgId: opts.msgId ?? batchMsgId(events) });
};
