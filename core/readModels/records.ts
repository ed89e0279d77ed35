import type { RecordSource } from '../../schemas/events/record.js';
import type { RecordType } from '../../schemas/records/common.js';
import type { Sql, TransactionSql } from '../stores/postgres.js';

/** The columns of a record row, the same whether read or written (`schemas/postgres/012_crm_records.sql`). */
export interface RecordColumns {
  id: string;
  deleted: boolean;
  status: string | null;
  company_id: string | null;
  driver_id: string | null;
  vehicle_id: string | null;
  name: string | null;
  phone: string | null;
  search: string | null;
  fields: Record<string, unknown>;
  attributes: Record<string, unknown>;
  source: RecordSource;
}

/**
 * A row of `companies`, `drivers`, `vehicles` or `applications` as the `postgres` client reads
 * it: bigint as text. Written only by `projections/records.ts`.
 */
export interface RecordRow extends RecordColumns {
  version: string;
  occurred_at: Date;
  changed_at: Date;
  last_seq: string;
  history: string[];
}

const COLUMNS = 'id, version, deleted, fields, attributes, source, changed_at, last_seq';

/** One record, tombstone included. */
export const getRecord = async (sql: Sql, type: RecordType, id: string): Promise<RecordRow | undefined> => {
  const [row] = await sql<RecordRow[]>`SELECT * FROM ${sql(type)} WHERE id = ${id}`;
  return row;
};

/**
 * Ids of these that a log message did not set, with what the mirror holds instead (a batch's
 * items that were not newer; an id never stored has version 0).
 */
export const notSetBy = async (sql: Sql, type: RecordType, ids: readonly string[], seq: number) => {
  const rows = await sql<{ id: string; version: string | null }[]>`
    SELECT i.id, t.version FROM unnest(${ids as string[]}::text[]) AS i(id)
    LEFT JOIN ${sql(type)} t ON t.id = i.id
    WHERE t.last_seq IS DISTINCT FROM ${seq}`;
  return new Map(rows.map((r) => [r.id, Number(r.version ?? 0)]));
};

/** The stored version and state of some ids (the fold's and the routes' version checks). */
export const currentVersions = async (
  sql: Sql | TransactionSql,
  type: RecordType,
  ids: readonly string[],
): Promise<Map<string, { version: number; deleted: boolean; lastSeq: number }>> => {
  const rows = await sql<{ id: string; version: string; deleted: boolean; last_seq: string }[]>`
    SELECT id, version, deleted, last_seq FROM ${sql(type)} WHERE id = ANY(${ids as string[]})`;
  return new Map(rows.map((r) => [r.id, { version: Number(r.version), deleted: r.deleted, lastSeq: Number(r.last_seq) }]));
};

export interface RecordFilter {
  status?: string;
  company?: string;
  driver?: string;
  vehicle?: string;
  from?: Date;
  to?: Date;
  /** Lower-cased text to find in name, plate, phone (applications: addresses). */
  q?: string;
  /** Only ids after this one (the cursor). */
  after?: string;
  limit: number;
}

/**
 * Live records in id order, after the cursor's id. Keyset pagination on the primary key: an id
 * never moves, so writes between pages neither repeat nor skip a record (a record created behind
 * the cursor shows on no page of this walk; one deleted ahead of it is gone).
 */
export const listRecords = (sql: Sql, type: RecordType, f: RecordFilter) => {
  const like = f.q === undefined ? undefined : `%${f.q.replace(/[\\%_]/g, '\\$&')}%`;
  return sql<Pick<RecordRow, 'id' | 'version' | 'deleted' | 'fields' | 'attributes' | 'source' | 'changed_at' | 'last_seq'>[]>`
    SELECT ${sql.unsafe(COLUMNS)} FROM ${sql(type)}
    WHERE NOT deleted
      ${f.after === undefined ? sql`` : sql`AND id > ${f.after}`}
      ${f.status === undefined ? sql`` : sql`AND status = ${f.status}`}
      ${f.company === undefined ? sql`` : sql`AND company_id = ${f.company}`}
      ${f.driver === undefined ? sql`` : sql`AND driver_id = ${f.driver}`}
      ${f.vehicle === undefined ? sql`` : sql`AND vehicle_id = ${f.vehicle}`}
      ${f.from === undefined ? sql`` : sql`AND occurred_at >= ${f.from}`}
      ${f.to === undefined ? sql`` : sql`AND occurred_at < ${f.to}`}
      ${like === undefined ? sql`` : sql`AND search LIKE ${like}`}
    ORDER BY id
    LIMIT ${f.limit}`;
};

/** Plate and current driver's name of the vehicles these GPS units belong to, by device id. */
export const vehicleLabels = async (
  sql: Sql,
  deviceIds: readonly string[],
): Promise<Map<string, { plate: string | null; driverName: string | null }>> => {
  if (deviceIds.length === 0) return new Map();
  const rows = await sql<{ device_id: string; plate: string | null; driver_name: string | null }[]>`
    SELECT DISTINCT ON (d.device_id) d.device_id, v.name AS plate, dr.name AS driver_name
    FROM unnest(${deviceIds as string[]}::text[]) AS d(device_id)
    JOIN vehicles v ON v.gps_device_ids @> ARRAY[d.device_id] AND NOT v.deleted
    LEFT JOIN drivers dr ON dr.id = v.driver_id AND NOT dr.deleted
    ORDER BY d.device_id, v.changed_at DESC`;
  return new Map(rows.map((r) => [r.device_id, { plate: r.plate, driverName: r.driver_name }]));
};
