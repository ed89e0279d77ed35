import type { IncomingMessage } from 'node:http';
import { createServer, type Server } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Aedes } from 'aedes';
import type { Config } from '../../core/config.js';
import type { Logger } from '../../core/logger.js';
import { PortUnavailableError } from '../../schemas/errors.js';
import { mqttMetrics } from './metrics.js';
import { guardSocket, type readGate, WS_READ_CHUNK_BYTES } from './socketGuard.js';
import { listenMqttOverWebSocket, type MqttWsListener } from './wsListener.js';

/** CONNECT carries id, credentials and an optional will: nothing a device needs more for. */
const MAX_CONNECT_BYTES = 16_384;

export interface MqttListenersOptions {
  config: Pick<Config, 'mqtt' | 'api'>;
  broker: Aedes;
  gate: ReturnType<typeof readGate>;
  logger: Logger;
  port: number | undefined;
  wsPort: number | undefined;
  host: string | undefined;
}

const closeBroker = (broker: Aedes) => new Promise<void>((resolve) => broker.close(() => resolve()));

/**
 * Plain TCP, and MQTT over WebSocket when asked for. Each connection passes the frame limits and
 * the read gate before Aedes sees it. On a failure to listen, the broker is closed.
 */
export const listenMqtt = async (opts: MqttListenersOptions): Promise<{ server: Server; port: number; ws?: MqttWsListener }> => {
  const { config, broker, gate, logger } = opts;
  const frameLimits = {
    maxPacketBytes: config.mqtt.maxPacketBytes,
    maxConnectBytes: Math.min(MAX_CONNECT_BYTES, config.mqtt.maxPacketBytes),
  };
  /** TCP sockets and WebSocket byte streams alike: frame limits, the read gate, then Aedes. */
  const accept = (conn: Duplex & { remoteAddress?: string }, req?: IncomingMessage) => {
    guardSocket(
      conn,
      frameLimits,
      gate,
      (v, detail) => {
        mqttMetrics.refusals.inc({ reason: v });
        logger.debug({ remote: conn.remoteAddress, violation: v, detail }, 'mqtt connection dropped');
      },
      // Only WebSocket streams (they come with their upgrade request) push past their buffer limit.
      req ? WS_READ_CHUNK_BYTES : undefined,
    );
    broker.handle(conn, req);
  };
  const server = createServer({ noDelay: true }, (socket) => accept(socket));
  server.on('error', (err) => logger.error({ err }, 'mqtt server error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? config.mqtt.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (e: unknown) => {
    await closeBroker(broker);
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new PortUnavailableError('MQTT_PORT', opts.port ?? config.mqtt.port, { cause: e, hint: 'another broker?' });
    }
    throw e;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const wsPort = opts.wsPort ?? config.mqtt.wsPort;
  if (wsPort === undefined) return { server, port };
  const ws = await listenMqttOverWebSocket({
    port: wsPort,
    host: opts.host,
    trustProxy: config.api.trustProxy,
    maxPacketBytes: config.mqtt.maxPacketBytes,
    onConnection: accept,
    onOversize: () => mqttMetrics.refusals.inc({ reason: 'packet_too_large' }),
    onError: (err) => logger.error({ err }, 'mqtt websocket server error'),
  }).catch(async (e: unknown) => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await closeBroker(broker);
    throw e;
  });
  return { server, port, ws };
};
