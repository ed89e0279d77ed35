import type { EventLog } from '../../core/eventlog/port.js';
import type { TemplatedApp, WebSocket } from '../../core/http/uws.js';
import type { Logger } from '../../core/logger.js';
import { vehicleLabelCache } from '../../core/records/vehicleLabel.js';
import type { Sql } from '../../core/stores/postgres.js';
import type { ApiKeyStore } from '../auth.js';
import { gpsFollower } from './gpsFollower.js';
import { liveKeyWatch } from './keyWatch.js';
import { type LiveSubscriber, liveSocket } from './liveSocket.js';
import { bufferedSources, liveMetrics } from './metrics.js';
import { liveFanOut, vehiclePresence } from './presence.js';
import { sendSnapshot } from './snapshot.js';

/** How long a snapshot waits for a socket's buffer to drain before it looks again (uWS's drain event usually comes first). */
const ROOM_POLL_MS = 50;

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
 * read is dropped at `maxBufferedBytes` instead of growing memory. On subscribing it first gets the
 * vehicles' last known positions. The parts: `liveSocket.ts` (one subscriber), `gpsFollower.ts`
 * (following while someone watches), `presence.ts` (positions, online/offline), `snapshot.ts`
 * (last known positions, paced by the socket's drain).
 */
export const mountLiveFeed = async (app: TemplatedApp, opts: LiveFeedOptions) => {
  const { logger } = opts;
  const sockets = new Set<WebSocket<LiveSubscriber>>();
  const labels = vehicleLabelCache(opts.sql);
  const presence = vehiclePresence(opts.offlineAfterMs, liveFanOut(app), labels.labelOf);
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

  // A snapshot message is at most a quarter of the drop limit and waits for the socket to hold no
  // more than that: a snapshot alone never gets a subscriber dropped.
  const chunkBytes = Math.max(1024, Math.min(64 * 1024, Math.floor(opts.maxBufferedBytes / 4)));
  const drained = new Map<WebSocket<LiveSubscriber>, () => void>();
  const room = async (ws: WebSocket<LiveSubscriber>, bytes: number) => {
    while (sockets.has(ws) && ws.getBufferedAmount() > bytes) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ROOM_POLL_MS);
        drained.set(ws, () => {
          clearTimeout(timer);
          resolve();
        });
      });
      drained.delete(ws);
    }
  };
  const snapshot = (ws: WebSocket<LiveSubscriber>) => {
    const s = ws.getUserData();
    const subscription = s.subscription;
    const current = () => sockets.has(ws) && s.subscription === subscription;
    sendSnapshot(
      { current, send: (text) => ws.send(text), room: (bytes) => room(ws, bytes) },
      { sql: opts.sql, vehicles: s.vehicles, offlineAfterMs: opts.offlineAfterMs, chunkBytes, labels: labels.load },
    ).then(
      (sent) => {
        if (sent !== null) liveMetrics.snapshotPositions.inc(sent);
      },
      (err: unknown) => {
        logger.warn({ err }, 'live feed: last known positions could not be read');
        if (current())
          ws.send(
            JSON.stringify({
              type: 'error',
              code: 'unavailable',
              reason: 'last known positions cannot be read; live ones follow',
            }),
          );
      },
    );
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
      sendSnapshot: snapshot,
      onDrain: (ws) => drained.get(ws)?.(),
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
