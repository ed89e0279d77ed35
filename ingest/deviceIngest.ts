import { hostname } from 'node:os';
import type { Config } from '../core/config.js';
import type { DeviceRegistry } from '../core/devices/registry.js';
import type { EventLog } from '../core/eventlog/port.js';
import type { Logger } from '../core/logger.js';
import type { IntakeReadiness } from '../core/readiness.js';
import type { Sql } from '../core/stores/postgres.js';
import { PortUnavailableError } from '../schemas/errors.js';
import { startMqttIngest } from './mqtt/broker.js';
import { startDownlink } from './mqtt/downlink.js';
import { startRevocation } from './mqtt/revocation.js';
import { startOsmandIngest } from './osmand/server.js';

export interface DeviceIngest {
  /** Where MQTT listens, when it runs. */
  mqttPort: number | undefined;
  osmandPort: number | undefined;
  close(): Promise<void>;
}

/**
 * The `ingest` role's device-facing servers: MQTT (with downlink and revocation) and OsmAnd. The
 * same code runs on the main thread or in the ingest worker (`ingest/worker/`).
 */
export const startDeviceIngest = async (deps: {
  config: Config;
  log: EventLog;
  sql: Sql;
  devices: DeviceRegistry;
  logger: Logger;
  /** While it says no, devices are refused at CONNECT ("server unavailable"). */
  readiness?: IntakeReadiness;
}): Promise<DeviceIngest> => {
  const { config, log, sql, devices, logger, readiness } = deps;
  // A default port already taken turns that protocol off (said loudly); a port the operator chose
  // (MQTT_WS_PORT always is) stops start-up.
  const chosen: Record<string, boolean> = {
    MQTT_PORT: config.mqtt.portExplicit,
    OSMAND_PORT: config.osmand.portExplicit,
  };
  const optional =
    <T>(name: string) =>
    (e: unknown): T | undefined => {
      if (!(e instanceof PortUnavailableError) || chosen[e.variable] !== false) throw e;
      logger.error({ err: e.message }, `${name} ingest is OFF: set ${e.variable} to a free port`);
      return undefined;
    };
  const osmand = await startOsmandIngest({ config, log, devices, logger: logger.child({ part: 'osmand' }) }).catch(
    optional<Awaited<ReturnType<typeof startOsmandIngest>>>('osmand'),
  );
  const mqtt = await startMqttIngest({ config, log, devices, readiness, logger: logger.child({ part: 'mqtt' }) })
    .catch(optional<Awaited<ReturnType<typeof startMqttIngest>>>('mqtt'))
    .catch(async (e: unknown) => {
      await osmand?.close();
      throw e;
    });
  if (!mqtt) return { mqttPort: undefined, osmandPort: osmand?.port, close: async () => osmand?.close() };
  const downlink = await startDownlink({
    log,
    sql,
    broker: mqtt.broker,
    logger,
    node: `${hostname()}:${process.pid}`,
    deviceIdOf: mqtt.deviceIdOf,
  });
  const revocation = await startRevocation({ log, broker: mqtt.broker, devices, deviceIdOf: mqtt.deviceIdOf, logger });
  logger.info({ port: mqtt.port }, 'mqtt listening');
  return {
    mqttPort: mqtt.port,
    osmandPort: osmand?.port,
    close: async () => {
      await osmand?.close();
      await revocation.close();
      await downlink.close();
      await mqtt.close();
    },
  };
};
