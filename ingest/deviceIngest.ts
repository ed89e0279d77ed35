import { hostname } from 'node:os';
import type { Config } from '../core/config.js';
import type { DeviceRegistry } from '../core/devices/registry.js';
import type { EventLog } from '../core/eventlog/port.js';
import type { Logger } from '../core/logger.js';
import type { Sql } from '../core/stores/postgres.js';
import { isGatewayError } from '../schemas/errors.js';
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
}): Promise<DeviceIngest> => {
  const { config, log, sql, devices, logger } = deps;
  // A default port already taken turns the protocol off (said loudly); a port the operator chose stops start-up.
  const optional =
    <T>(explicit: boolean, name: string) =>
    (e: unknown): T | undefined => {
      if (explicit || !isGatewayError(e, 'GW_ERR_CONFIG')) throw e;
      logger.error({ err: (e as Error).message }, `${name} ingest is OFF: set ${name.toUpperCase()}_PORT to a free port`);
      return undefined;
    };
  const osmand = await startOsmandIngest({ config, log, devices, logger: logger.child({ part: 'osmand' }) }).catch(
    optional<Awaited<ReturnType<typeof startOsmandIngest>>>(config.osmand.portExplicit, 'osmand'),
  );
  const mqtt = await startMqttIngest({ config, log, devices, logger: logger.child({ part: 'mqtt' }) })
    .catch(optional<Awaited<ReturnType<typeof startMqttIngest>>>(config.mqtt.portExplicit, 'mqtt'))
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
