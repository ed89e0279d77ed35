import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { pageVehiclePositions, type VehiclePositionView } from '../../core/readModels/vehiclePositions.js';
import type { VehicleLabel } from '../../core/records/vehicleLabel.js';
import type { Sql } from '../../core/stores/postgres.js';

/** Rows per query; the messages sent are cut by bytes, not rows. */
const PAGE_ROWS = 500;

export interface SnapshotTarget {
  /** Still open and still wanting this snapshot (not closed, not re-subscribed since). */
  current(): boolean;
  send(text: string): void;
  /** Resolves once the socket's unsent bytes are at most `bytes`, or it is no longer current. */
  room(bytes: number): Promise<void>;
}

export interface SnapshotOptions {
  sql: Sql;
  /** null: every vehicle. */
  vehicles: ReadonlySet<string> | null;
  offlineAfterMs: number;
  /** Largest message; also how much may be unsent before the next one goes (so a snapshot alone never reaches the drop limit). */
  chunkBytes: number;
  /** The CRM vehicles' plates and driver names, by GPS unit id (absent: none shown). */
  labels?: (deviceIds: readonly string[]) => Promise<Map<string, VehicleLabel>>;
  now?: () => number;
}

/** A snapshot entry: a live `position` message's fields, plus whether the vehicle is online and how old its last report is. */
const entry = (r: VehiclePositionView, now: number, offlineAfterMs: number) => {
  const receivedAt = r.received_at.getTime();
  const ageMs = Math.max(0, now - receivedAt);
  return {
    deviceId: r.device_id,
    ts: r.ts.getTime(),
    lat: r.lat,
    lon: r.lon,
    speed: r.speed,
    heading: r.heading,
    battery: r.battery,
    source: r.source,
    receivedAt,
    online: ageMs <= offlineAfterMs,
    ageMs,
  };
};

const message = (parts: string[], done: boolean) => `{"type":"snapshot","positions":[${parts.join(',')}],"done":${done}}`;

/**
 * Each subscribed vehicle's last known position from `vehicle_positions`, as
 * `{ "type": "snapshot", "positions": [...], "done": bool }` messages of at most `chunkBytes`, the
 * last with `done: true` (one with no positions when there are none). Between messages it yields
 * to the event loop, and before each it waits until the socket holds at most `chunkBytes` unsent,
 * so a large fleet or a slow reader stalls neither the other subscribers nor this one's live
 * positions, and uWS never drops a snapshot message at its backpressure limit. Returns the number
 * of positions sent, or null when the target stopped being current.
 */
export const sendSnapshot = async (target: SnapshotTarget, opts: SnapshotOptions): Promise<number | null> => {
  const now = opts.now ?? Date.now;
  const ids = opts.vehicles ? [...opts.vehicles] : undefined;
  let parts: string[] = [];
  let bytes = 0;
  let sent = 0;
  /** False when the target stopped being current (nothing more is sent). */
  const flush = async (done: boolean) => {
    await target.room(opts.chunkBytes);
    if (!target.current()) return false;
    target.send(message(parts, done));
    sent += parts.length;
    parts = [];
    bytes = 0;
    if (done) return true;
    await yieldToLoop();
    return target.current();
  };
  let after = '';
  for (let page = 0; ; page++) {
    // An id list is paged by itself: `IN` with thousands of ids would be one long query.
    const idsPage = ids?.slice(page * PAGE_ROWS, (page + 1) * PAGE_ROWS);
    if (idsPage?.length === 0) break;
    const rows = await pageVehiclePositions(opts.sql, idsPage ? { ids: idsPage } : { after, limit: PAGE_ROWS });
    if (!target.current()) return null;
    const labels = opts.labels && rows.length > 0 ? await opts.labels(rows.map((r) => r.device_id)) : undefined;
    if (!target.current()) return null;
    const at = now();
    for (const r of rows) {
      const text = JSON.stringify({ ...entry(r, at, opts.offlineAfterMs), ...labels?.get(r.device_id) });
      const size = Buffer.byteLength(text) + 1;
      if (parts.length > 0 && bytes + size > opts.chunkBytes && !(await flush(false))) return null;
      parts.push(text);
      bytes += size;
    }
    if (!idsPage && rows.length < PAGE_ROWS) break;
    after = rows.at(-1)?.device_id ?? after;
  }
  return (await flush(true)) ? sent : null;
};
