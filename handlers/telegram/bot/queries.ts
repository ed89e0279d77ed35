import type { Sql } from '../../../core/stores/postgres.js';
import type { Scope } from './scope.js';

export const DRIVERS_PAGE_SIZE = 8;

export type Period = 'today' | 'week' | 'month';

/** The start of the period in the notifications' time zone, as Postgres computes it. */
const periodStart = (sql: Sql, period: Period, now: Date, timeZone: string) =>
  sql`date_trunc(${period === 'today' ? 'day' : period}, ${now}::timestamptz, ${timeZone})`;

/** Applications the scope may see (a SQL condition on `applications` aliased `a`). */
const applicationsIn = (sql: Sql, s: Scope) =>
  s.kind === 'company'
    ? sql`AND a.company_id = ${s.companyId}`
    : s.kind === 'driver'
      ? sql`AND a.driver_id = ${s.driverId}`
      : sql``;

/** Payments belong to an order (`order_id` = the application's id): scoped through it. */
const paymentsIn = (sql: Sql, s: Scope) =>
  s.kind === 'all'
    ? sql``
    : sql`AND p.order_id IN (SELECT a.id FROM applications a WHERE NOT a.deleted ${applicationsIn(sql, s)})`;

/** Vehicles the scope may see, by device id (`vehicle_positions` aliased `v`). */
const positionsIn = (sql: Sql, s: Scope) =>
  s.kind === 'all'
    ? sql``
    : s.kind === 'company'
      ? sql`AND EXISTS (SELECT 1 FROM vehicles c WHERE NOT c.deleted AND c.company_id = ${s.companyId} AND v.device_id = ANY (c.gps_device_ids))`
      : sql`AND EXISTS (SELECT 1 FROM vehicles c WHERE NOT c.deleted AND c.driver_id = ${s.driverId} AND v.device_id = ANY (c.gps_device_ids))`;

export interface StatusFigures {
  /** Waiting notifications per channel: only for admin and dispatcher (the gateway's own state). */
  queue: { channel: string; depth: number }[] | undefined;
  vehiclesOnline: number;
  vehiclesOffline: number;
}

/** A vehicle is online while its latest fix is at most `offlineAfterMs` old (`GPS_OFFLINE_AFTER`, as the device alerts judge it). */
export const statusFigures = async (sql: Sql, s: Scope, now: Date, offlineAfterMs: number): Promise<StatusFigures> => {
  const queue =
    s.kind === 'all'
      ? (
          await sql<{ channel: string; depth: string }[]>`
            SELECT channel, count(*) AS depth FROM notification_queue
            WHERE status IN ('queued', 'retrying') GROUP BY channel ORDER BY channel`
        ).map((r) => ({ channel: r.channel, depth: Number(r.depth) }))
      : undefined;
  const since = new Date(now.getTime() - offlineAfterMs);
  const [v] = await sql<{ online: string; offline: string }[]>`
    SELECT count(*) FILTER (WHERE v.ts >= ${since}) AS online, count(*) FILTER (WHERE v.ts < ${since}) AS offline
    FROM vehicle_positions v WHERE true ${positionsIn(sql, s)}`;
  return { queue, vehiclesOnline: Number(v?.online ?? 0), vehiclesOffline: Number(v?.offline ?? 0) };
};

export interface Money {
  currency: string;
  minor: number;
}

/** Succeeded payments minus their refunds, per currency, paid in the period. */
export const earnings = async (sql: Sql, s: Scope, period: Period, now: Date, timeZone: string): Promise<Money[]> => {
  const rows = await sql<{ currency: string; minor: string }[]>`
    SELECT p.currency, sum(p.amount_minor - p.refunded_minor) AS minor FROM payment_transactions p
    WHERE p.status = 'succeeded' AND coalesce(p.paid_at, p.created_at) >= ${periodStart(sql, period, now, timeZone)}
      AND coalesce(p.paid_at, p.created_at) <= ${now} ${paymentsIn(sql, s)}
    GROUP BY p.currency ORDER BY p.currency`;
  return rows.map((r) => ({ currency: r.currency.trim(), minor: Number(r.minor) }));
};

export interface TodayFigures {
  created: number;
  completed: number;
  cancelled: number;
  revenue: Money[];
  /** Notifications that ended today (admin and dispatcher: the gateway's own traffic). */
  notifications: { sent: number; failed: number } | undefined;
}

export const todayFigures = async (sql: Sql, s: Scope, now: Date, timeZone: string): Promise<TodayFigures> => {
  const start = periodStart(sql, 'today', now, timeZone);
  const [a] = await sql<{ created: string; completed: string; cancelled: string }[]>`
    SELECT count(*) FILTER (WHERE a.occurred_at >= ${start}) AS created,
           count(*) FILTER (WHERE a.status = 'completed' AND a.changed_at >= ${start}) AS completed,
           count(*) FILTER (WHERE a.status = 'cancelled' AND a.changed_at >= ${start}) AS cancelled
    FROM applications a WHERE NOT a.deleted ${applicationsIn(sql, s)}`;
  const [n] =
    s.kind === 'all'
      ? await sql<{ sent: string; failed: string }[]>`
          SELECT count(*) FILTER (WHERE status = 'sent') AS sent, count(*) FILTER (WHERE status IN ('failed', 'refused')) AS failed
          FROM notification_queue WHERE updated_at >= ${start}`
      : [];
  return {
    notifications: n ? { sent: Number(n.sent), failed: Number(n.failed) } : undefined,
    created: Number(a?.created ?? 0),
    completed: Number(a?.completed ?? 0),
    cancelled: Number(a?.cancelled ?? 0),
    revenue: await earnings(sql, s, 'today', now, timeZone),
  };
};

export interface DriverLine {
  id: string;
  name: string | null;
  lastSeen: Date | null;
  onOrder: boolean;
}

/** One page of drivers, with their vehicles' latest fix and whether an order is in progress. */
export const driversPage = async (sql: Sql, s: Scope, page: number): Promise<{ lines: DriverLine[]; total: number }> => {
  const where =
    s.kind === 'company' ? sql`AND d.company_id = ${s.companyId}` : s.kind === 'driver' ? sql`AND d.id = ${s.driverId}` : sql``;
  const [t] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM drivers d WHERE NOT d.deleted ${where}`;
  const rows = await sql<{ id: string; name: string | null; last_seen: Date | null; on_order: boolean }[]>`
    SELECT d.id, d.name,
      (SELECT max(v.ts) FROM vehicles c JOIN vehicle_positions v ON v.device_id = ANY (c.gps_device_ids)
        WHERE NOT c.deleted AND c.driver_id = d.id) AS last_seen,
      EXISTS (SELECT 1 FROM applications a WHERE NOT a.deleted AND a.driver_id = d.id
        AND a.status IN ('assigned', 'in_progress')) AS on_order
    FROM drivers d WHERE NOT d.deleted ${where}
    ORDER BY d.name NULLS LAST, d.id LIMIT ${DRIVERS_PAGE_SIZE} OFFSET ${page * DRIVERS_PAGE_SIZE}`;
  return {
    total: Number(t?.n ?? 0),
    lines: rows.map((r) => ({ id: r.id, name: r.name, lastSeen: r.last_seen, onOrder: r.on_order })),
  };
};

/** Statuses the ERP sync may give a run that went well (read defensively: the ERP issue owns the table). */
const ERP_OK = ['ok', 'success', 'succeeded', 'completed', 'done'];

/**
 * The last successful ERP sync per entity (`erp_sync_log`); empty when there never was one.
 * Undefined when the table cannot be read as expected (then /status says so, not fails).
 */
export const lastErpSyncs = async (sql: Sql): Promise<{ entity: string; at: Date }[] | undefined> => {
  try {
    const rows = await sql<{ entity: string; at: Date }[]>`
      SELECT DISTINCT ON (entity) entity, coalesce(finished_at, updated_at) AS at FROM erp_sync_log
      WHERE lower(status) IN ${sql(ERP_OK)} ORDER BY entity, coalesce(finished_at, updated_at) DESC`;
    return rows.map((r) => ({ entity: r.entity, at: r.at }));
  } catch {
    return undefined;
  }
};

/** The GPS devices of the scope's vehicles (undefined: every device). */
export const scopeDevices = async (sql: Sql, s: Scope): Promise<string[] | undefined> => {
  if (s.kind === 'all') return undefined;
  const rows = await sql<{ d: string }[]>`
    SELECT DISTINCT unnest(gps_device_ids) AS d FROM vehicles c
    WHERE NOT c.deleted AND ${s.kind === 'company' ? sql`c.company_id = ${s.companyId}` : sql`c.driver_id = ${s.driverId}`}`;
  return rows.map((r) => r.d);
};
