import { currentVersions, type RecordColumns } from '../core/readModels/records.js';
import { foldCommitted } from '../core/records/projected.js';
import { type FoldProjection, readsDomains, type Stored } from '../core/runners/projectionRunner.js';
import type { TransactionSql } from '../core/stores/postgres.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { RECORD_SUBJECTS, type RecordEvent, recordEvents } from '../schemas/events/record.js';
import { RECORD_TYPES, type RecordType } from '../schemas/records/common.js';

/** A row as the fold sends it in one JSON parameter (unpacked by `jsonb_to_recordset`). */
interface RowOut extends RecordColumns {
  version: number;
  gps_device_ids: string[];
  occurred_at: string;
  changed_at: string;
  last_seq: number;
  history: number[];
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const address = (v: unknown): string | null => str((v as { address?: unknown } | null | undefined)?.address);

/** What the filters and the text search read of a record, by type. */
const columnsOf = (type: RecordType, r: Record<string, unknown>, at: string) => {
  const label = type === 'vehicles' ? str(r.plate) : type === 'applications' ? null : str(r.name);
  const phone = str(r.phone);
  const words = type === 'applications' ? [address(r.pickup), address(r.dropoff)] : [label, phone, str(r.model)];
  const search = words
    .filter((w) => w !== null)
    .join(' ')
    .toLowerCase();
  return {
    status: str(r.status),
    company_id: str(r.companyId),
    driver_id: str(r.driverId),
    vehicle_id: str(r.vehicleId),
    name: label,
    phone,
    search: search === '' ? null : search,
    gps_device_ids: Array.isArray(r.gpsDeviceIds) ? (r.gpsDeviceIds as string[]) : [],
    occurred_at: type === 'applications' ? (str(r.createdAt) ?? at) : at,
  };
};

/**
 * Folds one type's events of a batch in log order against the stored versions: only a newer
 * version changes a record (a delete without a version always applies), so a resend, a stale
 * write or a replay in any batching ends with the same row and the same history.
 */
const foldType = async (tx: TransactionSql, type: RecordType, events: readonly Stored<RecordEvent>[]) => {
  const ids = new Set(events.map((e) => e.data.id));
  // The common batch (each record once, every event versioned) needs no read first: the upsert's
  // own `version <` guard decides. Repeats or an unversioned delete are folded here in order.
  const guarded = ids.size === events.length && events.every((e) => e.data.version !== undefined);
  const stored = guarded ? new Map<string, never>() : await currentVersions(tx, type, [...ids]);
  const rows = new Map<string, RowOut>();
  for (const e of events) {
    const { id } = e.data;
    const row = rows.get(id);
    const version = row ? row.version : stored.get(id)?.version;
    const known = row !== undefined || stored.has(id);
    switch (e.type) {
      case 'record.upserted': {
        if (known && version !== undefined && e.data.version <= version) break;
        const { attributes, ...fields } = e.data.record;
        rows.set(id, {
          id,
          version: e.data.version,
          deleted: false,
          ...columnsOf(type, e.data.record, e.time),
          fields,
          attributes: (attributes as Record<string, unknown> | undefined) ?? {},
          source: e.data.source,
          changed_at: e.time,
          last_seq: e.seq,
          history: pushSeq(row?.history ?? [], e.seq),
        });
        break;
      }
      case 'record.deleted': {
        if (known && e.data.version !== undefined && version !== undefined && e.data.version <= version) break;
        if (row?.deleted || (!row && stored.get(id)?.deleted && e.data.version === undefined)) break;
        rows.set(id, {
          id,
          version: Math.max(version ?? 0, e.data.version ?? 0),
          deleted: true,
          ...columnsOf(type, {}, e.time),
          fields: {},
          attributes: {},
          source: e.data.source,
          changed_at: e.time,
          last_seq: e.seq,
          history: pushSeq(row?.history ?? [], e.seq),
        });
        break;
      }
      default:
        unhandledEvent(e);
    }
  }
  if (rows.size === 0) return;
  const vehicles = type === 'vehicles';
  // One JSON parameter for the whole batch (see vehiclePositions.ts): Postgres unpacks it in C.
  await tx`
    INSERT INTO ${tx(type)} AS t (id, version, deleted, status, company_id, driver_id, vehicle_id, name, phone, search,
      ${vehicles ? tx`gps_device_ids,` : tx``} fields, attributes, source, occurred_at, changed_at, last_seq, history)
    SELECT id, version, deleted, status, company_id, driver_id, vehicle_id, name, phone, search,
      ${vehicles ? tx`ARRAY(SELECT jsonb_array_elements_text(gps_device_ids)),` : tx``}
      fields, attributes, source, occurred_at, changed_at, last_seq,
      ARRAY(SELECT jsonb_array_elements_text(history))::bigint[]
    FROM jsonb_to_recordset(${tx.json([...rows.values()] as never)}) AS r(
      id text, version bigint, deleted boolean, status text, company_id text, driver_id text, vehicle_id text,
      name text, phone text, search text, gps_device_ids jsonb, fields jsonb, attributes jsonb, source text,
      occurred_at timestamptz, changed_at timestamptz, last_seq bigint, history jsonb)
    ON CONFLICT (id) DO UPDATE SET
      version = excluded.version, deleted = excluded.deleted, status = excluded.status,
      company_id = excluded.company_id, driver_id = excluded.driver_id, vehicle_id = excluded.vehicle_id,
      name = excluded.name, phone = excluded.phone, search = excluded.search,
      ${vehicles ? tx`gps_device_ids = excluded.gps_device_ids,` : tx``}
      fields = excluded.fields, attributes = excluded.attributes, source = excluded.source,
      occurred_at = excluded.occurred_at, changed_at = excluded.changed_at, last_seq = excluded.last_seq,
      history = t.history || excluded.history
    WHERE t.last_seq < excluded.last_seq ${guarded ? tx`AND t.version < excluded.version` : tx``}`;
};

/** A message holding one record twice changes it once in its history. */
const pushSeq = (history: number[], seq: number) => (history[history.length - 1] === seq ? history : [...history, seq]);

/**
 * `companies`, `drivers`, `vehicles`, `applications`: the CRM's records, one table per type, the
 * newest version each (tombstones for deleted ones). Rebuilt by `fleetgate replay records`.
 */
export const recordsProjection: FoldProjection<RecordEvent> = {
  kind: 'fold',
  name: 'records',
  stream: 'EVENTS',
  filterSubject: RECORD_SUBJECTS,
  reads: readsDomains(recordEvents),
  async apply(tx, events) {
    const byType = new Map<RecordType, Stored<RecordEvent>[]>();
    for (const e of events) {
      const list = byType.get(e.data.type);
      if (list) list.push(e);
      else byType.set(e.data.type, [e]);
    }
    for (const [type, list] of byType) await foldType(tx, type, list);
  },
  async reset(tx) {
    for (const t of RECORD_TYPES) await tx`TRUNCATE ${tx(t)}`;
  },
  committed: (position) => foldCommitted('records', position),
};
