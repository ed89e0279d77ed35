import type { Projection, StoredEvent } from '../core/runners/projectionRunner.js';
import { GPS_REPORTED, type GpsReported } from '../schemas/events/gps.js';

/** 12 parameters a row: far below the protocol's 65 535 parameters per statement. */
const CHUNK = 2_000;

/**
 * `vehicle_positions`: the newest fix per device. Only a strictly newer `ts` replaces a row (in
 * the batch and in the table), so a device flushing an offline buffer, a resend, or a replay in
 * any batching ends with the same row: the first fold of the newest fix time.
 */
export const vehiclePositionsProjection: Projection = {
  name: 'vehicle_positions',
  stream: 'GPS',
  filterSubject: 'gps.reported.>',
  async apply(tx, events) {
    const latest = new Map<string, StoredEvent & { data: GpsReported }>();
    for (const e of events) {
      if (e.type !== GPS_REPORTED) continue;
      const d = e.data as GpsReported;
      const seen = latest.get(d.deviceId);
      if (!seen || d.ts > seen.data.ts) latest.set(d.deviceId, e as StoredEvent & { data: GpsReported });
    }
    if (latest.size === 0) return;
    const rows = [...latest.values()].map(({ seq, data: d }) => ({
      device_id: d.deviceId,
      ts: new Date(d.ts),
      lat: d.lat,
      lon: d.lon,
      speed: d.speed ?? null,
      heading: d.heading ?? null,
      alt: d.alt ?? null,
      accuracy: d.accuracy ?? null,
      battery: d.battery ?? null,
      source: d.source,
      received_at: new Date(d.receivedAt),
      last_seq: seq,
    }));
    for (let i = 0; i < rows.length; i += CHUNK) {
      await tx`
        INSERT INTO vehicle_positions ${tx(rows.slice(i, i + CHUNK))}
        ON CONFLICT (device_id) DO UPDATE SET
          ts = excluded.ts, lat = excluded.lat, lon = excluded.lon, speed = excluded.speed,
          heading = excluded.heading, alt = excluded.alt, accuracy = excluded.accuracy,
          battery = excluded.battery, source = excluded.source, received_at = excluded.received_at,
          last_seq = excluded.last_seq
        WHERE vehicle_positions.ts < excluded.ts`;
    }
  },
  async reset(tx) {
    await tx`TRUNCATE vehicle_positions`;
  },
};
