import type { EventLog } from '../core/eventlog/port.js';
import { resumingFollow } from '../core/eventlog/resumingFollow.js';
import type { Logger } from '../core/logger.js';
import { unhandledEvent } from '../schemas/events/define.js';
import { type DeviceEvent, deviceEvents } from '../schemas/events/device.js';

/** Registry changes that must end a device's sessions at once (audit events of the API and the CLI). */
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

export interface DeviceChange {
  deviceId: string;
  type: DeviceEvent['type'];
  /** The device was disabled or got a new token: its open sessions must end. */
  revoking: boolean;
}

/**
 * Follows the registry's audit events on `evt.device.>` from now on (from any process, thread or
 * the CLI, through the log) and reports each change. Every session holder (MQTT, the driver
 * WebSocket) follows on its own, so a revoked token stops working everywhere within the log's
 * delivery time, not at the next reconnect. `ready` resolves once following has begun.
 */
export const followDeviceChanges = (opts: {
  log: EventLog;
  logger: Logger;
  onChange(change: DeviceChange): void;
}): { ready: Promise<void>; close(): Promise<void> } => {
  const abort = new AbortController();
  let begin: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    begin = resolve;
  });
  const done = (async () => {
    const from = (await opts.log.lastSeq('EVENTS')) + 1;
    begin();
    // Resumes after a log failure from where it was: a revocation meanwhile is not skipped.
    await resumingFollow(
      opts.log,
      'EVENTS',
      { fromSeq: from, filterSubject: 'evt.device.>', signal: abort.signal, logger: opts.logger, what: 'device changes' },
      (m) => {
        for (const e of m.events) {
          if (!deviceEvents.is(e)) continue;
          opts.onChange({ deviceId: e.data.deviceId, type: e.type, revoking: revokes(e) });
        }
      },
    );
  })().catch((err) => {
    begin();
    if (!abort.signal.aborted) opts.logger.error({ err }, 'device change follower stopped');
  });
  return {
    ready,
    async close() {
      abort.abort();
      await done;
    },
  };
};
