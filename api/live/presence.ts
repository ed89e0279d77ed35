import type { TemplatedApp } from '../../core/http/uws.js';
import { listVehicleLastReports } from '../../core/readModels/vehiclePositions.js';
import type { VehicleLabel } from '../../core/records/vehicleLabel.js';
import type { Sql } from '../../core/stores/postgres.js';
import type { GpsReported } from '../../schemas/events/gps.js';

/** Topics of uWS's own pub/sub: one per vehicle, plus one for "everything". */
export const ALL = 'live/*';
export const topicOf = (deviceId: string) => `live/${deviceId}`;

/** Publishes to a vehicle's subscribers and to those of every vehicle. */
export const liveFanOut = (app: TemplatedApp) => (deviceId: string, message: object) => {
  const topic = topicOf(deviceId);
  const toAll = app.numSubscribers(ALL) > 0;
  const toOne = app.numSubscribers(topic) > 0;
  // Mostly nobody watches: skip the serialization for each of thousands of points a second.
  if (!toAll && !toOne) return;
  const text = JSON.stringify(message);
  if (toOne) app.publish(topic, text);
  if (toAll) app.publish(ALL, text);
};

/**
 * Each vehicle's last report and whether it is offline (nothing for `offlineAfterMs`): positions
 * and online/offline transitions go out through `publish`. `labelOf` adds the CRM vehicle's plate
 * and driver name where known (answered from a cache: a position is never held back for it).
 */
export const vehiclePresence = (
  offlineAfterMs: number,
  publish: (deviceId: string, message: object) => void,
  labelOf: (deviceId: string) => VehicleLabel | undefined = () => undefined,
) => {
  const lastSeen = new Map<string, number>();
  const offline = new Set<string>();
  return {
    /** Each vehicle's last report from `vehicle_positions`, so offline transitions are right from the start. */
    async seed(sql: Sql) {
      const rows = await listVehicleLastReports(sql);
      const now = Date.now();
      for (const r of rows) {
        const at = r.received_at.getTime();
        lastSeen.set(r.device_id, Math.max(lastSeen.get(r.device_id) ?? 0, at));
        if (now - at > offlineAfterMs) offline.add(r.device_id);
      }
    },
    reported(p: GpsReported) {
      const seen = lastSeen.get(p.deviceId) ?? 0;
      lastSeen.set(p.deviceId, Math.max(seen, p.receivedAt));
      if (offline.delete(p.deviceId) || seen === 0)
        publish(p.deviceId, { type: 'status', deviceId: p.deviceId, online: true, lastSeen: p.receivedAt });
      publish(p.deviceId, {
        type: 'position',
        deviceId: p.deviceId,
        ts: p.ts,
        lat: p.lat,
        lon: p.lon,
        speed: p.speed ?? null,
        heading: p.heading ?? null,
        battery: p.battery ?? null,
        source: p.source,
        receivedAt: p.receivedAt,
        ...labelOf(p.deviceId),
      });
    },
    /** Vehicles silent for `offlineAfterMs` go offline, once. */
    sweep() {
      const now = Date.now();
      for (const [deviceId, at] of lastSeen) {
        if (!offline.has(deviceId) && now - at > offlineAfterMs) {
          offline.add(deviceId);
          publish(deviceId, { type: 'status', deviceId, online: false, lastSeen: at });
        }
      }
    },
    clear() {
      lastSeen.clear();
      offline.clear();
    },
  };
};

export type VehiclePresence = ReturnType<typeof vehiclePresence>;
