import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Config } from '../../core/config.js';
import type { AuthenticatedDevice, DeviceRegistry } from '../../core/devices/registry.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { PortUnavailableError } from '../../schemas/errors.js';
import { GpsIntakeOverloadedError, gpsBatcher, gpsEvent } from '../gps/batcher.js';
import { gpsMetrics } from '../gps/metrics.js';
import { parsePoints, type Refusal } from '../gps/parsePoints.js';
import { type MqttRefusal, mqttMetrics } from './metrics.js';
import { guardSocket, readGate } from './socketGuard.js';
import { listenMqttOverWebSocket, type MqttWsListener } from './wsListener.js';

export const locationTopic = (deviceId: string) => `v1/devices/${deviceId}/location`;
export const commandsTopic = (deviceId: string) => `v1/devices/${deviceId}/commands`;
export const errorsTopic = (deviceId: string) => `v1/devices/${deviceId}/errors`;

/** Our topics have 4 levels; Aedes' own ceiling (100) only protects its router. */
const MAX_TOPIC_LEVELS = 8;
/** CONNECT carries id, credentials and an optional will: nothing a device needs more for. */
const MAX_CONNECT_BYTES = 16_384;
/** Error reports per PUBLISH; the counter still counts every refused point. */
const MAX_ERROR_REPORTS = 16;
/**
 * Error-report bytes handed to a client's socket and not yet flushed to the kernel. A device that
 * stops reading while it keeps sending bad points would otherwise make this process buffer ~45×
 * what it sends (16 reports for a 40-byte message) until `drainTimeout` drops it: 18 MB in under
 * 2 s from one client in test T16. Reports are QoS 0, so beyond this they are dropped (counted).
 */
const MAX_ERROR_BACKLOG_BYTES = 1_048_576;

export interface MqttIngestOptions {
  config: Pick<Config, 'mqtt' | 'gps' | 'api'>;
  log: EventLog;
  devices: Pick<DeviceRegistry, 'authenticate'>;
  logger: Logger;
  /** Default `config.mqtt.port`; 0 picks a free one. */
  port?: number;
  /** MQTT over WebSocket; default `config.mqtt.wsPort` (unset: off); 0 picks a free one. */
  wsPort?: number;
  /** Default: every interface (devices connect from outside). */
  host?: string;
  /** Points waiting for the log before sockets stop being read. Default 4 × the larger of batch and message size. */
  maxPendingPoints?: number;
  connectTimeoutMs?: number;
  /** A subscriber whose socket does not drain within this is dropped (T16). */
  drainTimeoutMs?: number;
  now?: () => number;
}

export interface MqttIngest {
  port: number;
  /** Where MQTT over WebSocket listens, when it does. */
  wsPort: number | undefined;
  broker: Aedes;
  /** The device a connected client authenticated as (its client id may be scoped, see `authenticate`). */
  deviceIdOf(client: Client): string | undefined;
  close(): Promise<void>;
}

/** An error that tells Aedes to drop the connection, already counted under `reason`. */
class MqttRefused extends Error {
  constructor(
    readonly reason: MqttRefusal,
    message: string,
  ) {
    super(message);
  }
}

const refused = (reason: MqttRefusal, message: string) => {
  mqttMetrics.refusals.inc({ reason });
  return new MqttRefused(reason, message);
};

/** Aedes reports its own protocol errors by message only. */
const errorKind = (e: Error & { code?: string }): string => {
  if (e instanceof MqttRefused) return 'refused';
  const m = e.message;
  if (m.includes('keep alive timeout')) return 'keepalive_timeout';
  if (m.includes('connect did not arrive')) return 'connect_timeout';
  if (m.includes('drain timeout')) return 'drain_timeout';
  if (m.includes('too many levels')) return 'topic_too_deep';
  if (/not allowed in PUBLISH|empty topic|only allowed in/.test(m)) return 'invalid_topic';
  if (e.code === 'ECONNRESET' || e.code === 'EPIPE') return 'reset';
  return 'other';
};

/**
 * The MQTT intake: Aedes on plain TCP, devices authenticated by the registry, positions appended
 * to the GPS stream before the PUBACK (Aedes writes it right after `authorizePublish` calls back,
 * lib/handlers/publish.js), nothing routed through Aedes' own fan-out.
 */
export const startMqttIngest = async (opts: MqttIngestOptions): Promise<MqttIngest> => {
  const { config, log, devices, logger } = opts;
  const now = opts.now ?? Date.now;
  const gate = readGate();
  let closing = false;
  const batcher = gpsBatcher({
    log,
    source: 'mqtt',
    maxPoints: config.gps.batchMaxPoints,
    maxMs: config.gps.batchMaxMs,
    maxInFlight: config.gps.appendsInFlight,
    maxPending: opts.maxPendingPoints ?? 4 * Math.max(config.gps.batchMaxPoints, config.gps.maxPointsPerMessage),
    onPressure: (saturated) => {
      logger.warn(
        { saturated, pending: batcher.pending },
        saturated ? 'GPS intake saturated: sockets paused' : 'GPS intake drained',
      );
      if (saturated) gate.close();
      else if (!closing) setImmediate(() => !closing && gate.reopen()); // not inside the batcher's own call
    },
    onAppendError: (err, points) => logger.error({ err, points }, 'GPS append failed'),
  });
  const limiter =
    config.mqtt.connectsPerIpPerMinute > 0
      ? new RateLimiterMemory({ points: config.mqtt.connectsPerIpPerMinute, duration: 60 })
      : undefined;
  const deviceOf = new WeakMap<Client, AuthenticatedDevice>();
  const errorSubscribers = new WeakSet<Client>();
  /** Bytes of error reports per client written to its socket and not yet flushed (MAX_ERROR_BACKLOG_BYTES). */
  const errorBacklog = new WeakMap<Client, number>();
  let reportCounter = 0;
  /** Location packets already appended: Aedes' publish pipeline must skip them. */
  const consumed = new WeakSet<object>();

  const reportRefusals = (client: Client, device: AuthenticatedDevice, refusals: readonly Refusal[]) => {
    // Only to a client that subscribed: firmware that never asked may choke on an unexpected PUBLISH.
    if (!errorSubscribers.has(client)) return;
    const reports = refusals.slice(0, MAX_ERROR_REPORTS);
    let backlog = errorBacklog.get(client) ?? 0;
    if (backlog > MAX_ERROR_BACKLOG_BYTES) {
      mqttMetrics.errorReportsDropped.inc(reports.length);
      return;
    }
    for (const r of reports) {
      const payload = Buffer.from(JSON.stringify({ reason: r.reason, index: r.index, id: r.pointId ?? null, detail: r.detail }));
      // Aedes calls back once the bytes are with the kernel, or after the socket drained (or was dropped).
      const size = payload.length + errorsTopic(device.id).length + 4;
      backlog += size;
      // Aedes drops a packet for a client that already got one with a higher (brokerId, brokerCounter)
      // (its dedupe). A QoS 1 command to a persistent session waits for the session store before
      // that check, so a report created after it but written first made Aedes drop the command and
      // call back as if it was sent (downlink recorded it delivered). Reports count on their own.
      const report = { cmd: 'publish', topic: errorsTopic(device.id), payload, qos: 0, retain: false, dup: false } as const;
      client.publish(Object.assign(report, { brokerId: `${broker.id}/errors`, brokerCounter: ++reportCounter }), () =>
        errorBacklog.set(client, (errorBacklog.get(client) ?? size) - size),
      );
    }
    errorBacklog.set(client, backlog);
  };

  const onPublish = async (client: Client | null, packet: PublishPacket) => {
    const device = client ? deviceOf.get(client) : undefined;
    if (!client || !device || packet.topic !== locationTopic(device.id)) {
      throw refused('publish_forbidden', `publish to "${packet.topic.slice(0, 120)}" is not allowed`);
    }
    const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    if (payload.length > config.mqtt.maxPacketBytes) {
      throw refused('packet_too_large', `payload of ${payload.length} bytes exceeds ${config.mqtt.maxPacketBytes}`);
    }
    consumed.add(packet);
    const parsed = parsePoints(payload, {
      deviceId: device.id,
      source: 'mqtt',
      now: now(),
      maxFutureMs: config.gps.maxFutureMs,
      maxPoints: config.gps.maxPointsPerMessage,
    });
    for (const r of parsed.refused) gpsMetrics.pointsRefused.inc({ source: 'mqtt', reason: r.reason });
    if (parsed.refused.length > 0) reportRefusals(client, device, parsed.refused);
    if (parsed.accepted.length === 0) return;
    gpsMetrics.pointsAccepted.inc({ source: 'mqtt' }, parsed.accepted.length);
    const appended = batcher.add(parsed.accepted.map(gpsEvent));
    if (packet.qos === 0) {
      appended.catch(() => mqttMetrics.qos0Lost.inc(parsed.accepted.length));
      return;
    }
    try {
      await appended;
    } catch (e) {
      throw refused(
        e instanceof GpsIntakeOverloadedError ? 'overloaded' : 'log_unavailable',
        `points not appended: ${(e as Error).message}`,
      );
    }
  };

  const broker = await Aedes.createBroker({
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    drainTimeout: opts.drainTimeoutMs ?? 10_000,
    maxTopicLevels: MAX_TOPIC_LEVELS,
    // QoS 2 is taken like QoS 1 (the append precedes PUBREC); Aedes keeps each until PUBREL, so
    // few per client: 16 × MQTT_MAX_PACKET_BYTES at most.
    maxInflightInbound: 16,

    preConnect(client, packet, callback) {
      if (packet.protocolVersion === 5) mqttMetrics.refusals.inc({ reason: 'protocol_unsupported' }); // Aedes sends CONNACK rc 1
      // 3.1.1 has no server keep-alive: lower the client's (the packet may be modified here), so a
      // silent half-open socket is dropped after 1.5 × the cap instead of never (keep-alive 0).
      const max = config.mqtt.keepaliveMaxSeconds;
      if (!packet.keepalive || packet.keepalive > max) {
        packet.keepalive = max;
        mqttMetrics.keepaliveCapped.inc();
      }
      if (!limiter) return callback(null, true);
      // A TCP socket, or the byte stream of a WebSocket (wsListener.ts gives it the peer's address).
      const address = (client.conn as { remoteAddress?: string }).remoteAddress ?? 'unknown';
      limiter.consume(address).then(
        () => callback(null, true),
        // An error (not just `false`) makes Aedes close the socket; false alone leaves it open.
        () => callback(refused('rate_limited', `too many connects from ${address}`), false),
      );
    },

    authenticate(client, username, password, callback) {
      const id = username ?? '';
      devices.authenticate(id, password?.toString() ?? '').then(
        (device) => {
          if (!device) {
            const err = Object.assign(refused('bad_credentials', `device "${id.slice(0, 64)}" refused`), {
              returnCode: 4 as const,
            });
            return callback(err, false);
          }
          deviceOf.set(client, device);
          // A client id is a session key and Aedes closes the older holder of an id: scope a foreign
          // id under the device's own ('/' never occurs in a device id), so no device can take over
          // another's session without its token.
          if (client.id !== device.id) (client as { id: string }).id = `${device.id}/${client.id}`;
          callback(null, true);
        },
        (e: unknown) => {
          logger.error({ err: e }, 'device registry unavailable');
          callback(Object.assign(new Error('registry unavailable'), { returnCode: 3 as const }), false);
        },
      );
    },

    authorizePublish(client, packet, callback) {
      onPublish(client, packet).then(() => callback(null), callback);
    },

    authorizeSubscribe(client, sub: Subscription, callback) {
      const device = deviceOf.get(client);
      if (device && sub.topic === errorsTopic(device.id)) errorSubscribers.add(client);
      if (device && (sub.topic === commandsTopic(device.id) || sub.topic === errorsTopic(device.id))) {
        return callback(null, sub);
      }
      mqttMetrics.refusals.inc({ reason: 'subscribe_forbidden' });
      callback(null, null); // SUBACK 0x80 for this filter; the connection stays
    },

    authorizeForward(client, packet) {
      const device = deviceOf.get(client);
      return device && (packet.topic === commandsTopic(device.id) || packet.topic === errorsTopic(device.id)) ? packet : null;
    },
  });

  // Positions never take Aedes' route (retained store, offline queue, mqemitter): they are in the
  // log already, and its fan-out does not keep up at volume (issue #4).
  // The typings know only publish(packet, cb); the JS also takes the publishing client in between.
  type PublishFn = (p: PublishPacket, c: Client | null, done?: (e?: Error) => void) => void;
  const publish = broker.publish.bind(broker) as unknown as PublishFn;
  (broker as unknown as { publish: PublishFn }).publish = (packet, client, done) => {
    if (consumed.has(packet)) return done?.();
    publish(packet, client, done);
  };

  // The typings leave the persistence out (default: aedes-persistence, in memory).
  const incomingStore = (broker as unknown as { persistence: { cleanIncoming?(c: Client): Promise<void> } }).persistence;
  broker.on('client', () => mqttMetrics.connections.inc());
  broker.on('clientDisconnect', (client) => {
    mqttMetrics.connections.dec();
    // Aedes keeps a persistent session's inbound QoS 2 packets (up to maxInflightInbound, payloads
    // included) until PUBREL, also after the connection is gone; a device opening persistent
    // sessions under fresh client ids would grow that store without bound (T15). We need none of
    // it: the points were appended before PUBREC, a resend is deduplicated by event id, and Aedes
    // answers PUBREL with PUBCOMP whether the packet is still stored or not.
    if (!client.clean) incomingStore.cleanIncoming?.(client).catch(() => {});
  });
  broker.on('unsubscribe', (topics, client) => {
    const device = deviceOf.get(client);
    if (device && topics.includes(errorsTopic(device.id))) errorSubscribers.delete(client);
  });
  // Aedes reports an error once per pending write of a dropped client (drain timeout: thousands).
  const errored = new WeakSet<Client>();
  const onError = (client: Client | null, err: Error) => {
    if (client) {
      if (errored.has(client)) return;
      errored.add(client);
    }
    const kind = errorKind(err);
    mqttMetrics.clientErrors.inc({ kind });
    logger.debug({ clientId: client?.id ?? null, kind, err: err.message }, 'mqtt connection closed on error');
  };
  broker.on('clientError', onError);
  broker.on('connectionError', onError);

  const frameLimits = {
    maxPacketBytes: config.mqtt.maxPacketBytes,
    maxConnectBytes: Math.min(MAX_CONNECT_BYTES, config.mqtt.maxPacketBytes),
  };
  /** TCP sockets and WebSocket byte streams alike: frame limits, the read gate, then Aedes. */
  const accept = (conn: Duplex & { remoteAddress?: string }, req?: IncomingMessage) => {
    guardSocket(conn, frameLimits, gate, (v, detail) => {
      mqttMetrics.refusals.inc({ reason: v });
      logger.debug({ remote: conn.remoteAddress, violation: v, detail }, 'mqtt connection dropped');
    });
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
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      throw new PortUnavailableError('MQTT_PORT', opts.port ?? config.mqtt.port, { cause: e, hint: 'another broker?' });
    }
    throw e;
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const wsPort = opts.wsPort ?? config.mqtt.wsPort;
  let ws: MqttWsListener | undefined;
  if (wsPort !== undefined) {
    ws = await listenMqttOverWebSocket({
      port: wsPort,
      host: opts.host,
      trustProxy: config.api.trustProxy,
      maxPacketBytes: config.mqtt.maxPacketBytes,
      onConnection: accept,
      onOversize: () => mqttMetrics.refusals.inc({ reason: 'packet_too_large' }),
      onError: (err) => logger.error({ err }, 'mqtt websocket server error'),
    }).catch(async (e: unknown) => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      throw e;
    });
  }
  logger.info({ port, wsPort: ws?.port, maxPacketBytes: config.mqtt.maxPacketBytes }, 'mqtt ingest listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    wsPort: ws?.port,
    broker,
    deviceIdOf: (client) => deviceOf.get(client)?.id,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        gate.close();
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        const wsClosed = ws?.close();
        await batcher.close(); // what was read gets appended and PUBACKed
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        ws?.cut();
        await serverClosed;
        await wsClosed;
      })()),
  };
};
