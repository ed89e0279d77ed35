import type { Aedes, Client } from 'aedes';
import type { EventLog } from '../../core/eventlog/port.js';
import type { Logger } from '../../core/logger.js';
import { unhandledEvent } from '../../schemas/events/define.js';
import { type DeviceEvent, deviceEvents } from '../../schemas/events/device.js';

/** Registry changes that must end a device's sessions at once. */
const revokes = (e: DeviceEvent): boolean => {
  switch (e.type) {
    case 'device.disabled':
    case 'device.token_rotated':
      return true;
    case 'device.registered':
    case 'device.enabled':
      return false;
    default:
      return unhandledEvent(e);
  }
};

/**
 * Follows the registry's audit events (from any process or thread, through the log): drops what
 * this registry cached about the device, and for a device that was disabled or got a new token
 * closes its connections: a revoked token stops working now, not at the next reconnect.
 */
export const startRevocation = async (opts: {
  log: EventLog;
  broker: Aedes;
  devices: { invalidate(id: string): void };
  deviceIdOf(client: Client): string | undefined;
  logger: Logger;
}) => {
  const abort = new AbortController();
  const from = (await opts.log.lastSeq('EVENTS')) + 1;
  const done = (async () => {
    for await (const m of opts.log.follow('EVENTS', { fromSeq: from, filterSubject: 'evt.device.>', signal: abort.signal })) {
      for (const e of m.events) {
        if (!deviceEvents.is(e)) continue;
        const deviceId = e.data.deviceId;
        // Any change (a device registered or enabled elsewhere too) drops what this process cached,
        // e.g. an "unknown device" remembered from a connect attempt made before it was registered.
        opts.devices.invalidate(deviceId);
        if (!revokes(e)) continue;
        // `clients` (client id → Client) is Aedes' own registry; its typings leave it out.
        const connected = (opts.broker as unknown as { clients: Record<string, Client> }).clients;
        const clients = Object.values(connected).filter((c) => opts.deviceIdOf(c) === deviceId);
        for (const c of clients) c.close();
        if (clients.length) opts.logger.info({ deviceId, reason: e.type, closed: clients.length }, 'device sessions closed');
      }
    }
  })().catch((err) => {
    if (!abort.signal.aborted) opts.logger.error({ err }, 'revocation follower stopped');
  });
  return {
    async close() {
      abort.abort();
      await done;
    },
  };
};
