import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { GatewayError } from '../../schemas/errors.js';
import type { DeviceInfo } from '../../schemas/http/devices.js';
import { lookupCache } from '../lookupCache.js';
import type { Sql } from '../stores/postgres.js';

export type DeviceKind = DeviceInfo['kind'];

/** What authentication yields: never the token or its hash. */
export interface AuthenticatedDevice {
  id: string;
  kind: DeviceKind;
  driverId: string | null;
}

interface Row {
  id: string;
  kind: DeviceKind;
  driver_id: string | null;
  name: string | null;
  token_hash: Buffer;
  disabled_at: Date | null;
  created_at: Date;
  rotated_at: Date | null;
  last_seen_at: Date | null;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
export const generateDeviceToken = () => `fgd_${randomBytes(32).toString('base64url')}`;

/**
 * GPS units and driver phones, their tokens stored as SHA-256 only. Authentication is cached per
 * device (`cacheMs`) so a reconnect storm does not reach Postgres for every connect; disabling or
 * rotating in this process takes effect at once, in others within `cacheMs`.
 */
export const deviceRegistry = (sql: Sql, opts: { cacheMs?: number; now?: () => number } = {}) => {
  const cacheMs = opts.cacheMs ?? 30_000;
  // LRU with misses kept apart: a flood of unknown ids or tokens cannot evict the known devices.
  const cacheOpts = {
    ttlMs: cacheMs,
    missTtlMs: Math.min(cacheMs, 2_000),
    maxEntries: 100_000,
    maxMisses: 10_000,
    ...(opts.now ? { now: opts.now } : {}),
  };
  const byId = lookupCache<Row>(cacheOpts);
  const byHash = lookupCache<Row>(cacheOpts);
  const forget = (id: string) => {
    byId.delete(id);
    byHash.clear();
  };
  const rowById = async (id: string) => {
    const hit = byId.get(id);
    if (hit) return hit.value;
    const [row] = await sql<Row[]>`SELECT * FROM devices WHERE id = ${id}`;
    byId.set(id, row);
    return row;
  };
  const toDevice = (r: Row): AuthenticatedDevice => ({ id: r.id, kind: r.kind, driverId: r.driver_id });
  const toInfo = (r: Row): DeviceInfo => ({
    id: r.id,
    kind: r.kind,
    driverId: r.driver_id,
    name: r.name,
    disabled: r.disabled_at !== null,
    createdAt: r.created_at.toISOString(),
    rotatedAt: r.rotated_at?.toISOString() ?? null,
    lastSeenAt: r.last_seen_at?.toISOString() ?? null,
  });

  return {
    /** Registers a device; the token is returned only here. */
    async create(d: { id: string; kind?: DeviceKind; driverId?: string; name?: string }) {
      const token = generateDeviceToken();
      const kind = d.kind ?? 'unit';
      const inserted = await sql`
        INSERT INTO devices (id, kind, driver_id, name, token_hash)
        VALUES (${d.id}, ${kind}, ${d.driverId ?? null}, ${d.name ?? null}, ${sha256(token)})
        ON CONFLICT (id) DO NOTHING RETURNING 1`;
      if (inserted.count === 0) throw new GatewayError('GW_ERR_CONFLICT', `device ${d.id} already exists`);
      forget(d.id);
      return { id: d.id, kind, token };
    },
    /** MQTT: username = device id, password = token. Undefined for unknown, disabled or wrong. */
    async authenticate(id: string, token: string): Promise<AuthenticatedDevice | undefined> {
      const row = await rowById(id);
      const ok = timingSafeEqual(sha256(token), row?.token_hash ?? Buffer.alloc(32));
      return ok && row && row.disabled_at === null ? toDevice(row) : undefined;
    },
    /** OsmAnd and WebSocket: the token alone names the device (it is unguessable). */
    async byToken(token: string): Promise<AuthenticatedDevice | undefined> {
      const hash = sha256(token);
      const key = hash.toString('base64');
      const hit = byHash.get(key);
      let row = hit?.value;
      if (!hit) {
        [row] = await sql<Row[]>`SELECT * FROM devices WHERE token_hash = ${hash}`;
        byHash.set(key, row);
      }
      return row && row.disabled_at === null ? toDevice(row) : undefined;
    },
    async rotate(id: string) {
      const token = generateDeviceToken();
      const r = await sql`UPDATE devices SET token_hash = ${sha256(token)}, rotated_at = now() WHERE id = ${id} RETURNING 1`;
      if (r.count === 0) throw new GatewayError('GW_ERR_NOT_FOUND', `no device ${id}`);
      forget(id);
      return { id, token };
    },
    async setDisabled(id: string, disabled: boolean) {
      const r = disabled
        ? await sql`UPDATE devices SET disabled_at = coalesce(disabled_at, now()) WHERE id = ${id} RETURNING 1`
        : await sql`UPDATE devices SET disabled_at = NULL WHERE id = ${id} RETURNING 1`;
      if (r.count === 0) throw new GatewayError('GW_ERR_NOT_FOUND', `no device ${id}`);
      forget(id);
    },
    /** Drops what this process cached about a device (changed elsewhere: another process, the CLI). */
    invalidate: forget,
    async get(id: string): Promise<DeviceInfo | undefined> {
      const [row] = await sql<Row[]>`SELECT * FROM devices WHERE id = ${id}`;
      return row ? toInfo(row) : undefined;
    },
  };
};
export type DeviceRegistry = ReturnType<typeof deviceRegistry>;
