import { setTimeout as sleep } from 'node:timers/promises';
import { newEvent } from '../../../core/eventlog/newEvent.js';
import type { EventLog } from '../../../core/eventlog/port.js';
import type { Logger } from '../../../core/logger.js';
import type { Sql } from '../../../core/stores/postgres.js';
import {
  ALERT_DEVICE_OFFLINE,
  ALERT_DEVICE_ONLINE,
  ALERT_DEVICES_SUBJECT,
  ALERT_SPEEDING,
} from '../../../schemas/events/alert.js';

export interface DeviceAlertOptions {
  sql: Sql;
  log: EventLog;
  logger: Logger;
  /** GPS_OFFLINE_AFTER. */
  offlineAfterMs: number;
  /** GPS_SPEED_LIMIT_KMH (0: no speeding alerts) and GPS_SPEEDING_MIN_SECONDS. */
  speedLimitKmh: number;
  speedingMinMs: number;
  /** How often the latest positions are looked at. */
  everyMs?: number;
}

interface Row {
  device_id: string;
  ts: Date;
  speed: number | null;
  lat: number;
  lon: number;
  known: boolean;
  offline_since: Date | null;
  over_since: Date | null;
  speeding_at: Date | null;
}

/**
 * Device offline and back, and speeding episodes, from each device's latest position
 * (`vehicle_positions`, kept by its projection as points arrive), looked at every `everyMs`.
 * Each alert is an event on `evt.alert.devices` first, with a message id of the fact (device
 * and fix time), so processes running this at once, or a rerun after a crash, append it once;
 * the state in `telegram_device_alerts` moves only after the append. A device seen for the
 * first time is only recorded (a gateway starting up does not report every silent device).
 * Speeding is judged on the latest fix per look: a burst shorter than `everyMs` between two
 * looks is not seen (the ClickHouse view `fleetgate.gps_speeding` has every point).
 */
export const deviceAlerts = (opts: DeviceAlertOptions) => {
  const { sql, log, logger } = opts;
  const everyMs = opts.everyMs ?? 1_000;
  const ac = new AbortController();

  const raise = async (msgId: string, e: ReturnType<typeof newEvent>) => {
    await log.append(ALERT_DEVICES_SUBJECT, e, { msgId });
  };

  const look = async () => {
    const now = Date.now();
    const silentBefore = new Date(now - opts.offlineAfterMs);
    const limit = opts.speedLimitKmh;
    const rows = await sql<Row[]>`
      SELECT v.device_id, v.ts, v.speed, v.lat, v.lon, s.device_id IS NOT NULL AS known,
             s.offline_since, s.over_since, s.speeding_at
      FROM vehicle_positions v LEFT JOIN telegram_device_alerts s ON s.device_id = v.device_id
      WHERE s.device_id IS NULL
         OR (s.offline_since IS NULL AND v.ts < ${silentBefore})
         OR (s.offline_since IS NOT NULL AND v.ts > s.offline_since)
         OR (${limit} > 0 AND coalesce(v.speed, 0) > ${limit})
         OR s.over_since IS NOT NULL`;
    for (const r of rows) {
      const offline = r.ts < silentBefore;
      if (!r.known) {
        await sql`INSERT INTO telegram_device_alerts (device_id, offline_since) VALUES (${r.device_id}, ${offline ? r.ts : null})
          ON CONFLICT (device_id) DO NOTHING`;
        continue;
      }
      if (offline && r.offline_since === null) {
        const e = newEvent({
          type: ALERT_DEVICE_OFFLINE,
          subject: ALERT_DEVICES_SUBJECT,
          source: 'telegram/alerts',
          data: {
            deviceId: r.device_id,
            lastSeenAt: r.ts.toISOString(),
            offlineAfterSeconds: Math.round(opts.offlineAfterMs / 1_000),
          },
        });
        await raise(`alert:offline:${r.device_id}:${r.ts.getTime()}`, e);
        await sql`UPDATE telegram_device_alerts SET offline_since = ${r.ts}, over_since = NULL, speeding_at = NULL
          WHERE device_id = ${r.device_id} AND offline_since IS NULL`;
        continue;
      }
      if (r.offline_since !== null && r.ts > r.offline_since) {
        const e = newEvent({
          type: ALERT_DEVICE_ONLINE,
          subject: ALERT_DEVICES_SUBJECT,
          source: 'telegram/alerts',
          data: { deviceId: r.device_id, offlineSince: r.offline_since.toISOString(), seenAt: r.ts.toISOString() },
        });
        await raise(`alert:online:${r.device_id}:${r.offline_since.getTime()}`, e);
        await sql`UPDATE telegram_device_alerts SET offline_since = NULL
          WHERE device_id = ${r.device_id} AND offline_since = ${r.offline_since}`;
      }
      const over = limit > 0 && !offline && (r.speed ?? 0) > limit;
      if (!over) {
        if (r.over_since !== null)
          await sql`UPDATE telegram_device_alerts SET over_since = NULL, speeding_at = NULL, max_speed = NULL WHERE device_id = ${r.device_id}`;
        continue;
      }
      if (r.over_since === null) {
        await sql`UPDATE telegram_device_alerts SET over_since = ${r.ts}, max_speed = ${r.speed}
          WHERE device_id = ${r.device_id} AND over_since IS NULL`;
        if (opts.speedingMinMs > 0) continue;
      }
      const since = r.over_since ?? r.ts;
      if (r.speeding_at === null && r.ts.getTime() - since.getTime() >= opts.speedingMinMs) {
        const e = newEvent({
          type: ALERT_SPEEDING,
          subject: ALERT_DEVICES_SUBJECT,
          source: 'telegram/alerts',
          data: {
            deviceId: r.device_id,
            startedAt: since.toISOString(),
            seenAt: r.ts.toISOString(),
            speedKmh: r.speed ?? 0,
            limitKmh: limit,
            lat: r.lat,
            lon: r.lon,
          },
        });
        await raise(`alert:speeding:${r.device_id}:${since.getTime()}`, e);
        await sql`UPDATE telegram_device_alerts SET speeding_at = ${r.ts} WHERE device_id = ${r.device_id} AND speeding_at IS NULL`;
      }
    }
  };

  const running = (async () => {
    while (!ac.signal.aborted) {
      try {
        await look();
      } catch (err) {
        if (ac.signal.aborted) break;
        logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'device alert detector failed; retrying');
      }
      await sleep(everyMs, undefined, { signal: ac.signal }).catch(() => undefined);
    }
  })();
  return {
    async stop() {
      ac.abort();
      await running;
    },
  };
};
