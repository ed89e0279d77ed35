import { type TSchema, Type } from '@sinclair/typebox';

/** The record types the CRM mirrors into fleetgate, as they appear in routes and table names. */
export const RECORD_TYPES = ['companies', 'drivers', 'vehicles', 'applications'] as const;
export type RecordType = (typeof RECORD_TYPES)[number];
export const isRecordType = (s: string): s is RecordType => (RECORD_TYPES as readonly string[]).includes(s);

/**
 * A CRM id. It becomes a subject token (`evt.record.<type>.<id>`), so no dots, wildcards or
 * spaces: the CRM's MySQL ids and UUIDs fit.
 */
export const RecordId = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', maxLength: 64, description: "the CRM's id" });

/** An ISO-8601 instant with its offset (a zone-less time would be read in the server's zone). */
const INSTANT =
  '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])T([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d(\\.\\d{1,9})?)?(Z|[+-]([01]\\d|2[0-3]):?[0-5]\\d)$';

/**
 * The CRM's version of the record: a counter it increases, or its `updated_at` (ISO-8601, turned
 * into epoch milliseconds). Only a newer version changes the mirror; use one form per type.
 */
export const RecordVersion = Type.Union(
  [
    Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    Type.String({ pattern: INSTANT, maxLength: 40, description: 'updated_at, ISO-8601 with offset' }),
  ],
  { description: 'an integer the CRM increases, or its updated_at (ISO-8601)' },
);

/** CRM fields fleetgate does not model, kept as given. */
export const Attributes = Type.Record(Type.String({ maxLength: 128 }), Type.Unknown(), {
  description: 'CRM fields fleetgate does not model',
});

/** Optional, and `null` allowed: the CRM sends null for an unset reference. */
export const Opt = <S extends TSchema>(s: S) => Type.Optional(Type.Union([s, Type.Null()]));

export const Text = (maxLength = 255) => Type.String({ maxLength });
export const Ref = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', maxLength: 64 });
export const Phone = Type.String({ maxLength: 32, pattern: '^[0-9+() -]*$' });
export const Instant = Type.String({
  pattern: INSTANT,
  maxLength: 40,
  description: 'ISO-8601 with offset, e.g. 2026-11-01T10:00:00+03:00',
});

/** The fields every record carries beside its own. */
export const recordBase = {
  version: RecordVersion,
  attributes: Type.Optional(Attributes),
};
