import { type Static, Type } from '@sinclair/typebox';
import { RECORD_TYPES, RecordId, type RecordType } from '../records/common.js';
import { defineEvent, type EventUnion, eventDomain } from './define.js';

/** Who told fleetgate about the change: the CRM's API calls, the ERP sync, or a file import. */
export const RecordSource = Type.Union([Type.Literal('crm'), Type.Literal('erp'), Type.Literal('import')]);
export type RecordSource = Static<typeof RecordSource>;

export const RecordTypeSchema = Type.Union(RECORD_TYPES.map((t) => Type.Literal(t)));

/** The version as the mirror compares it: the CRM's counter, or its updated_at in epoch ms. */
const Version = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });

/**
 * `record.upserted`: the CRM (or ERP, or an import) holds this version of the record. The mirror
 * takes it only when `version` is newer than the one it holds; `record` is the body as validated
 * against `schemas/records/<type>.ts` (without `id` and `version`, which sit beside it).
 */
export const RecordUpserted = Type.Object(
  {
    source: RecordSource,
    type: RecordTypeSchema,
    id: RecordId,
    version: Version,
    record: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export type RecordUpserted = Static<typeof RecordUpserted>;

/**
 * `record.deleted`: the record is gone from the CRM. Without `version` it applies to whatever the
 * mirror holds; with one, only when newer. The mirror keeps a tombstone (version, history).
 */
export const RecordDeleted = Type.Object(
  {
    source: RecordSource,
    type: RecordTypeSchema,
    id: RecordId,
    version: Type.Optional(Version),
  },
  { additionalProperties: false },
);
export type RecordDeleted = Static<typeof RecordDeleted>;

/** Every record event, declared once. */
export const recordEvents = eventDomain({
  upserted: defineEvent('record.upserted', RecordUpserted),
  deleted: defineEvent('record.deleted', RecordDeleted),
});
export type RecordEvent = EventUnion<typeof recordEvents.defs>;

export const RECORD_UPSERTED = recordEvents.defs.upserted.type;
export const RECORD_DELETED = recordEvents.defs.deleted.type;

/** Every record subject: the `records` projection's filter (inside the EVENTS stream's `evt.>`). */
export const RECORD_SUBJECTS = 'evt.record.>';
/** One record's own subject: a single write goes here, so its log history is this subject. */
export const recordSubject = (type: RecordType, id: string) => `evt.record.${type}.${id}`;
/**
 * A batch (API batch route, import) is one log message, so it cannot sit on each record's subject;
 * it goes here, and the read model keeps each record's history as the sequences that changed it.
 */
export const recordBatchSubject = (type: RecordType) => `evt.record.batch.${type}`;
