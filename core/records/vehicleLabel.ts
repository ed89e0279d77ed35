import { lookupCache } from '../lookupCache.js';
import { vehicleLabels } from '../readModels/records.js';
import type { Sql } from '../stores/postgres.js';

export interface VehicleLabel {
  plate: string | null;
  driverName: string | null;
}

/**
 * A GPS unit's plate and driver name for the live map, cached: positions arrive far more often
 * than the CRM reassigns vehicles, so one lookup per device per `ttlMs` (default 60 s). A miss
 * (unit on no CRM vehicle) is remembered as long. `labelOf` answers from the cache at once and
 * looks up in the background, so a position is never held back by Postgres.
 */
export const vehicleLabelCache = (sql: Sql, opts: { ttlMs?: number; maxEntries?: number } = {}) => {
  const ttlMs = opts.ttlMs ?? 60_000;
  const cache = lookupCache<VehicleLabel>({ ttlMs, missTtlMs: ttlMs, maxEntries: opts.maxEntries ?? 50_000, maxMisses: 50_000 });
  const inFlight = new Set<string>();
  const refresh = (deviceId: string) => {
    if (inFlight.has(deviceId)) return;
    inFlight.add(deviceId);
    vehicleLabels(sql, [deviceId])
      .then((found) => cache.set(deviceId, found.get(deviceId)))
      .catch(() => {})
      .finally(() => inFlight.delete(deviceId));
  };
  return {
    /** The cached label (undefined while unknown or not yet looked up). */
    labelOf(deviceId: string): VehicleLabel | undefined {
      const hit = cache.get(deviceId);
      if (!hit) refresh(deviceId);
      return hit?.value;
    },
    /** Looks up now (for a snapshot of many devices at once). */
    async load(deviceIds: readonly string[]): Promise<Map<string, VehicleLabel>> {
      const found = await vehicleLabels(sql, deviceIds);
      for (const id of deviceIds) cache.set(id, found.get(id));
      return found;
    },
  };
};
