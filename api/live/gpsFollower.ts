import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import type { Sql } from '../../core/stores/postgres.js';
import { gpsEvents } from '../../schemas/events/gps.js';
import { liveMetrics } from './metrics.js';
import type { VehiclePresence } from './presence.js';

export interface GpsFollowerOptions {
  log: EventLog;
  sql: Sql;
  logger: Logger;
  presence: VehiclePresence;
  /** After each log message: drop subscribers that stopped reading. */
  afterMessage(): void;
  subscribers(): number;
  /** How long the follower outlives the last subscriber. */
  lingerMs: number;
}

/*
 * The GPS stream is followed only while someone is connected: with no dashboard open, decoding
 * every point (10,000/s) would be work for nobody. A follower starts from the tail, with each
 * vehicle's last report from `vehicle_positions`, so offline transitions are right from the start.
 */
export const gpsFollower = ({ log, sql, logger, presence, afterMessage, subscribers, lingerMs }: GpsFollowerOptions) => {
  let follower: { abort: AbortController; ready: Promise<void>; done: Promise<void> } | undefined;
  let stopTimer: NodeJS.Timeout | undefined;

  const follow = async (fromSeq: number, signal: AbortSignal) => {
    for await (const m of log.follow('GPS', { fromSeq, signal })) {
      for (const e of m.events) if (gpsEvents.is(e)) presence.reported(e.data);
      afterMessage();
    }
  };

  /** Resolves once following: "subscribed" means every later point arrives. */
  const start = (): Promise<void> => {
    clearTimeout(stopTimer);
    if (follower) return follower.ready;
    const abort = new AbortController();
    const from = Promise.all([log.lastSeq('GPS'), presence.seed(sql)]).then(([last]) => last + 1);
    const f = {
      abort,
      ready: from.then(() => undefined),
      done: from
        .then((fromSeq) => follow(fromSeq, abort.signal))
        .catch((err) => {
          if (!abort.signal.aborted) logger.error({ err }, 'live feed follower stopped');
        })
        .finally(() => {
          if (follower === f) follower = undefined;
          liveMetrics.following.dec();
          // Broken, not stopped (the log went away): subscribers are still there, so follow again from
          // the tail (a live feed: points in the gap are in the log and the read models, not replayed).
          if (!abort.signal.aborted && subscribers() > 0)
            setTimeout(() => subscribers() > 0 && !follower && start().catch(() => {}), 1_000).unref();
        }),
    };
    follower = f;
    liveMetrics.following.inc();
    return f.ready;
  };

  const stop = async () => {
    clearTimeout(stopTimer);
    const f = follower;
    if (!f) return;
    follower = undefined;
    f.abort.abort();
    // Before waiting: a follower started meanwhile seeds these afresh.
    presence.clear();
    await f.done;
  };

  /** The last one left: stop after GPS_OFFLINE_AFTER (a dashboard that reconnects finds the follower still there). */
  const scheduleStop = () => {
    clearTimeout(stopTimer);
    stopTimer = setTimeout(() => {
      if (subscribers() === 0) void stop();
    }, lingerMs);
    stopTimer.unref();
  };

  return { start, stop, scheduleStop };
};
