import { type Static, type TObject, Type } from '@sinclair/typebox';
import { RecordSource } from '../events/record.js';
import { RECORD_TYPES, RecordId, type RecordType } from '../records/common.js';
import { recordSchemas } from '../records/index.js';

/** Most records in one batch request (one log message). */
export const MAX_BATCH_ITEMS = 1_000;

const fieldsOf = (type: RecordType) => (recordSchemas[type] as TObject).properties;

/** `PUT /api/v1/records/{type}/{id}`: the record; an `id` in the body must match the path's. */
export const putBody = (type: RecordType) =>
  Type.Object({ id: Type.Optional(RecordId), ...fieldsOf(type) }, { additionalProperties: false });

/** One item of a batch or one line of an import: the record with its id. */
export const batchItem = (type: RecordType) => Type.Object({ id: RecordId, ...fieldsOf(type) }, { additionalProperties: false });

export const batchBody = (type: RecordType) =>
  Type.Object(
    { records: Type.Array(batchItem(type), { minItems: 1, maxItems: MAX_BATCH_ITEMS }) },
    { additionalProperties: false },
  );

/** Cached per type: the pipeline compiles a checker per schema object, so build each once. */
const perType = <T>(build: (t: RecordType) => T) =>
  Object.fromEntries(RECORD_TYPES.map((t) => [t, build(t)])) as Record<RecordType, T>;
export const PutBodies = perType(putBody);
export const BatchItems = perType(batchItem);
export const BatchBodies = perType(batchBody);

export const DeleteQuery = Type.Object(
  {
    version: Type.Optional(
      Type.String({ maxLength: 40, description: 'only delete if this version is newer (counter or ISO-8601)' }),
    ),
  },
  { additionalProperties: false },
);

export const ListQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'nextCursor of the previous page' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size (default 100)' })),
    status: Type.Optional(Type.String({ maxLength: 32 })),
    company: Type.Optional(Type.String({ maxLength: 64, description: 'company id' })),
    driver: Type.Optional(Type.String({ maxLength: 64, description: 'driver id' })),
    vehicle: Type.Optional(Type.String({ maxLength: 64, description: 'vehicle id' })),
    from: Type.Optional(Type.String({ maxLength: 40, description: 'occurred at or after (ISO-8601); see the list description' })),
    to: Type.Optional(Type.String({ maxLength: 40, description: 'occurred before (ISO-8601)' })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'text in name, plate or phone' })),
  },
  { additionalProperties: false },
);
export type ListQuery = Static<typeof ListQuery>;

/** A record as the mirror holds it. */
export const RecordView = Type.Object(
  {
    type: Type.Union(RECORD_TYPES.map((t) => Type.Literal(t))),
    id: Type.String(),
    version: Type.Integer(),
    deleted: Type.Boolean(),
    record: Type.Record(Type.String(), Type.Unknown(), { description: "the record's fields as last written" }),
    source: RecordSource,
    changedAt: Type.String({ format: 'date-time' }),
    seq: Type.Integer({ description: 'log sequence of the change' }),
  },
  { $id: 'RecordView' },
);
export type RecordView = Static<typeof RecordView>;

export const RecordPage = Type.Object(
  { records: Type.Array(RecordView), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  { $id: 'RecordPage' },
);

export const RecordChange = Type.Object(
  {
    seq: Type.Integer(),
    eventId: Type.String(),
    type: Type.String({ description: 'record.upserted or record.deleted' }),
    time: Type.String({ format: 'date-time' }),
    source: RecordSource,
    version: Type.Union([Type.Integer(), Type.Null()]),
    record: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { $id: 'RecordChange' },
);
export type RecordChange = Static<typeof RecordChange>;
export const RecordHistory = Type.Object(
  { type: Type.String(), id: Type.String(), changes: Type.Array(RecordChange) },
  { $id: 'RecordHistory' },
);

/** Per item of an accepted batch: taken, or not newer than the mirror's version. */
export const BatchOutcome = Type.Object(
  {
    seq: Type.Integer(),
    projected: Type.Boolean({ description: 'false: the read model did not fold the batch in time; outcomes unknown' }),
    applied: Type.Integer(),
    stale: Type.Array(Type.Object({ id: Type.String(), version: Type.Integer(), currentVersion: Type.Integer() })),
  },
  { $id: 'RecordBatchOutcome' },
);
export type BatchOutcome = Static<typeof BatchOutcome>;
