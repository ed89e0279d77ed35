import type { EventLog } from '../../core/eventlog/port.js';
import type { TemplatedApp, WebSocket } from '../../core/http/uws.js';
import type { Logger } from '../../core/logger.js';
import type { Sql } from '../../core/stores/postgres.js';
import type { ApiKeyStore } from '../auth.js';
import { gpsFollower } from './gpsFollower.js';
import { liveKeyWatch } from './keyWatch.js';
import { type LiveSubscriber, liveSocket } from './liveSocket.js';
import { bufferedSources, liveMetrics } from './metrics.js';
import { liveFanOut, vehiclePresence } from './presence.js';

export interface LiveFeedOptions {
  log: EventLog;
  sql: Sql;
  keys: ApiKeyStore;
  logger: Logger;
  offlineAfterMs: number;
  /** Unsent bytes a subscriber may have before it is dropped. */
  maxBufferedBytes: number;
  /** How often offline transitions are checked. */
  sweepMs?: number;
  /** How often the subscribers' API keys are re-checked (a revoked key's sockets are closed). */
  keyRecheckMs?: number;
}

/**
 * `/v1/ws/live`: CRM dashboards (API key with `vehicles`, as Bearer or `?key=`) subscribe to all
 * vehicles or a list and get each new position and online/offline transitions. Every process
 * follows the GPS stream itself (JetStream in the distributed mode), so a subscriber on any
 * process sees every vehicle's points; fan-out is uWS pub/sub, and a subscriber that does not
 * read is dropped at `maxBufferedBytes` instead of growing memory. The parts: `liveSocket.ts`
 * (one subscriber), `gpsFollower.ts` (following while someone watches), `presence.ts`
 * (positions, online/offline).
 */
export const mountLiveFeed = async (app: TemplatedApp, opts: LiveFeedOptions) => {
  const { logger } = opts;
  const sockets = new Set<WebSocket<LiveSubscriber>>();
  const presence = vehiclePresence(opts.offlineAfterMs, liveFanOut(app));
  const keyWatch = liveKeyWatch<WebSocket<LiveSubscriber>>({ sql: opts.sql, logger, intervalMs: opts.keyRecheckMs });

  const buffered = () => {
    let sum = 0;
    for (const ws of sockets) sum += ws.getBufferedAmount();
    return sum;
  };
  bufferedSources.add(buffered);
  const dropStalled = () => {
    for (const ws of sockets) {
      if (ws.getBufferedAmount() < opts.maxBufferedBytes) continue;
      // A reader this far behind cannot read a close frame either: close the connection outright.
      liveMetrics.dropped.inc();
      logger.info({ key: ws.getUserData().keyPrefix }, 'live subscriber dropped: it stopped reading');
      ws.close();
    }
  };

  const follower = gpsFollower({
    log: opts.log,
    sql: opts.sql,
    logger,
    presence,
    afterMessage: dropStalled,
    subscribers: () => sockets.size,
    lingerMs: opts.offlineAfterMs,
  });
  app.ws<LiveSubscriber>(
    '/v1/ws/live',
    liveSocket({
      keys: opts.keys,
      logger,
      maxBufferedBytes: opts.maxBufferedBytes,
      sockets,
      startFollowing: follower.start,
      onLastClosed: follower.scheduleStop,
      keyWatch,
    }),
  );

  const sweep = setInterval(presence.sweep, opts.sweepMs ?? 1_000);
  sweep.unref();

  return {
    /** Bytes the server holds for subscribers right now (uWS's backpressure, summed). */
    bufferedBytes: buffered,
    async close() {
      bufferedSources.delete(buffered);
      clearInterval(sweep);
      keyWatch.close();
      for (const ws of sockets) ws.end(1001, 'server shutting down');
      await follower.stop();
    },
  };
};
