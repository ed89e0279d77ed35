import type { WebSocket, WebSocketBehavior } from '../../core/http/uws.js';
import type { Logger } from '../../core/logger.js';
import { type ApiKeyStore, hasScope, presentedKey } from '../auth.js';
import { liveMetrics } from './metrics.js';
import { ALL, topicOf } from './presence.js';

export interface LiveSubscriber {
  /** The API key's id: its sockets are closed when the key is revoked (`keyWatch.ts`). */
  keyId: string;
  keyPrefix: string;
  /** null: every vehicle. */
  vehicles: Set<string> | null;
  /** Counts subscriptions: a snapshot still being sent for an earlier one stops. */
  subscription: number;
}

export interface LiveSocketOptions {
  keys: ApiKeyStore;
  logger: Logger;
  maxBufferedBytes: number;
  /** The open sockets; kept by the caller, which also drops stalled ones and closes them all. */
  sockets: Set<WebSocket<LiveSubscriber>>;
  /** Resolves once the GPS stream is being followed. */
  startFollowing(): Promise<void>;
  onLastClosed(): void;
  /** After `subscribed`: the subscribed vehicles' last known positions (`snapshot.ts`), while live ones already flow. */
  sendSnapshot(ws: WebSocket<LiveSubscriber>): void;
  /** uWS's backpressure drained for this socket. */
  onDrain(ws: WebSocket<LiveSubscriber>): void;
  /** Each socket's key is re-checked while it is open. */
  keyWatch: {
    track(keyId: string, ws: WebSocket<LiveSubscriber>): void;
    untrack(keyId: string, ws: WebSocket<LiveSubscriber>): void;
  };
}

const sendError = (ws: WebSocket<LiveSubscriber>, code: string, reason?: string) =>
  ws.send(JSON.stringify(reason === undefined ? { type: 'error', code } : { type: 'error', code, reason }));

/** `/v1/ws/live` for one subscriber: the API key at upgrade, then `{ "type": "subscribe", "vehicles": ... }`. */
export const liveSocket = (opts: LiveSocketOptions): WebSocketBehavior<LiveSubscriber> => ({
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
          res.upgrade<LiveSubscriber>(
            { keyId: principal.keyId, keyPrefix: principal.prefix, vehicles: new Set(), subscription: 0 },
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
    opts.sockets.add(ws);
    opts.keyWatch.track(ws.getUserData().keyId, ws);
    liveMetrics.subscribers.inc();
  },
  message: (ws, message) => {
    let msg: { type?: string; vehicles?: unknown };
    try {
      msg = JSON.parse(Buffer.from(message).toString('utf8'));
    } catch {
      sendError(ws, 'malformed_json');
      return;
    }
    if (msg.type !== 'subscribe') {
      sendError(ws, 'unknown_type', 'send { "type": "subscribe", "vehicles": "*" | ["id", ...] }');
      return;
    }
    const all = msg.vehicles === '*' || msg.vehicles === undefined;
    const list = Array.isArray(msg.vehicles)
      ? msg.vehicles.filter((v): v is string => typeof v === 'string').slice(0, 10_000)
      : [];
    if (!all && list.length === 0) {
      sendError(ws, 'invalid_field', 'vehicles must be "*" or a list of device ids');
      return;
    }
    const s = ws.getUserData();
    const subscription = ++s.subscription;
    // Following starts with the first subscription: "subscribed" means every later point arrives.
    opts.startFollowing().then(
      () => {
        if (!opts.sockets.has(ws)) return; // closed while the follower started: the socket is gone
        if (subscription !== s.subscription) return; // a later subscribe replaced this one
        for (const t of ws.getTopics()) ws.unsubscribe(t);
        s.vehicles = all ? null : new Set(list);
        if (all) ws.subscribe(ALL);
        else for (const v of list) ws.subscribe(topicOf(v));
        ws.send(JSON.stringify({ type: 'subscribed', vehicles: all ? '*' : list }));
        // Subscribed first, so no point falls between the snapshot's read and the live stream.
        opts.sendSnapshot(ws);
      },
      (err: unknown) => {
        opts.logger.error({ err }, 'live feed cannot follow the GPS stream');
        if (opts.sockets.has(ws)) sendError(ws, 'unavailable', 'the GPS stream cannot be read; retry');
      },
    );
  },
  drain: (ws) => opts.onDrain(ws),
  close: (ws) => {
    opts.sockets.delete(ws);
    opts.onDrain(ws);
    opts.keyWatch.untrack(ws.getUserData().keyId, ws);
    liveMetrics.subscribers.dec();
    if (opts.sockets.size === 0) opts.onLastClosed();
  },
});
