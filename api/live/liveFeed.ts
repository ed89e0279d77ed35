import type { EventLog } from '../../core/eventlog/port.js';
import type { TemplatedApp, WebSocket } from '../../core/http/uws.js';
import type { Logger } from '../../core/logger.js';
import type { Sql } from '../../core/stores/postgres.js';
import type { GpsReported } from '../../schemas/events/gps.js';
import { type ApiKeyStore, hasScope, presentedKey } from '../auth.js';
import { liveKeyWatch } from './keyWatch.js';
import { bufferedSources, liveMetrics } from './metrics.js';

interface Subscriber {
  keyId: string;
  keyPrefix: string;
  /** null: every vehicle. */
  vehicles: Set<string> | null;
}

/** Topics of uWS's own pub/sub: one per vehicle, plus one for "everything". */
const ALL = 'live/*';
const topicOf = (deviceId: string) => `live/${deviceId}`;

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
 * read is dropped at `maxBufferedBytes` instead of growing memory.
 */
export const mountLiveFeed = async (app: TemplatedApp, opts: LiveFeedOptions) => {
  const { log, logger } = opts;
  const lastSeen = new Map<string, number>();
  const offline = new Set<string>();
  const sockets = new Set<WebSocket<Subscriber>>();
  const keyWatch = liveKeyWatch<WebSocket<Subscriber>>({ sql: opts.sql, logger, intervalMs: opts.keyRecheckMs });

  const publish = (deviceId: string, message: object) => {
    const topic = topicOf(deviceId);
    const toAll = app.numSubscribers(ALL) > 0;
    const toOne = app.numSubscribers(topic) > 0;
    // Mostly nobody watches: skip the serialization for each of thousands of points a second.
    if (!toAll && !toOne) return;
    const text = JSON.stringify(message);
    if (toOne) app.publish(topic, text);
    if (toAll) app.publish(ALL, text);
  };

  app.ws<Subscriber>('/v1/ws/live', {
    maxPayloadLength: 16 * 1024,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    // Over the limit uWS skips the socket when publishing (memory stays bounded); dropStalled()
    // then closes it and counts it, which uWS's own closeOnBackpressureLimit would not tell us.
    maxBackpressure: opts.maxBufferedBytes,
    upgrade: (res, req, context) => {
      const headers = { authorization: req.getHeader('authorization') };
      const key = presentedKey(headers) ?? new URLSearchParams(req.getQuery() ?? '').get('key') ?? '';
      const wsKey = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const refuse = (status: string, code: string) => {
        if (!aborted)
          res.cork(() => res.writeStatus(status).writeHeader('content-type', 'application/json').end(JSON.stringify({ code })));
      };
      opts.keys.authenticate(key).then(
        (principal) => {
          if (aborted) return;
          if (!principal) return refuse('401 Unauthorized', 'GW_ERR_UNAUTHORIZED');
          if (!hasScope(principal, 'vehicles')) return refuse('403 Forbidden', 'GW_ERR_FORBIDDEN');
          res.cork(() =>
            res.upgrade<Subscriber>(
              { keyId: principal.keyId, keyPrefix: principal.prefix, vehicles: new Set() },
              wsKey,
              protocol,
              extensions,
              context,
            ),
          );
        },
        () => refuse('503 Service Unavailable', 'GW_ERR_INTERNAL'),
      );
    },
    open: (ws) => {
      sockets.add(ws);
      keyWatch.track(ws.getUserData().keyId, ws);
      liveMetrics.subscribers.inc();
    },
    message: (ws, message) => {
      let msg: { type?: string; vehicles?: unknown };
      try {
        msg = JSON.parse(Buffer.from(message).toString('utf8'));
      } catch {
        ws.send(JSON.stringify({ type: 'error', code: 'malformed_json' }));
        return;
      }
      if (msg.type !== 'subscribe') {
        ws.send(
          JSON.stringify({
            type: 'error',
            code: 'unknown_type',
            reason: 'send { "type": "subscribe", "vehicles": "*" | ["id", ...] }',
          }),
        );
        return;
      }
      const all = msg.vehicles === '*' || msg.vehicles === undefined;
      const list = Array.isArray(msg.vehicles)
        ? msg.vehicles.filter((v): v is string => typeof v === 'string').slice(0, 10_000)
        : [];
      if (!all && list.length === 0) {
        ws.send(JSON.stringify({ type: 'error', code: 'invalid_field', reason: 'vehicles must be "*" or a list of device ids' }));
        return;
      }
      const s = ws.getUserData();
      // Following starts with the first subscription: "subscribed" means every later point arrives.
      startFollowing().then(
        () => {
          if (!sockets.has(ws)) return; // closed while the follower started: the socket is gone
          for (const t of ws.getTopics()) ws.unsubscribe(t);
          s.vehicles = all ? null : new Set(list);
          if (all) ws.subscribe(ALL);
          else for (const v of list) ws.subscribe(topicOf(v));
          ws.send(JSON.stringify({ type: 'subscribed', vehicles: all ? '*' : list }));
        },
        (err: unknown) => {
          logger.error({ err }, 'live feed cannot follow the GPS stream');
          if (sockets.has(ws))
            ws.send(JSON.stringify({ type: 'error', code: 'unavailable', reason: 'the GPS stream cannot be read; retry' }));
        },
      );
    },
    close: (ws) => {
      sockets.delete(ws);
      keyWatch.untrack(ws.getUserData().keyId, ws);
      liveMetrics.subscribers.dec();
      if (sockets.size === 0) scheduleStop();
    },
  });

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

  /*
   * The GPS stream is followed only while someone is connected: with no dashboard open, decoding
   * every point (10,000/s) would be work for nobody. A follower starts from the tail, with each
   * vehicle's last report from `vehicle_positions`, so offline transitions are right from the start.
   */
  let follower: { abort: AbortController; ready: Promise<void>; done: Promise<void> } | undefined;
  let stopTimer: NodeJS.Timeout | undefined;

  const seed = async () => {
    const rows = await opts.sql<{ device_id: string; received_at: Date }[]>`
      SELECT device_id, received_at FROM vehicle_positions`;
    const now = Date.now();
    for (const r of rows) {
      const at = r.received_at.getTime();
      lastSeen.set(r.device_id, Math.max(lastSeen.get(r.device_id) ?? 0, at));
      if (now - at > opts.offlineAfterMs) offline.add(r.device_id);
    }
  };

  const follow = async (fromSeq: number, signal: AbortSignal) => {
    for await (const m of log.follow('GPS', { fromSeq, signal })) {
      for (const e of m.events) {
        const p = e.data as GpsReported;
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
        });
      }
      dropStalled();
    }
  };

  const startFollowing = (): Promise<void> => {
    clearTimeout(stopTimer);
    if (follower) return follower.ready;
    const abort = new AbortController();
    const from = Promise.all([log.lastSeq('GPS'), seed()]).then(([last]) => last + 1);
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
          if (!abort.signal.aborted && sockets.size > 0)
            setTimeout(() => sockets.size > 0 && !follower && startFollowing().catch(() => {}), 1_000).unref();
        }),
    };
    follower = f;
    liveMetrics.following.inc();
    return f.ready;
  };

  const stopFollowing = async () => {
    clearTimeout(stopTimer);
    const f = follower;
    if (!f) return;
    follower = undefined;
    f.abort.abort();
    // Before waiting: a follower started meanwhile seeds these afresh.
    lastSeen.clear();
    offline.clear();
    await f.done;
  };

  /** The last one left: stop after GPS_OFFLINE_AFTER (a dashboard that reconnects finds the follower still there). */
  const scheduleStop = () => {
    clearTimeout(stopTimer);
    stopTimer = setTimeout(() => {
      if (sockets.size === 0) void stopFollowing();
    }, opts.offlineAfterMs);
    stopTimer.unref();
  };

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [deviceId, at] of lastSeen) {
      if (!offline.has(deviceId) && now - at > opts.offlineAfterMs) {
        offline.add(deviceId);
        publish(deviceId, { type: 'status', deviceId, online: false, lastSeen: at });
      }
    }
  }, opts.sweepMs ?? 1_000);
  sweep.unref();

  return {
    /** Bytes the server holds for subscribers right now (uWS's backpressure, summed). */
    bufferedBytes: buffered,
    async close() {
      bufferedSources.delete(buffered);
      clearInterval(sweep);
      keyWatch.close();
      for (const ws of sockets) ws.end(1001, 'server shutting down');
      await stopFollowing();
    },
  };
};
