import type { Config } from '../../core/config.js';
import type { AuthenticatedDevice, DeviceRegistry } from '../../core/devices/registry.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { TemplatedApp, WebSocket } from '../../core/http/uws.js';
import type { Logger } from '../../core/logger.js';
import type { IntakeReadiness } from '../../core/readiness.js';
import { followDeviceChanges } from '../deviceRevocations.js';
import { gpsBatcher } from '../gps/batcher.js';
import { wsMetrics } from './metrics.js';
import { onDriverMessage } from './onMessage.js';

interface Session {
  deviceId: string;
  /** Messages in the current one-second window. */
  window: number;
  windowStart: number;
  open: boolean;
}

/** Seconds a phone is told to wait before it tries again while this process is not ready. */
export const NOT_READY_RETRY_AFTER_SECONDS = 5;

/** Close codes (RFC 6455 §7.4.1) and our own (4000–4999); `revoked`: the device was disabled or its token rotated. */
export const WS_CLOSE = { policy: 1008, tooBig: 1009, rateLimited: 4029, slowReader: 4008, revoked: 4401 } as const;

const tokenOf = (auth: string, query: string) => {
  const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
  return bearer ?? new URLSearchParams(query).get('token') ?? '';
};

/**
 * `/v1/ws/driver` on the HTTP server: a phone authenticates with its device token (Authorization:
 * Bearer or ?token=) at the upgrade, then sends `location`/`locations` messages and gets `ack`
 * after the append is durable, or `error` per refused point. uWS closes a message over the size
 * limit (1009) and an idle socket; a sender over the rate limit is closed (4029); a phone that
 * does not read its acks is closed once its unsent bytes pass the limit (4008) – nothing queues
 * without bound. Disabling the device or rotating its token (in any process, or the CLI: the
 * registry's audit events on the log) closes its sockets at once (4401).
 */
export const mountDriverSocket = (
  app: TemplatedApp,
  opts: {
    config: Pick<Config, 'ws' | 'gps'>;
    log: EventLog;
    devices: Pick<DeviceRegistry, 'byToken' | 'invalidate'>;
    logger: Logger;
    /** While it says no, upgrades get 503 with Retry-After. Default: always ready. */
    readiness?: IntakeReadiness;
  },
) => {
  const { config, logger } = opts;
  const batcher = gpsBatcher({
    log: opts.log,
    source: 'ws',
    maxPoints: config.gps.batchMaxPoints,
    maxMs: config.gps.batchMaxMs,
    maxInFlight: config.gps.appendsInFlight,
    maxPending: 4 * Math.max(config.gps.batchMaxPoints, config.gps.maxPointsPerMessage),
  });
  const sockets = new Set<WebSocket<Session>>();
  const revocations = followDeviceChanges({
    log: opts.log,
    logger,
    onChange: ({ deviceId, type, revoking }) => {
      // The registry's cache would accept the old token on a reconnect until it expires.
      opts.devices.invalidate(deviceId);
      if (!revoking) return;
      let closed = 0;
      for (const ws of sockets) {
        if (ws.getUserData().deviceId !== deviceId) continue;
        ws.end(WS_CLOSE.revoked, type === 'device.disabled' ? 'device disabled' : 'token rotated');
        closed++;
      }
      if (closed) logger.info({ deviceId, reason: type, closed }, 'driver sockets closed');
    },
  });
  app.ws<Session>('/v1/ws/driver', {
    // uWS drops a socket over maxPayloadLength without a close frame (the phone sees 1006); up to
    // twice the limit we read it and close with 1009, which tells the app why.
    maxPayloadLength: 2 * config.ws.maxMessageBytes,
    idleTimeout: config.ws.idleTimeoutSeconds,
    maxBackpressure: config.ws.maxBufferedBytes,
    closeOnBackpressureLimit: 1,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const token = tokenOf(req.getHeader('authorization'), req.getQuery() ?? '');
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      const refuse = (status: string, reason: string, retryAfterSeconds?: number) => {
        wsMetrics.refused.inc({ reason });
        if (!aborted)
          res.cork(() => {
            res.writeStatus(status).writeHeader('content-type', 'application/json');
            if (retryAfterSeconds !== undefined) res.writeHeader('retry-after', String(retryAfterSeconds));
            res.end(JSON.stringify({ code: reason }));
          });
      };
      // Not ready (the log or Postgres is away): refuse before the socket opens, so the phone keeps
      // its points and retries (through the balancer, maybe to a process that is ready).
      if (opts.readiness && !opts.readiness.ready()) {
        return refuse('503 Service Unavailable', 'not_ready', NOT_READY_RETRY_AFTER_SECONDS);
      }
      if (!token) return refuse('401 Unauthorized', 'no_token');
      opts.devices.byToken(token).then(
        (device: AuthenticatedDevice | undefined) => {
          if (aborted) return;
          if (!device) return refuse('401 Unauthorized', 'bad_token');
          res.cork(() =>
            res.upgrade<Session>(
              { deviceId: device.id, window: 0, windowStart: 0, open: true },
              key,
              protocol,
              extensions,
              context,
            ),
          );
        },
        (err: unknown) => {
          logger.error({ err }, 'driver token lookup failed');
          refuse('503 Service Unavailable', 'registry_unavailable');
        },
      );
    },
    open: (ws) => {
      sockets.add(ws);
      wsMetrics.connections.inc();
    },
    message: (ws, message) => {
      const s = ws.getUserData();
      if (message.byteLength > config.ws.maxMessageBytes) {
        wsMetrics.refused.inc({ reason: 'message_too_large' });
        ws.end(WS_CLOSE.tooBig, `messages are limited to ${config.ws.maxMessageBytes} bytes`);
        return;
      }
      const now = Date.now();
      if (now - s.windowStart >= 1000) {
        s.windowStart = now;
        s.window = 0;
      }
      if (++s.window > config.ws.maxMessagesPerSecond) {
        wsMetrics.refused.inc({ reason: 'rate_limited' });
        ws.end(WS_CLOSE.rateLimited, 'rate limited');
        return;
      }
      const bytes = Buffer.from(message.slice(0)); // uWS neuters the ArrayBuffer after this callback
      onDriverMessage({ deviceId: s.deviceId }, bytes, {
        append: (events) => batcher.add(events),
        context: (deviceId) => ({
          deviceId,
          source: 'ws',
          now: Date.now(),
          maxFutureMs: config.gps.maxFutureMs,
          maxPoints: config.gps.maxPointsPerMessage,
        }),
      }).then(
        (replies) => {
          if (!s.open) return; // closed meanwhile: the points may be stored, the phone resends (same ids)
          ws.cork(() => {
            for (const r of replies) {
              if (r.type === 'error') wsMetrics.refused.inc({ reason: r.code });
              if (ws.send(JSON.stringify(r)) === 2) break; // dropped: closeOnBackpressureLimit closes it
            }
          });
        },
        (err: unknown) => logger.error({ err, deviceId: s.deviceId }, 'driver message failed'),
      );
    },
    close: (ws) => {
      ws.getUserData().open = false;
      sockets.delete(ws);
      wsMetrics.connections.dec();
    },
  });
  return {
    async close() {
      await revocations.close();
      for (const ws of sockets) ws.end(1001, 'server shutting down');
      await batcher.close();
    },
  };
};
