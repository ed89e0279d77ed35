import { Aedes, type Client } from 'aedes';
import type { Config } from '../../core/config.js';
import type { DeviceRegistry } from '../../core/devices/registry.js';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import type { IntakeReadiness } from '../../core/readiness.js';
import { deviceAccess } from './access.js';
import { watchConnections } from './connectionEvents.js';
import { errorReporter } from './errorReports.js';
import { listenMqtt } from './listeners.js';
import { locationIntake } from './locationIntake.js';
import { readGate } from './socketGuard.js';

export { commandsTopic, errorsTopic, locationTopic } from './topics.js';

/** Our topics have 4 levels; Aedes' own ceiling (100) only protects its router. */
const MAX_TOPIC_LEVELS = 8;

export interface MqttIngestOptions {
  config: Pick<Config, 'mqtt' | 'gps' | 'api'>;
  log: EventLog;
  devices: Pick<DeviceRegistry, 'authenticate'>;
  logger: Logger;
  /** While it says no, CONNECT is answered "server unavailable" (CONNACK 3). Default: always ready. */
  readiness?: IntakeReadiness;
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

/**
 * The MQTT intake: Aedes on plain TCP, devices authenticated by the registry, positions appended
 * to the GPS stream before the PUBACK (Aedes writes it right after `authorizePublish` calls back,
 * lib/handlers/publish.js), nothing routed through Aedes' own fan-out. The parts: `access.ts`
 * (connect limits, authentication, ACL), `locationIntake.ts` (the publish path),
 * `errorReports.ts` (refused points back to the device), `listeners.ts` (TCP and WebSocket).
 */
export const startMqttIngest = async (opts: MqttIngestOptions): Promise<MqttIngest> => {
  const { config, logger } = opts;
  const gate = readGate();
  let closing = false;
  let broker: Aedes | undefined;
  const reporter = errorReporter(() => broker?.id ?? '');
  const access = deviceAccess({ config, devices: opts.devices, logger, reporter, readiness: opts.readiness });
  const intake = locationIntake({
    config,
    log: opts.log,
    logger,
    now: opts.now ?? Date.now,
    gate,
    isClosing: () => closing,
    deviceOf: access.deviceOf,
    reporter,
    maxPendingPoints: opts.maxPendingPoints,
  });

  const aedes = await Aedes.createBroker({
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    drainTimeout: opts.drainTimeoutMs ?? 10_000,
    maxTopicLevels: MAX_TOPIC_LEVELS,
    // QoS 2 is taken like QoS 1 (the append precedes PUBREC); Aedes keeps each until PUBREL, so
    // few per client: 16 × MQTT_MAX_PACKET_BYTES at most.
    maxInflightInbound: 16,
    ...access.hooks,
    authorizePublish(client, packet, callback) {
      intake.onPublish(client, packet).then(() => callback(null), callback);
    },
  });
  broker = aedes;
  intake.bypassFanOut(aedes);
  watchConnections(aedes, logger, access.deviceOf, reporter);

  const { server, port, ws } = await listenMqtt({
    config,
    broker: aedes,
    gate,
    logger,
    port: opts.port,
    wsPort: opts.wsPort,
    host: opts.host,
  });
  logger.info({ port, wsPort: ws?.port, maxPacketBytes: config.mqtt.maxPacketBytes }, 'mqtt ingest listening');

  let closed: Promise<void> | undefined;
  return {
    port,
    wsPort: ws?.port,
    broker: aedes,
    deviceIdOf: (client) => access.deviceOf(client)?.id,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        gate.close();
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        const wsClosed = ws?.close();
        await intake.close(); // what was read gets appended and PUBACKed
        await new Promise((resolve) => setImmediate(resolve));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        ws?.cut();
        await serverClosed;
        await wsClosed;
      })()),
  };
};
