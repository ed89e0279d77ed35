import type { Aedes, Client } from 'aedes';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { followDeviceChanges } from '../deviceRevocations.js';

/**
 * Follows the registry's audit events: drops what this registry cached about the device, and for
 * a device that was disabled or got a new token closes its MQTT connections: a revoked token
 * stops working now, not at the next reconnect.
 */
export const startRevocation = async (opts: {
  log: EventLog;
  broker: Aedes;
  devices: { invalidate(id: string): void };
  deviceIdOf(client: Client): string | undefined;
  logger: Logger;
}) => {
  const follower = followDeviceChanges({
    log: opts.log,
    logger: opts.logger,
    onChange: ({ deviceId, type, revoking }) => {
      // Any change (a device registered or enabled elsewhere too) drops what this process cached,
      // e.g. an "unknown device" remembered from a connect attempt made before it was registered.
      opts.devices.invalidate(deviceId);
      if (!revoking) return;
      // `clients` (client id → Client) is Aedes' own registry; its typings leave it out.
      const connected = (opts.broker as unknown as { clients: Record<string, Client> }).clients;
      const clients = Object.values(connected).filter((c) => opts.deviceIdOf(c) === deviceId);
      for (const c of clients) c.close();
      if (clients.length) opts.logger.info({ deviceId, reason: type, closed: clients.length }, 'device sessions closed');
    },
  });
  await follower.ready;
  return { close: () => follower.close() };
};
