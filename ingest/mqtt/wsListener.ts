import { createServer, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { clientAddressResolver, type TrustedProxies } from '../../core/http/clientAddress.js';
import { PortUnavailableError } from '../../schemas/errors.js';

/** The path MQTT-over-WebSocket clients connect to (mqtt.js, Paho and EMQX use the same). */
export const MQTT_WS_PATH = '/mqtt';

export interface MqttWsListener {
  port: number;
  /**
   * Stops accepting at once; resolves when every connection is gone. The broker closes those it
   * holds (after their last PUBACKs); what is left then (an unfinished handshake) is cut.
   */
  close(): Promise<void>;
  /** Drops every connection still open (after the broker closed its clients). */
  cut(): void;
}

/**
 * MQTT over WebSocket (MQTT 3.1.1 §6) on a port of its own, for clients that can only open
 * WebSockets (browsers, some trackers behind HTTP-only firewalls). Each connection becomes a byte
 * stream that the broker handles like a TCP socket: a WebSocket frame may carry part of an MQTT
 * packet or several, the broker's parser does not care. The stream carries the peer's address
 * (with TRUST_PROXY, the rightmost X-Forwarded-For entry no trusted proxy stands for), so per-address limits apply as on TCP. When the broker
 * stops reading the stream, `ws` stops reading the socket: TCP pushes back on the device as it
 * does on the TCP port.
 */
export const listenMqttOverWebSocket = async (opts: {
  port: number;
  host?: string;
  /** TRUST_PROXY: the proxies in front (a TLS terminator) whose X-Forwarded-For entries name the device. */
  trustProxy: TrustedProxies;
  /** The broker's packet limit; the frame scanner enforces it across WebSocket messages. */
  maxPacketBytes: number;
  onConnection(stream: Duplex & { remoteAddress?: string }, req: IncomingMessage): void;
  /** A WebSocket message over the limit: the connection was closed with 1009. */
  onOversize(): void;
  onError(err: Error): void;
}): Promise<MqttWsListener> => {
  const http = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end(`MQTT over WebSocket: connect with a WebSocket client to ${MQTT_WS_PATH} (subprotocol "mqtt")\n`);
  });
  const wss = new WebSocketServer({
    server: http,
    path: MQTT_WS_PATH,
    // A message may carry part of a packet or several (§6): one full packet plus 64 KiB of small
    // ones. The frame scanner applies the packet limit itself, whatever the framing.
    maxPayload: opts.maxPacketBytes + 5 + 65_536,
    perMessageDeflate: false,
    // MQTT 3.1.1 §6: "mqtt"; MQTT 3.1 clients offer "mqttv3.1". A client offering neither is still
    // served (some trackers send none) but is answered without a subprotocol.
    handleProtocols: (offered) => (offered.has('mqtt') ? 'mqtt' : offered.has('mqttv3.1') ? 'mqttv3.1' : false),
  });
  wss.on('error', opts.onError);
  const clientAddress = clientAddressResolver(opts.trustProxy);
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws) as Duplex & { remoteAddress?: string };
    // Node joins repeated X-Forwarded-For lines into one, in order.
    const forwarded = req.headers['x-forwarded-for'];
    stream.remoteAddress = clientAddress(
      req.socket.remoteAddress ?? 'unknown',
      Array.isArray(forwarded) ? forwarded.join(', ') : forwarded,
    );
    ws.on('error', (e: Error & { code?: string }) => {
      if (e.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') opts.onOversize();
    });
    // A stream error (a frame over maxPayload, a reset) closes it; the broker sees the close.
    stream.on('error', () => {});
    opts.onConnection(stream, req);
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(opts.port, opts.host, () => {
      http.off('error', reject);
      resolve();
    });
  }).catch((e: unknown) => {
    wss.close();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new PortUnavailableError('MQTT_WS_PORT', opts.port, { cause: e });
    }
    throw e;
  });
  http.on('error', opts.onError);
  const address = http.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        wss.close();
        http.close(() => resolve());
      }),
    cut: () => {
      for (const ws of wss.clients) ws.terminate();
      http.closeAllConnections();
    },
  };
};
